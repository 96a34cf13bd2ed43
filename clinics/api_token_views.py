"""Organisation admins see and revoke the personal API tokens of their staff."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import services as account_services
from accounts.models import ApiToken
from clinics import access

PAGE_SIZE = 50
REASON_LENGTH = 150


def _managed_tokens(request):
    if not access.manages_api_tokens(request.user):  # to anyone else the page is not there
        raise Http404("No such page.")
    return access.api_tokens_managed_by(
        request.user, ApiToken.objects.select_related("user", "revoked_by")
    )


@login_required
def staff_api_tokens(request):
    """Every API token of the organisation's people: active ones, or (?show=all) all."""
    tokens = _managed_tokens(request)
    show_all = request.GET.get("show") == "all"
    if not show_all:
        tokens = tokens.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
    page = Paginator(tokens.order_by("user__full_name", "user__email", "-created_at"), PAGE_SIZE)
    return render(
        request,
        "clinics/staff_api_tokens.html",
        {"page": page.get_page(request.GET.get("page")), "show_all": show_all},
    )


@login_required
@require_POST
def revoke_staff_api_token(request, token_id):
    token = get_object_or_404(_managed_tokens(request), pk=token_id)
    said = " ".join(request.POST.get("reason", "").split())[:REASON_LENGTH]
    reason = "revoked by an organisation admin" + (f": {said}" if said else "")
    owner = token.user.get_full_name()
    if account_services.revoke_api_token(
        token=token, by=request.user, reason=reason, request=request
    ):
        messages.success(request, f"{owner}'s token “{token.name}” was revoked.")
    else:
        messages.info(request, f"{owner}'s token “{token.name}” was already revoked.")
    return redirect("clinics:api_tokens")
