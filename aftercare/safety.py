"""Aftercare's part of "before the needle" (patients.safety): open check-in alerts.

Every open alert is a line wherever the patient's session is opened, urgent
first. An urgent one also stops a session from starting until its therapist
has acknowledged it with a note (or someone resolved it): whoever needles next
must have read what the patient reported.
"""

from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from aftercare.models import URGENT_FIRST, Alert, AlertLevel, AlertNote
from clinics import access
from patients.safety import Blocker, Kind, Notice
from sessions.clock import as_read


def open_alerts(user, patients) -> dict:
    """{patient id: [Notice, ...]}: the open alerts `user` may see, and the urgent ones they
    may not, in one query (whether they may is the access rules, as a subquery)."""
    alerts = (
        Alert.objects.filter(
            organization_id__in={patient.organization_id for patient in patients},
            patient_id__any_of=patients.ids,
            resolved_at__isnull=True,
            raised_at__lte=timezone.now(),
        )
        .annotate(seen=Exists(access.visible_to(user, Alert.objects.filter(pk=OuterRef("pk")))))
        .filter(Q(seen=True) | Q(level=AlertLevel.URGENT))
        .select_related("clinic", "check_in", "acknowledged_by")
        .order_by(URGENT_FIRST, "-raised_at")
    )
    shown: dict = {}
    unseen = {}
    for alert in alerts:
        if alert.seen:
            shown.setdefault(alert.patient_id, []).append(_notice(alert))
        else:
            unseen.setdefault((alert.patient_id, alert.clinic.name), alert)
    # An urgent alert `user` may not see (another site's) still stops the start: say
    # that much, so that no list reads "Ready" for a session that will be refused.
    for patient_id, clinic_name in unseen:
        shown.setdefault(patient_id, []).append(
            Notice(
                Kind.ALERT,
                "danger",
                f"An urgent alert is open at {clinic_name}: needling waits until its staff "
                "have seen to it.",
                "Open alert",
            )
        )
    return shown


def _notice(alert: Alert) -> Notice:
    urgent = alert.level == AlertLevel.URGENT
    raised = as_read(alert.raised_at, alert.clinic.zone)
    if alert.acknowledged_at is None:
        state = "not acknowledged yet"
    else:
        state = f"acknowledged by {alert.acknowledged_by.get_full_name()}"
    return Notice(
        Kind.ALERT,
        "danger" if urgent else "warning",
        f"{'Urgent alert' if urgent else 'Alert'} from the {alert.check_in.hours_after} h "
        f"check-in, raised {raised} at {alert.clinic.name}: {state}.",
        "Open alert",
        reverse("aftercare:alert", args=[alert.pk]),
        "Open the alert",
    )


def unacknowledged_urgent_alerts(patient, therapist) -> list[Blocker]:
    """Urgent alerts of the patient still open that `therapist` has not acknowledged with a
    note, at any clinic of the organisation."""
    acknowledged_by_therapist = AlertNote.objects.acknowledged_with_a_note_by(therapist).filter(
        alert=OuterRef("pk")
    )
    alerts = (
        Alert.objects.filter(
            organization_id=patient.organization_id,
            patient=patient,
            level=AlertLevel.URGENT,
            resolved_at__isnull=True,
            raised_at__lte=timezone.now(),
        )
        .exclude(Exists(acknowledged_by_therapist))
        .select_related("clinic", "check_in")
        .order_by("raised_at")
    )
    blockers = []
    for alert in alerts:
        seen = access.can(therapist, "change", alert)
        raised = as_read(alert.raised_at, alert.clinic.zone)
        text = (
            f"An urgent alert from the {alert.check_in.hours_after} h check-in (raised {raised}"
            f" at {alert.clinic.name}) is open: "
        )
        text += (
            "acknowledge it, with a note, before you start."
            if seen
            else f"the staff of {alert.clinic.name} must resolve it before you start."
        )
        blockers.append(
            Blocker(
                text,
                reverse("aftercare:alert", args=[alert.pk]) if seen else "",
                "Open the alert" if seen else "",
            )
        )
    return blockers
