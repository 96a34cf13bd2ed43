"""The clinic's check-in alerts: the list, one alert, acknowledging and resolving it."""

from functools import wraps

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from aftercare import selectors, services
from aftercare.forms import AcknowledgeForm, ResolveForm, show_refusal
from aftercare.models import Alert, AlertLevel
from clinics import access
from clinics.exceptions import FasciaError, NotPermitted
from patients.models import ReadVia, RecordPart
from patients.services import record_read, record_reads_of
from patients.views.scope import refuse, staff_page


@staff_page
def alert_list(request):
    """The open alerts of every site the user sees, in one list (urgent first); `?clinic=`
    narrows it to one of those sites."""
    if not access.may_use(request.user, Alert, "view"):
        return refuse(request, "Check-in alerts are for the clinic's staff.")
    sites = selectors.alert_sites(request.user)
    chosen = request.GET.get("clinic", "")
    site = next((site for site in sites if str(site.pk) == chosen), None)
    if chosen and site is None:
        raise Http404("No such site among yours.")
    alerts = list(selectors.alerts_of(request.user, site)) if sites else []
    record_reads_of(reader=request.user, rows=alerts, part=RecordPart.LIST, via=ReadVia.PAGE)
    return render(
        request,
        "aftercare/alert_list.html",
        {
            "sites": sites,
            "site": site,
            "open_alerts": [alert for alert in alerts if alert.is_open],
            "resolved_alerts": [alert for alert in alerts if not alert.is_open],
            "resolved_days": selectors.RESOLVED_SHOWN_FOR.days,
        },
    )


def alert_page(view):
    """A page of one alert: `alert_id` becomes `alert`, among those the user may see.

    An alert elsewhere answers 404 before anything else, even a wrong method.
    """

    @staff_page
    @wraps(view)
    def page(request, alert_id):
        alerts = Alert.objects.select_related(
            "patient",
            "clinic",
            "therapist",
            "session",
            "check_in",
            "acknowledged_by",
            "resolved_by",
        )
        return view(
            request, get_object_or_404(access.visible_to(request.user, alerts), pk=alert_id)
        )

    return page


@alert_page
@require_safe
def alert_detail(request, alert: Alert):
    return _show(request, alert)


def _show(request, alert: Alert, *, acknowledge_form=None, resolve_form=None, status=200):
    view = selectors.alert_view(request.user, alert)
    noted_by_you = (
        alert.acknowledged_at is not None
        and alert.notes.acknowledged_with_a_note_by(request.user).exists()
    )
    if view.answer is not None or view.red_flags:
        record_read(
            reader=request.user,
            patient=alert.patient,
            part=RecordPart.CHECK_IN,
            via=ReadVia.PAGE,
            item=view.answer,
        )
    return render(
        request,
        "aftercare/alert_detail.html",
        {
            "alert": alert,
            "view": view,
            "acknowledge_form": acknowledge_form or AcknowledgeForm(),
            "resolve_form": resolve_form or ResolveForm(),
            "noted_by_you": noted_by_you,
            "next": _next(request),
        },
        status=status,
    )


@alert_page
@require_POST
def acknowledge(request, alert: Alert):
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        try:
            services.acknowledge_alert(alert=alert, by=request.user, note=form.cleaned_data["note"])
        except NotPermitted as error:
            return refuse(request, error.message)
        except FasciaError as error:
            show_refusal(form, error)
        else:
            escalating = alert.level == AlertLevel.URGENT and alert.escalated_at is None
            messages.success(
                request,
                "Acknowledged: the escalation clock has stopped."
                if escalating
                else "Acknowledged.",
            )
            return redirect(_next(request) or reverse("aftercare:alert", args=[alert.pk]))
    return _show(request, alert, acknowledge_form=form, status=400)


def _next(request) -> str:
    """Where to go once acknowledged: the page that sent the user here (a session's start
    gate), if it is one of Fascia's own."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


@alert_page
@require_POST
def resolve(request, alert: Alert):
    form = ResolveForm(request.POST)
    if form.is_valid():
        try:
            services.resolve_alert(alert=alert, by=request.user, note=form.cleaned_data["note"])
        except NotPermitted as error:
            return refuse(request, error.message)
        except FasciaError as error:
            show_refusal(form, error)
        else:
            messages.success(request, "Alert resolved.")
            return redirect("aftercare:alerts")
    return _show(request, alert, resolve_form=form, status=400)
