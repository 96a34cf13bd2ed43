from allauth.core import context
from allauth.mfa.base.forms import AuthenticateForm
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.services import MAX_TOKEN_DAYS
from accounts.signals import login_locked_out


class ApiTokenForm(forms.Form):
    """A new API token: what it is for, and how long it lives."""

    name = forms.CharField(
        max_length=100,
        help_text="What will use it, e.g. “Reporting script”. Each token has its own name.",
    )
    days = forms.IntegerField(
        label="Expires after (days)",
        min_value=1,
        max_value=MAX_TOKEN_DAYS,
        help_text=f"From 1 to {MAX_TOKEN_DAYS} days. Make a new token when it ends.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = settings.FASCIA_API_TOKEN_DAYS


class TwoFactorCodeForm(AuthenticateForm):
    """allauth's code step at login, telling the security log when it refuses a code
    because too many were wrong (allauth's own limit, per account)."""

    def clean_code(self) -> str:
        try:
            return super().clean_code()
        except ValidationError as refusal:
            if refusal.code == "too_many_login_attempts":
                login_locked_out.send(
                    sender=type(self.user),
                    request=context.request,
                    email=self.user.email,
                    step="two_factor",
                )
            raise
