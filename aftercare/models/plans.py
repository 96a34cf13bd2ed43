"""Aftercare: the organisation's template, and the plan issued to a patient after a session."""

import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from clinics.models import Clinic, Organization
from patients.models import Patient
from patients.models.records import never_changed, tracked
from sessions.models import TreatmentSession


@tracked
class AftercareTemplate(models.Model):
    """One version of an organisation's aftercare advice, for sessions with dry needling or for
    those without (manual therapy, exercise or education). Published versions never change."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200, default="After your dry needling session")
    body = models.TextField(
        help_text="The advice every plan starts with. A blank line starts a new paragraph; "
        "a line starting with '- ' is a point of a list."
    )
    published_at = models.DateTimeField(default=timezone.now, editable=False)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    needling = models.BooleanField(
        "for sessions with dry needling",
        default=True,
        help_text="The advice of sessions with dry needling; off, of sessions without needling "
        "(manual therapy, exercise or education). Each has its own versions.",
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "needling", "version"],
                name="aftercare_template_version_unique",
                violation_error_message="This version of the aftercare advice already exists.",
            ),
            models.UniqueConstraint(
                fields=["organization", "id"], name="aftercare_template_organization_id"
            ),
        ]
        triggers = [never_changed()]

    def __str__(self) -> str:
        kind = "" if self.needling else " (without needling)"
        return f"{self.title} v{self.version}{kind}"


DEFAULT_CHECK_IN_HOURS = [24, 48, 72]
"""Soreness starts within hours, peaks at 24-48 h and is gone by about 72 h."""


def default_check_in_hours() -> list[int]:
    return list(DEFAULT_CHECK_IN_HOURS)


@tracked
class AftercareSettings(models.Model):
    """An organisation's check-in times and how soon an urgent alert is escalated."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.OneToOneField(
        Organization, on_delete=models.PROTECT, related_name="aftercare_settings"
    )
    check_in_hours = ArrayField(
        models.PositiveSmallIntegerField(),
        default=default_check_in_hours,
        help_text="Hours after signing at which the patient is asked how they are (24, 48, 72).",
    )
    escalate_after_minutes = models.PositiveSmallIntegerField(
        "escalate urgent alerts after (minutes)",
        default=30,
        validators=[MinValueValidator(5), MaxValueValidator(24 * 60)],
        help_text="An urgent alert nobody has acknowledged by then is e-mailed to the clinic's "
        "managers.",
    )

    class Meta:
        verbose_name = "aftercare settings"
        verbose_name_plural = "aftercare settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(check_in_hours__len__gte=1) & Q(check_in_hours__len__lte=6),
                name="aftercare_settings_one_to_six_check_ins",
                violation_error_message="Ask between one and six check-ins.",
            ),
            models.CheckConstraint(
                condition=Q(escalate_after_minutes__gte=5, escalate_after_minutes__lte=24 * 60),
                name="aftercare_settings_escalation_in_range",
                violation_error_message="Escalate after 5 minutes to 24 hours.",
            ),
        ]

    def __str__(self) -> str:
        return f"Aftercare settings of {self.organization}"


def unchanged_once_issued() -> pgtrigger.Trigger:
    """A trigger refusing any change to an exercise of a plan that was issued to the patient."""
    return pgtrigger.Trigger(
        name="unchanged_once_issued",
        when=pgtrigger.Before,
        operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
        func="""
            IF EXISTS (
                SELECT 1 FROM aftercare_aftercareplan
                WHERE id IN (NEW.plan_id, OLD.plan_id) AND status = 'issued'
            ) THEN
                RAISE EXCEPTION 'The aftercare plan was issued: it cannot change.'
                    USING ERRCODE = 'check_violation';
            END IF;
            IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
            RETURN NEW;
        """,
    )


class PlanStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ISSUED = "issued", "Issued"


class HeatOrIce(models.TextChoices):
    AS_ADVISED = "", "As in the advice"
    HEAT = "heat", "Heat: a warm pack or a warm bath"
    ICE = "ice", "Ice, for swelling or bruising"
    HEAT_THEN_ICE = "both", "Heat for stiffness; ice where it is swollen or bruised"


