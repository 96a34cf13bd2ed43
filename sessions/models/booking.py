"""The booking: who sees whom, where and when, and where the session stands."""

import uuid

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, RangeOperators
from django.db import models
from django.db.models import F, Func, Q
from django.utils import timezone

from clinics.models import Clinic, Organization
from patients.contraindications import Contraindication
from patients.models import Patient
from sessions.models.schedule import AppointmentType


def unchanged_once_signed() -> pgtrigger.Trigger:
    """A trigger refusing any insert, update or delete of a chart row once its session is signed.

    The services refuse first, with a clear message; this holds for every
    other path (the admin, a queryset update, a script at the database).
    """
    return pgtrigger.Trigger(
        name="unchanged_once_signed",
        when=pgtrigger.Before,
        operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
        func="""
            IF EXISTS (
                SELECT 1 FROM treatment_sessions_treatmentsession
                WHERE id IN (NEW.session_id, OLD.session_id) AND status = 'signed'
            ) THEN
                RAISE EXCEPTION 'The session is signed: its chart cannot change. Add an addendum.'
                    USING ERRCODE = 'check_violation';
            END IF;
            IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
            RETURN NEW;
        """,
    )


class Status(models.TextChoices):
    BOOKED = "booked", "Booked"
    IN_PROGRESS = "in_progress", "In progress"
    SIGNED = "signed", "Signed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"


HOLDS_THE_SLOT = [Status.BOOKED, Status.IN_PROGRESS, Status.SIGNED]
WAITING_FOR_THE_NEEDLE = (Status.BOOKED, Status.IN_PROGRESS)
"""Sessions whose patient is about to be, or being, treated: where "before the needle" shows."""
"""A cancelled session or a no-show frees its time for another booking."""


class TimeRange(Func):
    """The session's time as a half-open range: 10:00 to 10:30 and 10:30 to 11:00 do not meet."""

    function = "TSTZRANGE"
    template = "%(function)s(%(expressions)s, '[)')"


