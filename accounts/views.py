import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from accounts import services
from accounts.exceptions import ApiTokenRefused
from accounts.forms import ApiTokenForm
from accounts.models import ApiToken

# The new secret crosses the redirect in a signed cookie for this page alone, read and
# deleted by the next GET: it is never written to the database, not even to the session.
SHOWN_ONCE_COOKIE = "fascia_new_api_token"
SHOWN_ONCE_SALT = "accounts.api_token.new"
SHOWN_ONCE_SECONDS = 300


@never_cache
@login_required
def api_token(request):
    """The person's own API tokens: listed, made (the secret shown once) and revoked.

    Reached after a full login with two-factor authentication (clinics.middleware).
    """
    if request.method == "POST" and request.POST.get("action") == "revoke":
        return _revoke(request)
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            _token, secret = services.create_api_token(
                user=request.user,
                name=form.cleaned_data["name"],
                days=form.cleaned_data["days"],
                request=request,
            )
        except ApiTokenRefused as refusal:
            form.add_error(refusal.field, refusal.message)
        else:
            response = redirect("api_token")
            response.set_signed_cookie(
                SHOWN_ONCE_COOKIE,
                secret,
                salt=SHOWN_ONCE_SALT,
                max_age=SHOWN_ONCE_SECONDS,
                path=reverse("api_token"),
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Strict",
            )
            return response
    tokens = list(ApiToken.objects.filter(user=request.user).select_related("revoked_by"))
    new_secret = _new_secret(request)
    new_hash = services.hash_secret(new_secret) if new_secret else None
    response = render(
        request,
        "accounts/api_token.html",
        {
            "form": form,
            "tokens": tokens,
            "new_secret": new_secret,
            "new_token": next((t for t in tokens if t.secret_hash == new_hash), None),
            "max_days": services.MAX_TOKEN_DAYS,
        },
    )
    if SHOWN_ONCE_COOKIE in request.COOKIES:
        response.delete_cookie(SHOWN_ONCE_COOKIE, path=reverse("api_token"), samesite="Strict")
    return response


def _revoke(request):
    try:
        token_id = uuid.UUID(request.POST.get("token", ""))
    except ValueError:
        raise Http404("No such token.") from None
    token = get_object_or_404(ApiToken.objects.filter(user=request.user), pk=token_id)
    if services.revoke_api_token(
        token=token, by=request.user, reason="revoked by its owner", request=request
    ):
        messages.success(request, f"The token “{token.name}” was revoked: it no longer works.")
    else:
        messages.info(request, f"The token “{token.name}” was already revoked.")
    return redirect("api_token")


def _new_secret(request) -> str | None:
    if request.method != "GET":
        return None
    try:
        return request.get_signed_cookie(
            SHOWN_ONCE_COOKIE, salt=SHOWN_ONCE_SALT, max_age=SHOWN_ONCE_SECONDS
        )
    except (KeyError, signing.BadSignature):
        return None
