"""The patient page's sessions section: upcoming and past sessions, and the pain progress chart."""

from django.template.loader import render_to_string
from django.utils import timezone

from clinics import access
from patients.models import ReadVia, RecordPart
from patients.services import record_read
from sessions import selectors
from sessions.models import Status, TreatmentSession
from sessions.progress import progress_chart, with_follow_up
from sessions.services import online


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
    """The portal's list of the patient's own sessions: upcoming first, each with Move (where
    it can be moved online) and Cancel, then the past ones; and Book a session, where the
    organisation books some types online."""
    sessions = list(online.own_sessions(request.user, patient).order_by("-starts_at")[:30])
    books_online = bool(online.online_types(patient.organization))
    if not sessions and not books_online:
        return ""
    now = timezone.now()
    upcoming = [s for s in reversed(sessions) if s.starts_at >= now and s.status == Status.BOOKED]
    window = online.window_of(patient.organization) if upcoming else None
    return render_to_string(
        "sessions/portal_panel.html",
        {
            "upcoming": [(s, not online.move_refusal(s, window=window)) for s in upcoming],
            "past": [s for s in sessions if s not in upcoming][:10],
            "books_online": books_online,
            "clinic": patient.home_clinic,
            "notice_hours": window.notice_hours if window else None,
        },
        request=request,
    )
