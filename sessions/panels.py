"""The patient page's sessions section: upcoming and past sessions, and the pain progress chart."""

from django.template.loader import render_to_string
from django.utils import timezone

from clinics import access
from patients.models import ReadVia, RecordPart
from patients.services import record_read
from sessions import selectors
from sessions.models import Status, TreatmentSession
from sessions.progress import progress_chart, with_follow_up


def sessions_panel(request, patient) -> str:
    user = request.user
    if not access.may_use(user, TreatmentSession, "view"):
        return ""
    sessions = list(
        access.visible_to(
            user,
            TreatmentSession.objects.filter(patient=patient).select_related("therapist", "clinic"),
        ).order_by("-starts_at")[:50]
    )
    now = timezone.now()
    upcoming = [s for s in reversed(sessions) if s.starts_at >= now and s.status == Status.BOOKED]
    past = [s for s in sessions if s not in upcoming]
    may_book = (
        access.clinics_for(user, TreatmentSession, "add")
        .filter(organization=patient.organization, is_active=True)
        .exists()
    )
    progress = progress_chart(*with_follow_up(user, selectors.pain_progress(user, patient)))
    if progress is not None:  # pain scores are part of the charts
        record_read(reader=user, patient=patient, part=RecordPart.CHART, via=ReadVia.PAGE)
    return render_to_string(
        "sessions/patient_panel.html",
        {
            "patient": patient,
            "upcoming": upcoming,
            "past": past[:10],
            "may_book": may_book,
            "progress": progress,
        },
        request=request,
    )


def portal_panel(request, patient) -> str:
    """The portal's list of the patient's own sessions: upcoming first, then the past ones."""
    sessions = list(
        access.visible_to(
            request.user,
            TreatmentSession.objects.filter(patient=patient, patient__user=request.user),
        )
        .select_related("therapist", "clinic")
        .order_by("-starts_at")[:30]
    )
    if not sessions:
        return ""
    now = timezone.now()
    upcoming = [s for s in reversed(sessions) if s.starts_at >= now and s.status == Status.BOOKED]
    return render_to_string(
        "sessions/portal_panel.html",
        {"upcoming": upcoming, "past": [s for s in sessions if s not in upcoming][:10]},
        request=request,
    )
