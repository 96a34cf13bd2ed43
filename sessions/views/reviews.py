"""Safety pages: the needle-lot recall (its list, spreadsheet and notices), and the
organisation admins' adverse-event reviews."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from clinics import access
from clinics.exceptions import FasciaError
from patients.models import ReadVia, RecordPart
from patients.services import record_reads
from patients.views.scope import refuse, staff_page
from sessions import recall_export, selectors, services
from sessions.exceptions import NotPermitted
from sessions.forms import ReviewForm
from sessions.models import (
    AdverseEvent,
    AdverseEventReview,
    NeedleSite,
    RecallNotice,
)
from sessions.models.recall import QUEUED_TOO_LONG

NO_RECALL = "The needle-lot recall is for clinical staff."
RECALL_PAGE_SIZE = 50
"""Patients shown a page: a lot can reach hundreds, each with their sessions and sites."""


def _recall_of(request, lot: str) -> list[selectors.RecallPatient]:
    """The recall of `lot` as the user may see it; each patient on it is a read of their chart."""
    patients = selectors.recall_patients(request.user, lot) if lot else []
    _read(request, patients)
    return patients


def _read(request, shown: list[selectors.RecallPatient]) -> None:
    record_reads(
        reader=request.user,
        patients=[item.patient for item in shown],
        part=RecordPart.CHART,
        via=ReadVia.PAGE,
    )


@staff_page
def recall(request):
    """Every patient needled with a lot, their sessions and sites beneath: for a recall."""
    if not access.may_use(request.user, NeedleSite, "view"):
        return refuse(request, NO_RECALL)
    lot = selectors.lot_key(request.GET.get("lot", ""))
    patients = selectors.recalled(request.user, lot)
    # The counts and the notify button cover the whole lot; the rows, with their sessions
    # and sites, a page of patients (each a read of their chart). A lot of 36,000 sites
    # took 21 seconds built and drawn whole.
    page = Paginator(patients, RECALL_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = selectors.with_sessions(request.user, lot, list(page.object_list))
    _read(request, page.object_list)
    return render(
        request,
        "sessions/recall.html",
        {
            "lot": lot,
            "patients": patients,
            "page": page,
            "site_count": selectors.site_count(request.user, lot) if patients else 0,
            "to_notify": [item for item in patients if item.to_notify],
            "queued_too_long": int(QUEUED_TOO_LONG.total_seconds() // 60),
            "to_call": [item for item in patients if item.call_instead],
            "may_send": access.may_use(request.user, RecallNotice, "add"),
        },
    )


@staff_page
def recall_csv(request):
    """The recall as a spreadsheet, one line per patient (sessions.recall_export)."""
    if not access.may_use(request.user, NeedleSite, "view"):
        return refuse(request, NO_RECALL)
    lot = selectors.lot_key(request.GET.get("lot", ""))
    if not lot:
        messages.error(request, "Give the lot number to download its recall.")
        return redirect("sessions:recall")
    response = HttpResponse(
        recall_export.as_csv(_recall_of(request, lot)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{recall_export.filename(lot)}"'
    return response


@staff_page
def recall_notify(request):
    """E-mail the recall notice to every patient of the lot not yet sent one (or one of them)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    lot = selectors.lot_key(request.POST.get("lot", ""))
    try:
        outcome = services.notify_recall(
            lot_number=lot, by=request.user, patients=request.POST.getlist("patient") or None
        )
    except NotPermitted as error:
        return refuse(request, error.message)
    except FasciaError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, outcome.message)
    return redirect(f"{reverse('sessions:recall')}?{urlencode({'lot': lot})}")


@staff_page
def review_list(request):
    if not access.may_use(request.user, AdverseEventReview, "add"):
        return refuse(request, "Organisation admins review adverse events.")
    events = list(selectors.adverse_events_to_review(request.user))
    record_reads(
        reader=request.user,
        patients=[event.session.patient for event in events],
        part=RecordPart.CHART,
        via=ReadVia.PAGE,
    )
    return render(
        request,
        "sessions/reviews.html",
        {"events": [(event, ReviewForm(prefix=str(event.pk))) for event in events]},
    )


@staff_page
def review(request, event_id):
    event = get_object_or_404(
        access.visible_to(request.user, AdverseEvent.objects.all()), pk=event_id
    )
    if request.method != "POST":  # after the lookup: an event elsewhere is 404 whatever the method
        return HttpResponseNotAllowed(["POST"])
    form = ReviewForm(request.POST, prefix=str(event.pk))
    if form.is_valid():
        try:
            services.review_adverse_event(
                event=event, by=request.user, note=form.cleaned_data["note"]
            )
        except FasciaError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Review recorded.")
    else:
        messages.error(request, "Write what the review found and decided.")
    return redirect("sessions:reviews")
