"""Sessions' part of "before the needle" (patients.safety): adverse events under review.

A suspected pneumothorax waits for an organisation admin's review; until it is
done it is a line wherever the patient's session is opened, and no session of
the patient starts.
"""

from django.db.models import Exists, OuterRef
from django.urls import reverse

from clinics import access
from patients.safety import Blocker, Kind, Notice
from sessions.clock import as_read
from sessions.models import REVIEWED_KINDS, AdverseEvent, AdverseEventReview


def _awaiting_review(**rows):
    return AdverseEvent.objects.filter(
        kind__in=REVIEWED_KINDS, needs_review=True, review__isnull=True, **rows
    ).select_related("session__clinic")


def events_under_review(user, patients) -> dict:
    """{patient id: [Notice, ...]}: serious adverse events `user` may see, not yet reviewed."""
    # One query: each event, and whether `user` may see it (the access rules, as a subquery).
    # One they may not see (the front desk; another site's) still stops the start: say that
    # much, without what it was.
    awaiting = (
        _awaiting_review(
            organization_id__in={patient.organization_id for patient in patients},
            session__patient_id__any_of=patients.ids,
        )
        .annotate(
            seen=Exists(access.visible_to(user, AdverseEvent.objects.filter(pk=OuterRef("pk"))))
        )
        .order_by("recorded_at")
    )
    events, unseen = [], {}
    for event in awaiting:
        if event.seen:
            events.append(event)
        else:
            unseen.setdefault(event.session.patient_id, event)
    reviews = access.may_use(user, AdverseEventReview, "add")
    shown: dict = {}
    for patient_id in unseen:
        shown.setdefault(patient_id, []).append(
            Notice(
                Kind.ADVERSE_EVENT,
                "danger",
                "Needling waits for an organisation admin's safety review: see the therapist.",
                "Safety review open",
            )
        )
    for event in events:
        url, link_text = (
            (reverse("sessions:reviews"), "Review it")
            if reviews
            else (
                reverse("sessions:detail", args=[event.session_id]) + "#adverse-events",
                "See the session",
            )
        )
        shown.setdefault(event.session.patient_id, []).append(
            Notice(
                Kind.ADVERSE_EVENT,
                "danger",
                f"{event.get_kind_display()} recorded after the session of "
                f"{as_read(event.session.starts_at, event.session.clinic.zone)} at "
                f"{event.session.clinic.name}: awaiting an organisation admin's review.",
                "Adverse event under review",
                url,
                link_text,
            )
        )
    return shown


def unreviewed_events(patient, therapist) -> list[Blocker]:
    """A session does not start while a serious adverse event of the patient awaits review."""
    blockers = []
    for event in _awaiting_review(
        organization_id=patient.organization_id, session__patient=patient
    ).order_by("recorded_at"):
        session = event.session
        seen = access.can(therapist, "view", session)
        blockers.append(
            Blocker(
                f"A {event.get_kind_display().lower()} recorded after the session of "
                f"{as_read(session.starts_at, session.clinic.zone)} at {session.clinic.name} "
                "awaits an organisation admin's review: needling waits for it.",
                reverse("sessions:detail", args=[session.pk]) + "#adverse-events" if seen else "",
                "See the session" if seen else "",
            )
        )
    return blockers
