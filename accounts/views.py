import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from accounts import services
from accounts.exceptions import ApiTokenRefused
from accounts.forms import ApiTokenForm
from accounts.models import ApiToken
from accounts.shown_once import ShownOnce

NEW_TOKEN = ShownOnce(cookie="fascia_new_api_token", salt="accounts.api_token.new")


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
            return NEW_TOKEN.pass_on(redirect("api_token"), secret, page=reverse("api_token"))
    tokens = list(ApiToken.objects.filter(user=request.user).select_related("revoked_by"))
    new_secret = NEW_TOKEN.read(request)
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
    return NEW_TOKEN.forget(request, response, page=reverse("api_token"))


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
