"""Appointment reminders: the e-mail a patient gets a set time before each booking.

One per booking and start time (unique on session and `for_starts_at`), so a
double click or a job run twice never makes a second; a booking moved gets a
new one for its new time, and the old one is never sent (the sender checks the
session is still booked at `for_starts_at`). Its two links, confirm and cancel,
are used once between them: `answer` and `used_at` record that use. The
sending is recorded before the e-mail goes (`sending_since`, `message_id`) and
its outcome after (`sent_at`, or `last_send_error` and `next_attempt_at`):
sessions/services/reminders.py.
"""

import uuid

from django.db import models
from django.db.models import Q

from clinics.models import Clinic, Organization
from patients.models import Patient
from patients.models.records import tracked
from sessions.models.booking import TreatmentSession


class ReminderAnswer(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed by the patient"
    CANCELLED = "cancelled", "Cancelled by the patient"


class ReminderStatus(models.TextChoices):
    """Where a reminder stands, as staff read it (worked out, not stored: `Reminder.status`)."""

    PLANNED = "planned", "Planned"
    SENT = "sent", "Sent"
    FAILED = "failed", "Not sent"
    REPLACED = "replaced", "Not sent: the booking changed"


@tracked
class Reminder(models.Model):
    """The reminder e-mail for one booking at one start time, and what the patient answered."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="reminders"
    )
    for_starts_at = models.DateTimeField(
        "for the start at", help_text="The start it announces; a session moved gets a new one."
    )
    due_at = models.DateTimeField("to be sent at")
    sent_at = models.DateTimeField(null=True, blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_send_error = models.CharField(max_length=500, blank=True)
    sending_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="An attempt recorded and not yet settled: set before the e-mail goes.",
    )
    handed_over_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the mail server took the recipient and was about to take the message.",
    )
    message_id = models.CharField("Message-ID", max_length=255, blank=True)
    answer = models.CharField(max_length=9, choices=ReminderAnswer.choices, blank=True)
    used_at = models.DateTimeField(
        "link used at", null=True, blank=True, help_text="The one use of its links."
    )

    class Meta:
        verbose_name = "appointment reminder"
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session", "for_starts_at"],
                name="reminder_once_per_booking_time",
                violation_error_message="This booking already has a reminder for this time.",
            ),
            models.CheckConstraint(
                condition=Q(answer="", used_at__isnull=True)
                | (~Q(answer="") & Q(used_at__isnull=False)),
                name="reminder_answer_has_its_time",
            ),
            models.CheckConstraint(
                condition=Q(due_at__lte=models.F("for_starts_at")),
                name="reminder_due_before_the_start",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "patient", "sent_at"], name="reminder_patient_sent"
            ),
            models.Index(
                fields=["due_at"],
                condition=Q(sent_at__isnull=True),
                name="reminder_unsent_due",
            ),
        ]

    def __str__(self) -> str:
        return f"Reminder for {self.session}"

    @property
    def confirmed_at(self):
        return self.used_at if self.answer == ReminderAnswer.CONFIRMED else None

    @property
    def cancelled_at(self):
        return self.used_at if self.answer == ReminderAnswer.CANCELLED else None

    @property
    def retrying(self) -> bool:
        """Refused by the mail server, with a try to come before the start."""
        return (
            self.sent_at is None
            and self.next_attempt_at is not None
            and self.next_attempt_at < self.for_starts_at
        )

    @property
    def replaced(self) -> bool:
        """The booking was moved since (needs `session`): this reminder is never sent."""
        return self.sent_at is None and self.session.starts_at != self.for_starts_at

    @property
    def status(self) -> str:
        if self.sent_at is not None:
            return ReminderStatus.SENT
        if self.replaced:
            return ReminderStatus.REPLACED
        if self.last_send_error:
            return ReminderStatus.FAILED
        return ReminderStatus.PLANNED
