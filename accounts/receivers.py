"""What accounts does when others' signals say something happened (connected in apps.py)."""

from accounts import services


def revoke_tokens_on_new_password(sender, request, user, **kwargs) -> None:
    """allauth's password changed, reset or set: every API token of the person ends.

    Whoever learnt the old password may have made a token with it, and a token outlives
    the sessions a new password ends.
    """
    services.revoke_tokens(user=user, by=None, reason=services.CREDENTIALS_CHANGED, request=request)
