"""Writes on accounts that carry a rule."""

from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import User, UserManager


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
