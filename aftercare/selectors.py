"""Reads of aftercare that several pages and the API share, scoped by clinics.access."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from aftercare.models import (
    AftercarePlan,
    Alert,
    AlertNote,
    CheckIn,
    CheckInAnswer,
    PlanExercise,
    PlanStatus,
)
from clinics import access
from clinics.models import Clinic

RESOLVED_SHOWN_FOR = timedelta(days=14)
"""How long a resolved alert stays on the clinic's list."""


def plans_of(user, patient) -> QuerySet:
    """The patient's issued plans, newest first, with their exercises and read receipts."""
    return (
        access.visible_to(user, AftercarePlan.objects.filter(patient=patient))
        .filter(status=PlanStatus.ISSUED)
        .select_related("session__therapist", "session__clinic", "read")
        .prefetch_related(
            Prefetch("exercises", queryset=access.visible_to(user, PlanExercise.objects.all()))
        )
        .order_by("-issued_at")
    )


def check_ins_of(user, patient) -> QuerySet:
    """The patient's check-ins, soonest due last, with their answers where `user` reads them."""
    return (
        access.visible_to(user, CheckIn.objects.filter(patient=patient))
        .select_related("session", "clinic")
        .prefetch_related(
            Prefetch("answer", queryset=access.visible_to(user, CheckInAnswer.objects.all()))
        )
        .order_by("-due_at")
    )


def answer_to(user, check_in: CheckIn) -> CheckInAnswer | None:
    return access.visible_to(user, CheckInAnswer.objects.filter(check_in=check_in)).first()


def open_check_ins(user, patient) -> list[CheckIn]:
    """Check-ins the patient can answer now, oldest first."""
    now = timezone.now()
    return list(
        access.visible_to(user, CheckIn.objects.filter(patient=patient))
        .filter(due_at__lte=now, closes_at__gt=now, answer__isnull=True)
        .select_related("clinic")
        .order_by("due_at")
    )


def alerts_at(user, clinic: Clinic) -> QuerySet:
    """The clinic's alerts: open ones (urgent first, newest first), then those resolved lately."""
    return (
        access.visible_to(user, Alert.objects.filter(clinic=clinic))
        .exclude(resolved_at__lt=timezone.now() - RESOLVED_SHOWN_FOR)
        .select_related("patient", "therapist", "acknowledged_by", "resolved_by")
    )


def open_alert_count(user) -> dict[str, int]:
    """Open alerts the user can see, by level: the header's reminder."""
    counts = {"urgent": 0, "alert": 0}
    for level in (
        access.visible_to(user, Alert.objects.filter(resolved_at__isnull=True))
        .values_list("level", flat=True)
        .order_by()
    ):
        counts[level] += 1
    return counts


@dataclass(frozen=True)
class AlertView:
    """An alert as one user may see it: the answers and notes only for clinical roles."""

    alert: Alert
    answer: CheckInAnswer | None
    notes: list[AlertNote]
    may_act: bool


def alert_view(user, alert: Alert) -> AlertView:
    answer = (
        access.visible_to(user, CheckInAnswer.objects.filter(check_in_id=alert.check_in_id))
        .select_related("check_in")
        .first()
    )
    notes = list(
        access.visible_to(user, AlertNote.objects.filter(alert=alert)).select_related("written_by")
    )
    return AlertView(
        alert=alert, answer=answer, notes=notes, may_act=access.can(user, "change", alert)
    )