@tracked
class AftercarePlan(models.Model):
    """The aftercare of one session: the therapist's additions, then the issued copy.

    A draft while the session is charted (the therapist's additions); issued
    when the session is signed, with a frozen copy of the organisation's advice
    and the muscles that were needled. An issued plan never changes.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="aftercare_plans")
    session = models.OneToOneField(
        TreatmentSession, on_delete=models.PROTECT, related_name="aftercare_plan"
    )
    status = models.CharField(max_length=10, choices=PlanStatus.choices, default=PlanStatus.DRAFT)
    heat_or_ice = models.CharField(
        "heat or ice", max_length=10, choices=HeatOrIce.choices, blank=True
    )
    activity_limits = models.TextField(
        blank=True, help_text="What to avoid, and for how long (e.g. no running until Thursday)."
    )
    next_visit = models.CharField(
        max_length=200, blank=True, help_text="When to come back (e.g. in one week)."
    )
    other_advice = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Frozen when the plan is issued.
    template = models.ForeignKey(
        AftercareTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    template_version = models.PositiveIntegerField(null=True, blank=True)
    title = models.CharField(max_length=200, blank=True)
    advice = models.TextField(blank=True, help_text="The template's text as issued.")
    needled_muscles = ArrayField(
        models.CharField(max_length=250),
        default=list,
        blank=True,
        help_text="The muscles needled, as charted (e.g. 'Upper trapezius, left').",
    )
    issued_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "aftercare plan"
        ordering = [F("issued_at").desc(nulls_last=True)]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status=PlanStatus.ISSUED,
                    issued_at__isnull=False,
                    issued_by__isnull=False,
                    template__isnull=False,
                    template_version__isnull=False,
                )
                | Q(
                    status=PlanStatus.DRAFT,
                    issued_at__isnull=True,
                    issued_by__isnull=True,
                    template__isnull=True,
                ),
                name="aftercare_plan_issued_when_it_says_so",
            ),
            models.UniqueConstraint(fields=["organization", "id"], name="plan_organization_id"),
        ]
        triggers = [
            pgtrigger.Protect(
                name="issued_plan_unchanged",
                operation=pgtrigger.Update | pgtrigger.Delete,
                condition=pgtrigger.Q(old__status="issued"),
            )
        ]
        indexes = [
            models.Index(
                F("organization"), F("patient"), F("issued_at").desc(), name="plan_patient"
            ),
        ]

    def __str__(self) -> str:
        return f"Aftercare of {self.session}"

    @property
    def is_issued(self) -> bool:
        return self.status == PlanStatus.ISSUED


@tracked
class PlanExercise(models.Model):
    """A home stretch or exercise of a plan, with how much and how often."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey(AftercarePlan, on_delete=models.PROTECT, related_name="exercises")
    position = models.PositiveSmallIntegerField(default=0, editable=False)
    name = models.CharField(max_length=200, help_text="e.g. Doorway pectoral stretch")
    sets = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    reps = models.PositiveSmallIntegerField(
        "repetitions",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    hold_seconds = models.PositiveSmallIntegerField(
        "hold (seconds)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(600)],
    )
    frequency = models.CharField(max_length=100, help_text="e.g. Twice a day")
    notes = models.TextField(blank=True)
    submission_key = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(sets__isnull=True) | Q(sets__gte=1, sets__lte=20))
                & (Q(reps__isnull=True) | Q(reps__gte=1, reps__lte=100))
                & (Q(hold_seconds__isnull=True) | Q(hold_seconds__gte=1, hold_seconds__lte=600)),
                name="plan_exercise_amounts_in_range",
            ),
            models.UniqueConstraint(
                fields=["organization", "submission_key"], name="plan_exercise_once"
            ),
        ]
        triggers = [unchanged_once_issued()]

    def __str__(self) -> str:
        return self.name


@tracked
class PlanRead(models.Model):
    """When the patient first marked the plan as read. Never changed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    plan = models.OneToOneField(AftercarePlan, on_delete=models.PROTECT, related_name="read")
    read_at = models.DateTimeField(default=timezone.now, editable=False)
    read_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = "read receipt"
        triggers = [never_changed()]

    def __str__(self) -> str:
        return f"{self.plan} read {self.read_at:%Y-%m-%d %H:%M}"
