"""Writes on accounts that carry a rule."""

import datetime
import hashlib
import secrets

from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.exceptions import ApiTokenRefused
from accounts.models import ApiToken, User, UserManager
from accounts.signals import api_token_created, api_token_revoked


def find_or_invite_user(*, email: str, full_name: str, invited_to: str) -> User:
    """The user with this e-mail; a new one (no password yet) is sent an invitation.

    The invitation is a password-setting link, mailed once the caller's
    transaction commits, so a rolled-back grant sends nothing.
    """
    email = UserManager.normalize_email(email)
    user = User.objects.filter(email=email).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=None, full_name=full_name.strip())
            EmailAddress.objects.create(user=user, email=email, primary=True, verified=False)
    except IntegrityError:  # the same person, invited a moment ago by a second click
        return User.objects.get(email=email)
    transaction.on_commit(lambda: _send_invitation(user, invited_to))
    return user


def _send_invitation(user: User, invited_to: str) -> None:
    path = reverse(
        "account_reset_password_from_key",
        kwargs={
            "uidb36": user_pk_to_url_str(user),
            "key": default_token_generator.make_token(user),
        },
    )
    context = {"user": user, "invited_to": invited_to, "link": settings.FASCIA_BASE_URL + path}
    send_mail(
        subject=f"[Fascia] You have been invited to {invited_to}",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


# --- API tokens ------------------------------------------------------------------

RECOGNISABLE_START = "fascia_"
"""What every secret starts with, so a leaked one is recognised (by secret scanners too)."""
SHOWN_PREFIX_LENGTH = len(RECOGNISABLE_START) + 5
"""How much of the secret the lists show: enough to tell tokens apart, far too little to guess."""
MAX_TOKEN_DAYS = 365
CREDENTIALS_CHANGED = "password changed"
USE_RECORDED_EVERY = datetime.timedelta(minutes=1)
"""last_used_at is written at most this often per token, not on every request."""


def hash_secret(secret: str) -> str:
    """What is stored of a token's secret, and how it is looked up."""
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def create_api_token(
    *, user: User, name: str, days: int | None = None, request=None
) -> tuple[ApiToken, str]:
    """A new token for `user` and its secret, which is returned here and stored nowhere.

    It expires after `days` (FASCIA_API_TOKEN_DAYS unless given, at most MAX_TOKEN_DAYS).
    Two tokens of one person that are not revoked never share a name: a second click on
    "Create" is refused by the database's unique index, however close the two come.
    """
    name = " ".join(name.split())
    if not name:
        raise ApiTokenRefused(
            "Name: give the token a name that says what uses it, e.g. “Reporting script”.",
            field="name",
        )
    if len(name) > ApiToken._meta.get_field("name").max_length:
        raise ApiTokenRefused("Name: use at most 100 characters.", field="name")
    days = settings.FASCIA_API_TOKEN_DAYS if days is None else days
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ApiTokenRefused(
            f"Expires after: choose between 1 and {MAX_TOKEN_DAYS} days.", field="days"
        )
    now = timezone.now()
    # An expired token holds its name until it is revoked; a new token may take it over.
    for expired in ApiToken.objects.filter(
        user=user, name=name, revoked_at__isnull=True, expires_at__lte=now
    ):
        revoke_api_token(
            token=expired, by=user, reason="expired; a new token took its name", request=request
        )
    secret = RECOGNISABLE_START + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user,
                name=name,
                secret_hash=hash_secret(secret),
                prefix=secret[:SHOWN_PREFIX_LENGTH],
                created_at=now,
                expires_at=now + datetime.timedelta(days=days),
            )
    except IntegrityError as error:
        constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
        if constraint != "api_token_name_once_per_user":
            raise
        raise ApiTokenRefused(
            f"Name: you already have a token named “{name}” (perhaps made a moment ago). "
            "Choose another name, or revoke that token first.",
            field="name",
        ) from None
    transaction.on_commit(
        lambda: api_token_created.send(sender=ApiToken, request=request, token=token)
    )
    return token, secret


@transaction.atomic
def revoke_api_token(*, token: ApiToken, by: User | None, reason: str, request=None) -> bool:
    """Revoke one token. False when it was revoked already (a second click): nothing changes."""
    now = timezone.now()
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=by, revoke_reason=reason
    )
    if not revoked:
        return False
    token.revoked_at, token.revoked_by, token.revoke_reason = now, by, reason
    _send_revoked(token, by=by, reason=reason, request=request)
    return True


@transaction.atomic
def revoke_tokens(*, user: User, by: User | None, reason: str, request=None) -> int:
    """Revoke every active token of `user` (after a password change, say); how many were."""
    now = timezone.now()
    tokens = list(ApiToken.objects.active().filter(user=user).select_for_update())
    ApiToken.objects.filter(pk__in=[token.pk for token in tokens]).update(
        revoked_at=now, revoked_by=by, revoke_reason=reason
    )
    for token in tokens:
        token.revoked_at, token.revoked_by, token.revoke_reason = now, by, reason
        _send_revoked(token, by=by, reason=reason, request=request)
    return len(tokens)


def _send_revoked(token: ApiToken, *, by: User | None, reason: str, request) -> None:
    transaction.on_commit(
        lambda: api_token_revoked.send(
            sender=ApiToken, request=request, token=token, by=by, reason=reason
        )
    )


def record_api_token_use(*, token: ApiToken, at: datetime.datetime) -> None:
    """Note that `token` was used: at most one conditional UPDATE a minute per token,
    however many requests or processes use it, and none while the last note is fresh."""
    if token.last_used_at is not None and token.last_used_at > at - USE_RECORDED_EVERY:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=at - USE_RECORDED_EVERY)
    ).update(last_used_at=at)
    token.last_used_at = at
