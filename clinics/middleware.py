from django.shortcuts import redirect

from clinics import access

# Pages a person who still owes MFA may reach: the account pages (where MFA is
# set up, and logout), static files, the health check, and the API (which
# answers its own 403 with a message).
EXEMPT_PREFIXES = ("/accounts/", "/static/", "/healthz", "/api/")
# ...but not the API token page: a token never asks for a second factor.
NOT_EXEMPT = ("/accounts/api-token/",)


class StaffMfaRequiredMiddleware:
    """Send staff without two-factor authentication to set it up (FASCIA_REQUIRE_STAFF_MFA)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.user.is_authenticated
            and (
                not request.path.startswith(EXEMPT_PREFIXES) or request.path.startswith(NOT_EXEMPT)
            )
            and access.mfa_outstanding(request.user)
        ):
            return redirect("mfa_activate_totp")
        return self.get_response(request)


class RememberAccessMiddleware:
    """Each request asks `access.can` each question of the database once (see
    `access.answers_remembered`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with access.answers_remembered():
            return self.get_response(request)
