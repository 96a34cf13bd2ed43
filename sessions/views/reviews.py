"""Safety pages: the needle-lot recall, and the organisation admins' adverse-event reviews."""

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render

from clinics import access
from clinics.exceptions import FasciaError
from patients.models import ReadVia, RecordPart
from patients.services import record_reads
from patients.views.scope import refuse, staff_page
from sessions import selectors, services
from sessions.forms import ReviewForm
from sessions.models import AdverseEvent, AdverseEventReview, NeedleSite


@staff_page
def recall(request):
    """Every patient and session needled with a lot: for a manufacturer's recall."""
    if not access.may_use(request.user, NeedleSite, "view"):
        return refuse(request, "The needle-lot recall is for clinical staff.")
    lot = " ".join(request.GET.get("lot", "").split())
    sites = list(selectors.needled_with_lot(request.user, lot)) if lot else []
    patients = {site.session.patient_id: site.session.patient for site in sites}
    record_reads(
        reader=request.user, patients=patients.values(), part=RecordPart.CHART, via=ReadVia.PAGE
    )
    return render(
        request,
        "sessions/recall.html",
        {"lot": lot.upper(), "sites": sites, "patient_count": len(patients)},
    )


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
