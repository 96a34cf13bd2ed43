import uuid
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from clinics import access, security_log, selectors
from clinics.models import Clinic, Membership, Role, SecurityEvent
from clinics.spreadsheet import streamed_csv


@login_required
def clinic_list(request):
    if not access.holds_role(request.user, access.MANAGERS) and not access.is_platform_operator(
        request.user
    ):
        raise Http404("No such page.")
    clinics = selectors.clinics_with_team_size(request.user).order_by("organization__name", "name")
    return render(
        request,
        "clinics/clinic_list.html",
        {
            "clinics": clinics,
            "can_add_clinic": access.may_use(request.user, Clinic, "add"),
            "can_manage_staff": access.may_use(request.user, Membership, "add"),
            "can_read_security_log": access.may_use(request.user, SecurityEvent, "view"),
            # The list is the patients app's page (its model); the access module says who reads it.
            "can_review_emergency_access": access.may_review_emergency_access(request.user),
            "can_manage_api_tokens": access.manages_api_tokens(request.user),
            "credentials_to_renew": selectors.credentials_to_renew(request.user),
            "credential_notice_days": selectors.CREDENTIAL_NOTICE.days,
        },
    )


@login_required
def clinic_detail(request, clinic_id):
    clinic = get_object_or_404(
        access.visible_to(request.user, Clinic.objects.select_related("organization")),
        pk=clinic_id,
    )
    team = selectors.team_of(request.user, clinic)
    return render(
        request,
        "clinics/clinic_detail.html",
        {
            "clinic": clinic,
            "team": team,
            "local_time": timezone.localtime(timezone=clinic.zone),
            "can_change": access.can(request.user, "change", clinic),
            "roles": Role,
        },
    )


@login_required
@require_POST
def switch_clinic(request):
    """The header's clinic switcher: remember the chosen clinic, go back where the user was."""
    try:
        clinic_id = uuid.UUID(request.POST.get("clinic", ""))
    except ValueError:
        raise Http404("No such clinic.") from None
    clinic = get_object_or_404(selectors.clinics_of(request.user), pk=clinic_id)
    request.session[selectors.SESSION_KEY] = str(clinic.pk)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    if not next_url or _is_clinic_page(next_url):
        # From a clinic's own page, switching shows the chosen clinic's page.
        return redirect("clinics:detail", clinic_id=clinic.pk)
    return redirect(next_url)


def _is_clinic_page(url: str) -> bool:
    try:
        return resolve(urlsplit(url).path).view_name == "clinics:detail"
    except Resolver404:
        return False


SECURITY_LOG_PAGE_SIZE = 50


@login_required
def security_log_page(request):
    """The organisation's security events, filtered; `?format=csv` downloads them all."""
    if not access.may_use(request.user, SecurityEvent, "view"):
        raise Http404("No such page.")
    found = security_log.SecurityEventFilter(
        request.GET, queryset=security_log.events_visible_to(request.user)
    )
    events = found.qs if found.is_valid() else found.queryset.none()
    if request.GET.get("format") == "csv" and found.is_valid():
        stamp = timezone.now().strftime("%Y-%m-%d")
        return streamed_csv(security_log.as_csv_rows(events), filename=f"security-log-{stamp}.csv")
    page = Paginator(events, SECURITY_LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "clinics/security_log.html",
        {"filter": found, "page": page, "query": query.urlencode()},
    )