def slot_taken_by(field: str, name: str) -> ExclusionConstraint:
    """No two sessions holding their slot overlap for the same `field` (therapist, patient)."""
    return ExclusionConstraint(
        name=name,
        expressions=[
            (F("organization"), RangeOperators.EQUAL),
            (F(field), RangeOperators.EQUAL),
            (TimeRange(F("starts_at"), F("ends_at")), RangeOperators.OVERLAPS),
        ],
        condition=Q(status__in=HOLDS_THE_SLOT),
    )


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class TreatmentSession(models.Model):
    """A booked appointment of a patient with a therapist at a clinic."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="sessions")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="sessions")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="treatment_sessions"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.BOOKED)
    booked_at = models.DateTimeField(default=timezone.now, editable=False)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    booked_online = models.BooleanField(
        default=False, help_text="Booked by the patient in the portal."
    )
    confirmed_at = models.DateTimeField(
        "confirmed by the patient at",
        null=True,
        blank=True,
        help_text="When the patient confirmed they are coming (from the reminder).",
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cancellation_reason = models.TextField(blank=True)
    cancelled_late = models.BooleanField(
        "late cancellation",
        default=False,
        help_text="Cancelled within the organisation's notice period before the start.",
    )
    no_show_at = models.DateTimeField("no-show recorded at", null=True, blank=True)
    no_show_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    no_show_reason = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    needling = models.BooleanField(
        "includes dry needling",
        default=True,
        help_text="Off for manual therapy, exercise or education only: no needle is used, no "
        "needle site is charted, and neither needling consent nor screening is asked.",
    )
    appointment_type = models.ForeignKey(
        AppointmentType,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for a session booked before appointment types.",
    )
    outside_hours_reason = models.TextField(
        "why booked outside working hours",
        blank=True,
        help_text="Given by whoever booked a time the therapist does not work.",
    )
    series = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text="Shared by the sessions booked together as a weekly series.",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    submission_key = models.UUIDField(null=True, blank=True, editable=False)
    # Where an import brought the booking from (sessions.services.imports): the other
    # system's name and its id for the appointment, so that importing it again adds nothing.
    imported_from = models.CharField(max_length=60, blank=True, db_default="", editable=False)
    imported_id = models.CharField(max_length=100, blank=True, db_default="", editable=False)

    class Meta:
        ordering = ["starts_at"]
        verbose_name = "treatment session"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "imported_from", "imported_id"],
                condition=~Q(imported_id=""),
                name="session_imported_once",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="session_ends_after_it_starts",
                violation_error_message="A session ends after it starts.",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=Status.CANCELLED, cancelled_at__isnull=False)
                    | (~Q(status=Status.CANCELLED) & Q(cancelled_at__isnull=True))
                )
                & (
                    Q(status=Status.NO_SHOW, no_show_at__isnull=False)
                    | (~Q(status=Status.NO_SHOW) & Q(no_show_at__isnull=True))
                )
                & (
                    Q(status__in=[Status.IN_PROGRESS, Status.SIGNED], started_at__isnull=False)
                    | (
                        ~Q(status__in=[Status.IN_PROGRESS, Status.SIGNED])
                        & Q(started_at__isnull=True)
                    )
                ),
                name="session_status_matches_its_times",
            ),
            models.CheckConstraint(
                condition=Q(status=Status.SIGNED, signed_at__isnull=False, signed_by__isnull=False)
                | (~Q(status=Status.SIGNED) & Q(signed_at__isnull=True, signed_by__isnull=True)),
                name="session_signed_when_it_says_so",
            ),
            slot_taken_by("therapist", "session_therapist_not_double_booked"),
            slot_taken_by("patient", "session_patient_not_double_booked"),
            models.UniqueConstraint(
                fields=["organization", "submission_key"], name="session_submission_once"
            ),
            # Target of the composite foreign keys of the chart's rows.
            models.UniqueConstraint(fields=["organization", "id"], name="session_organization_id"),
        ]
        triggers = [
            # Nothing signed is edited or deleted, whatever path the write takes.
            pgtrigger.Protect(
                name="signed_session_unchanged",
                operation=pgtrigger.Update | pgtrigger.Delete,
                condition=pgtrigger.Q(old__status="signed"),
            ),
            # With or without needling is settled by the start: the chart follows from it.
            pgtrigger.Trigger(
                name="needling_settled_once_started",
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                condition=~pgtrigger.Q(old__status="booked")
                & pgtrigger.Q(old__needling__df=pgtrigger.F("new__needling")),
                func="""
                    RAISE EXCEPTION 'A started session stays with or without needling.'
                        USING ERRCODE = 'check_violation';
                """,
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "clinic", "starts_at"], name="session_clinic_day"),
            models.Index(
                fields=["organization", "therapist", "starts_at"], name="session_therapist_day"
            ),
            models.Index(fields=["organization", "patient", "starts_at"], name="session_patient"),
        ]

    def __str__(self) -> str:
        return f"{self.patient} with {self.therapist} at {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def is_signed(self) -> bool:
        return self.status == Status.SIGNED

    @property
    def minutes(self) -> int:
        """The booking's length in minutes."""
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ContraindicationOverride(models.Model):
    """A therapist's recorded reason to needle despite relative contraindications.

    Kept with the session it allowed to start, and shown in its chart.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.OneToOneField(
        TreatmentSession, on_delete=models.PROTECT, related_name="override"
    )
    contraindications = ArrayField(
        models.CharField(max_length=30, choices=Contraindication.choices),
        help_text="The relative contraindications the patient had when the session started.",
    )
    reason = models.TextField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "contraindication override"
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=""),
                name="override_has_a_reason",
                violation_error_message="Record the reason to proceed.",
            )
        ]
        triggers = [unchanged_once_signed()]

    def __str__(self) -> str:
        return f"Override for {self.session}"

    @property
    def labels(self) -> list[str]:
        return [Contraindication(item).label for item in self.contraindications]
