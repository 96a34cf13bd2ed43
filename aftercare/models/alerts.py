"""Alerts: check-in answers that a therapist must see, and what was done about them."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from aftercare.models.check_ins import CheckIn
from clinics.models import Clinic, Organization
from patients.models import Patient
from patients.models.records import never_changed, tracked
from sessions.models import TreatmentSession


class AlertLevel(models.TextChoices):
    URGENT = "urgent", "Urgent"
    ALERT = "alert", "Needs attention"


URGENT_FIRST = Case(When(level=AlertLevel.URGENT, then=Value(0)), default=Value(1))


@tracked
class Alert(models.Model):
    """A check-in whose answers raised a red flag. It says who and how urgent, never why:
    the reasons are in the answers, which the front desk does not read."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="+")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    check_in = models.OneToOneField(CheckIn, on_delete=models.PROTECT, related_name="alert")
    level = models.CharField(max_length=10, choices=AlertLevel.choices)
    raised_at = models.DateTimeField(default=timezone.now, editable=False)
    escalate_at = models.DateTimeField(
        null=True, blank=True, help_text="An urgent alert not acknowledged by then is escalated."
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = [F("resolved_at").desc(nulls_first=True), URGENT_FIRST, "-raised_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(level=AlertLevel.URGENT, escalate_at__isnull=False)
                | Q(level=AlertLevel.ALERT, escalate_at__isnull=True, escalated_at__isnull=True),
                name="alert_only_urgent_escalates",
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                | Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="alert_acknowledged_by_someone",
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True, resolved_by__isnull=True)
                | Q(
                    resolved_at__isnull=False,
                    resolved_by__isnull=False,
                    acknowledged_at__isnull=False,
                ),
                name="alert_resolved_after_acknowledged",
            ),
            models.UniqueConstraint(fields=["organization", "id"], name="alert_organization_id"),
        ]
        indexes = [
            models.Index(
                fields=["organization", "clinic", "raised_at"],
                name="alert_open",
                condition=Q(resolved_at__isnull=True),
            ),
            # The alert list (selectors.alerts_of): a site's open alerts and those resolved
            # in the last 14 days, without reading the ones resolved before.
            models.Index(fields=["clinic", "resolved_at"], name="alert_of_clinic_lately"),
            models.Index(
                fields=["escalate_at"],
                name="alert_to_escalate",
                condition=Q(acknowledged_at__isnull=True, escalated_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_level_display()} alert for {self.patient}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class NoteKind(models.TextChoices):
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    ESCALATED = "escalated", "Escalated"


class AlertNoteQuerySet(models.QuerySet):
    def acknowledged_with_a_note_by(self, user) -> "AlertNoteQuerySet":
        """Acknowledgements `user` wrote a note to: what lets a therapist who read an urgent
        alert start the patient's next session (aftercare.safety)."""
        return self.filter(kind=NoteKind.ACKNOWLEDGED, written_by=user).exclude(text="")


@tracked
class AlertNote(models.Model):
    """What was done about an alert, by whom and when. Clinical: the front desk does not read it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="notes")
    kind = models.CharField(max_length=15, choices=NoteKind.choices)
    text = models.TextField(blank=True)
    written_at = models.DateTimeField(default=timezone.now, editable=False)
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = AlertNoteQuerySet.as_manager()

    class Meta:
        ordering = ["written_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind=NoteKind.RESOLVED) | ~Q(text=""),
                name="alert_resolution_has_a_note",
                violation_error_message="Say what was done when resolving an alert.",
            ),
        ]
        triggers = [never_changed()]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.alert}"
