"""Security events that other code signals, written to the security log.

Connected in ClinicsConfig.ready(). Each receiver only records: the login, the
password change or the token it hears about has already happened.
"""

from allauth.account import signals as allauth_signals
from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals

from accounts import signals as account_signals
from clinics import access, security_log
from clinics.models import Role
from clinics.models import SecurityEventKind as Kind


def logged_in(sender, request, user, **kwargs) -> None:
    security_log.record(Kind.LOGIN, request=request, user=user)


def login_failed(sender, credentials, request=None, **kwargs) -> None:
    # allauth authenticates by "email"; Django's own forms by "username".
    email = credentials.get("email") or credentials.get("username") or ""
    security_log.record(
        Kind.LOGIN_FAILED, request=request, user=security_log.account_of(email), email=email
    )


LOGOUT_REASONS = {"idle": "after the idle time-out", "expired": "at the end of the 12 hours"}
"""Why Fascia logged someone out (config/idle_timeout.py sets request.fascia_logout_reason)."""


def logged_out(sender, request, user, **kwargs) -> None:
    if user is None:  # the session had already ended
        return
    why = getattr(request, "fascia_logout_reason", "")
    detail = LOGOUT_REASONS.get(why, "")
    security_log.record(Kind.LOGOUT, request=request, user=user, detail=detail)


def locked_out(sender, request, email, step="password", **kwargs) -> None:
    security_log.record(
        Kind.LOCKED_OUT,
        request=request,
        user=security_log.account_of(email),
        email=email,
        detail="at the two-factor code" if step == "two_factor" else "",
    )


def password_event(kind: Kind):
    def receiver(sender, request, user, **kwargs) -> None:
        security_log.record(kind, request=request, user=user)

    return receiver


def password_set_by_operator(sender, user, **kwargs) -> None:
    security_log.record(
        Kind.PASSWORD_SET, user=user, detail="by the platform operator, in the admin"
    )


def mfa_failed(sender, request, user, authenticator, reauthentication=False, **kwargs) -> None:
    detail = authenticator.get_type_display()
    if reauthentication:
        detail += ", confirming a change"
    security_log.record(Kind.MFA_FAILED, request=request, user=user, detail=detail)


def mfa_event(kind: Kind):
    def receiver(sender, request, user, authenticator=None, **kwargs) -> None:
        detail = authenticator.get_type_display() if authenticator is not None else ""
        security_log.record(kind, request=request, user=user, detail=detail)

    return receiver


def token_created(sender, request, token, **kwargs) -> None:
    security_log.record(Kind.TOKEN_CREATED, request=request, user=token.user, detail=str(token))


def token_revoked(sender, token, request=None, by=None, reason="", **kwargs) -> None:
    detail = f"{token}: {reason}" if reason else str(token)
    someone_else = by if by is not None and by.pk != token.user_id else None
    organizations = access.organizations_of(token.user)
    if someone_else is not None and not access.is_platform_operator(someone_else):
        # An organisation admin's revoke is their organisation's business, not that of the
        # owner's other organisations (who would see the admin's name and address).
        organizations &= {
            grant.organization_id
            for grant in access.grants_of(someone_else)
            if grant.role == Role.ORG_ADMIN
        }
    security_log.record(
        Kind.TOKEN_REVOKED,
        request=request,
        user=token.user,
        by=someone_else,
        detail=detail,
        organizations=organizations,
    )


# Kept referenced here: Signal.connect holds receivers weakly.
RECEIVERS = [
    (auth_signals.user_logged_in, logged_in),
    (auth_signals.user_login_failed, login_failed),
    (auth_signals.user_logged_out, logged_out),
    (account_signals.login_locked_out, locked_out),
    (allauth_signals.password_changed, password_event(Kind.PASSWORD_CHANGED)),
    (allauth_signals.password_set, password_event(Kind.PASSWORD_SET)),
    (allauth_signals.password_reset, password_event(Kind.PASSWORD_RESET)),
    (account_signals.password_set_by_operator, password_set_by_operator),
    (mfa_signals.authentication_failed, mfa_failed),
    (mfa_signals.authenticator_added, mfa_event(Kind.MFA_ADDED)),
    (mfa_signals.authenticator_removed, mfa_event(Kind.MFA_REMOVED)),
    (mfa_signals.authenticator_reset, mfa_event(Kind.MFA_RESET)),
    (account_signals.api_token_created, token_created),
    (account_signals.api_token_revoked, token_revoked),
]


def connect() -> None:
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"security_log.{signal!r}.{receiver.__name__}")
