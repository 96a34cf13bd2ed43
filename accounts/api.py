import datetime

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from accounts import services
from accounts.models import ApiToken

MAKE_ANOTHER = "Make a new one on the API token page (/accounts/api-token/)."


class BearerTokenAuthentication(TokenAuthentication):
    """`Authorization: Bearer <token>`, a personal API token (accounts.ApiToken).

    The token is found by its secret's SHA-256. An unknown, expired or revoked token is a
    401 saying which, with `WWW-Authenticate: Bearer`.
    """

    keyword = "Bearer"
    model = ApiToken

    def authenticate_credentials(self, key):
        token = (
            ApiToken.objects.select_related("user")
            .filter(secret_hash=services.hash_secret(key))
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed(
                f"This API token is not known: check that it was copied whole. {MAKE_ANOTHER}"
            )
        now = timezone.now()
        if token.revoked_at is not None:
            reason = f" ({token.revoke_reason})" if token.revoke_reason else ""
            raise exceptions.AuthenticationFailed(
                f"This API token was revoked on {_utc(token.revoked_at)}{reason}. {MAKE_ANOTHER}"
            )
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed(
                f"This API token expired on {_utc(token.expires_at)}. {MAKE_ANOTHER}"
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The account of this API token is deactivated.")
        services.record_api_token_use(token=token, at=now)
        return token.user, token


def _utc(moment: datetime.datetime) -> str:
    return f"{moment.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC"
