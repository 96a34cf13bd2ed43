"""The chart of a session: SOAP notes, measurements, needle sites, adverse events, addenda.

Front desk reads none of these rows (clinics.access: CLINICAL). Once the
session is signed the database refuses any change to them (triggers, migration 0003);
corrections are addenda, which are never changed either.
"""

import uuid
from decimal import Decimal

import pghistory
import pgtrigger
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from clinics.models import Organization
from patients.models.records import never_changed
from sessions.models.booking import TreatmentSession, unchanged_once_signed
from sessions.models.vocabulary import Muscle, OrganizationMuscle

PAIN_SCALE = [MinValueValidator(0), MaxValueValidator(10)]


def _between(field: str, low, high, name: str, message: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": low, f"{field}__lte": high}),
        name=name,
        violation_error_message=message,
    )


def _tracked(model):
    return pghistory.track(
        pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent()
    )(model)


class Side(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    BOTH = "both", "Both"


@_tracked
class ChartTemplate(models.Model):
    """Text an organisation's charts start from; applying it fills empty fields only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    complaint = models.TextField(blank=True)
    subjective_notes = models.TextField(blank=True)
    findings = models.TextField(blank=True)
    assessment = models.TextField(blank=True)
    plan = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, help_text="Offered on new charts.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "chart template"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="chart_template_name_once"
            ),
            models.UniqueConstraint(fields=["organization", "id"], name="chart_template_id"),
            models.CheckConstraint(condition=~Q(name=""), name="chart_template_named"),
        ]

    def __str__(self) -> str:
        return self.name


@_tracked
class Chart(models.Model):
    """The SOAP notes and needle count of one session; saved as a draft until signed."""

    TEXT_FIELDS = ("complaint", "subjective_notes", "findings", "assessment", "plan")
    FIELDS = (
        *TEXT_FIELDS,
        "pain_before",
        "pain_after",
        "needles_inserted",
        "needles_removed",
        "needling_ended_at",
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.OneToOneField(TreatmentSession, on_delete=models.PROTECT, related_name="chart")
    complaint = models.TextField("presenting complaint", blank=True)
    pain_before = models.PositiveSmallIntegerField(
        "pain before (0 to 10)", null=True, blank=True, validators=PAIN_SCALE
    )
    subjective_notes = models.TextField("subjective notes", blank=True)
    findings = models.TextField("objective findings", blank=True)
    assessment = models.TextField(blank=True)
    plan = models.TextField(blank=True)
    pain_after = models.PositiveSmallIntegerField(
        "pain after (0 to 10)", null=True, blank=True, validators=PAIN_SCALE
    )
    needles_inserted = models.PositiveSmallIntegerField(default=0)
    needles_removed = models.PositiveSmallIntegerField(default=0)
    needling_ended_at = models.DateTimeField(
        "needling ended at",
        null=True,
        blank=True,
        help_text="When the last needle came out, as the therapist charted it: the check-ins "
        "count from it (from the signature when it is not recorded).",
    )
    template = models.ForeignKey(
        ChartTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    updated_from = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="The client id of the tab, device or API client that saved this version "
        "(empty when none was sent, and for rows): a save started from an older version is "
        "accepted over the same user's later saves from the same client only.",
    )

    class Meta:
        constraints = [
            _between("pain_before", 0, 10, "chart_pain_before_0_to_10", "Pain is 0 to 10."),
            _between("pain_after", 0, 10, "chart_pain_after_0_to_10", "Pain is 0 to 10."),
            _between(
                "needles_inserted", 0, 500, "chart_needles_inserted_counted", "0 to 500 needles."
            ),
            _between(
                "needles_removed", 0, 500, "chart_needles_removed_counted", "0 to 500 needles."
            ),
        ]
        triggers = [unchanged_once_signed()]

    def __str__(self) -> str:
        return f"Chart of {self.session}"


class SessionRow(models.Model):
    """A row of a session's chart: it names its organisation and session, and who wrote it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    submission_key = models.UUIDField(null=True, blank=True, editable=False)
    """Sent with the form: the same row sent twice (a double click, a retry) is added once."""

    class Meta:
        abstract = True
        ordering = ["recorded_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "submission_key"],
                name="%(class)s_submission_once",
            )
        ]


class Joint(models.TextChoices):
    CERVICAL = "cervical_spine", "Cervical spine"
    THORACIC = "thoracic_spine", "Thoracic spine"
    LUMBAR = "lumbar_spine", "Lumbar spine"
    JAW = "jaw", "Jaw (TMJ)"
    SHOULDER = "shoulder", "Shoulder"
    ELBOW = "elbow", "Elbow"
    WRIST = "wrist", "Wrist"
    HIP = "hip", "Hip"
    KNEE = "knee", "Knee"
    ANKLE = "ankle", "Ankle"


class Movement(models.TextChoices):
    FLEXION = "flexion", "Flexion"
    EXTENSION = "extension", "Extension"
    ABDUCTION = "abduction", "Abduction"
    ADDUCTION = "adduction", "Adduction"
    INTERNAL_ROTATION = "internal_rotation", "Internal rotation"
    EXTERNAL_ROTATION = "external_rotation", "External rotation"
    ROTATION = "rotation", "Rotation"
    LATERAL_FLEXION = "lateral_flexion", "Lateral flexion"
    DORSIFLEXION = "dorsiflexion", "Dorsiflexion"
    PLANTARFLEXION = "plantarflexion", "Plantarflexion"
    INVERSION = "inversion", "Inversion"
    EVERSION = "eversion", "Eversion"
    PRONATION = "pronation", "Pronation"
    SUPINATION = "supination", "Supination"
    OPENING = "opening", "Opening (mouth)"


class MeasuredSide(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    NONE = "none", "Not sided (spine, jaw)"


@_tracked
class RangeOfMotion(SessionRow):
    """One range-of-motion measurement: joint, movement, side and degrees."""

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="range_of_motion"
    )
    joint = models.CharField(max_length=20, choices=Joint.choices)
    movement = models.CharField(max_length=20, choices=Movement.choices)
    side = models.CharField(max_length=5, choices=MeasuredSide.choices)
    degrees = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(360)]
    )

    class Meta(SessionRow.Meta):
        verbose_name = "range-of-motion measurement"
        triggers = [unchanged_once_signed()]
        constraints = [
            *SessionRow.Meta.constraints,
            _between("degrees", 0, 360, "rom_degrees_0_to_360", "Degrees are 0 to 360."),
        ]

    def __str__(self) -> str:
        return f"{self.get_joint_display()} {self.get_movement_display().lower()} {self.degrees}°"


@_tracked
class PressurePainThreshold(SessionRow):
    """The pressure at which the patient first felt pain, measured with an algometer."""

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="pressure_pain_thresholds"
    )
    site = models.CharField(max_length=100)
    side = models.CharField(max_length=5, choices=MeasuredSide.choices)
    kg_per_cm2 = models.DecimalField(
        "threshold (kg/cm²)",
        max_digits=4,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("20"))],
    )

    class Meta(SessionRow.Meta):
        verbose_name = "pressure-pain threshold"
        triggers = [unchanged_once_signed()]
        constraints = [
            *SessionRow.Meta.constraints,
            _between("kg_per_cm2", Decimal("0.1"), 20, "ppt_0_1_to_20", "0.1 to 20 kg/cm²."),
            models.CheckConstraint(condition=~Q(site=""), name="ppt_names_its_site"),
        ]

    def __str__(self) -> str:
        return f"{self.site}: {self.kg_per_cm2} kg/cm²"


class Technique(models.TextChoices):
    PISTONING = "pistoning", "Dynamic (pistoning)"
    STATIC = "static", "Static (left in place)"
    ROTATION = "rotation", "Rotation"
    ELECTRICAL = "electrical", "With electrical stimulation"
    OTHER = "other", "Other"


class TwitchResponse(models.TextChoices):
    NONE = "none", "None"
    SOME = "some", "Some"
    MANY = "many", "Many"


def only_in_needling_sessions() -> pgtrigger.Trigger:
    """A needle site belongs to a session with needling: one without has none, whatever path
    the write takes (the services refuse first, naming the rule)."""
    return pgtrigger.Trigger(
        name="only_in_needling_sessions",
        when=pgtrigger.Before,
        operation=pgtrigger.Insert | pgtrigger.Update,
        func="""
            IF EXISTS (
                SELECT 1 FROM treatment_sessions_treatmentsession
                WHERE id = NEW.session_id AND NOT needling
            ) THEN
                RAISE EXCEPTION 'This session is without needling: it has no needle sites.'
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        """,
    )


@_tracked
class NeedleSite(SessionRow):
    """Where needles went in: muscle, side, needles and their lot, depth, technique, response."""

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="needle_sites"
    )
    muscle = models.ForeignKey(Muscle, on_delete=models.PROTECT, null=True, blank=True)
    organization_muscle = models.ForeignKey(
        OrganizationMuscle, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    muscle_name = models.CharField(
        max_length=80,
        editable=False,
        help_text="As the vocabulary named it when charted: a signed chart reads the same later.",
    )
    side = models.CharField(max_length=5, choices=Side.choices)
    needles = models.PositiveSmallIntegerField("needles used")
    needle_length_mm = models.PositiveSmallIntegerField("needle length (mm)")
    needle_gauge_mm = models.DecimalField(
        "needle gauge (diameter, mm)", max_digits=3, decimal_places=2
    )
    depth_mm = models.DecimalField("depth (mm)", max_digits=4, decimal_places=1)
    technique = models.CharField(max_length=20, choices=Technique.choices)
    twitch_response = models.CharField(
        "local twitch response", max_length=5, choices=TwitchResponse.choices
    )
    retention_minutes = models.PositiveSmallIntegerField("retention (minutes)", default=0)
    lot_number = models.CharField("needle lot number", max_length=40)
    pneumothorax_risk = models.BooleanField(default=False, editable=False)
    risk_acknowledged_at = models.DateTimeField(null=True, blank=True, editable=False)
    risk_acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta(SessionRow.Meta):
        verbose_name = "needle site"
        triggers = [unchanged_once_signed(), only_in_needling_sessions()]
        constraints = [
            *SessionRow.Meta.constraints,
            models.CheckConstraint(
                condition=Q(muscle__isnull=False, organization_muscle__isnull=True)
                | Q(muscle__isnull=True, organization_muscle__isnull=False),
                name="needle_site_names_one_muscle",
                violation_error_message="Choose one muscle.",
            ),
            models.CheckConstraint(
                condition=Q(pneumothorax_risk=False)
                | Q(risk_acknowledged_at__isnull=False, risk_acknowledged_by__isnull=False),
                name="needle_site_risk_acknowledged",
                violation_error_message="Acknowledge the pneumothorax risk of this site.",
            ),
            _between("needles", 1, 50, "needle_site_needles_1_to_50", "1 to 50 needles."),
            _between("needle_length_mm", 7, 150, "needle_site_length_7_to_150", "7 to 150 mm."),
            _between(
                "needle_gauge_mm",
                Decimal("0.12"),
                Decimal("0.50"),
                "needle_site_gauge_0_12_to_0_50",
                "0.12 to 0.50 mm.",
            ),
            _between("depth_mm", Decimal("0.5"), 150, "needle_site_depth_range", "0.5 to 150 mm."),
            models.CheckConstraint(
                condition=Q(depth_mm__lte=F("needle_length_mm")),
                name="needle_site_depth_within_needle",
                violation_error_message="A needle goes no deeper than its length.",
            ),
            _between(
                "retention_minutes", 0, 60, "needle_site_retention_0_to_60", "0 to 60 minutes."
            ),
            models.CheckConstraint(condition=~Q(lot_number=""), name="needle_site_lot_recorded"),
        ]
        indexes = [
            models.Index(fields=["organization", "lot_number"], name="needle_site_lot"),
        ]

    def __str__(self) -> str:
        return f"{self.muscle_name} ({self.get_side_display().lower()})"

    @property
    def muscle_entry(self) -> Muscle | OrganizationMuscle:
        return self.muscle if self.muscle_id else self.organization_muscle


class AdverseEventKind(models.TextChoices):
    BRUISING = "bruising", "Bruising"
    BLEEDING = "bleeding", "Bleeding"
    VASOVAGAL = "vasovagal", "Fainting or vasovagal reaction"
    EXCESSIVE_PAIN = "excessive_pain", "Excessive pain"
    NAUSEA = "nausea", "Nausea"
    PNEUMOTHORAX = "pneumothorax", "Suspected pneumothorax"
    OTHER = "other", "Other"


REVIEWED_KINDS = [AdverseEventKind.PNEUMOTHORAX]
"""Adverse events an organisation admin reviews."""


class Severity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"


@_tracked
class AdverseEvent(SessionRow):
    """Something that went wrong in the session, its severity and what was done."""

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="adverse_events"
    )
    kind = models.CharField("type", max_length=20, choices=AdverseEventKind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    action_taken = models.TextField()
    notes = models.TextField(blank=True)
    needs_review = models.BooleanField(default=False, editable=False)

    class Meta(SessionRow.Meta):
        verbose_name = "adverse event"
        triggers = [unchanged_once_signed()]
        constraints = [
            *SessionRow.Meta.constraints,
            models.CheckConstraint(
                condition=~Q(action_taken=""), name="adverse_event_action_recorded"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=REVIEWED_KINDS) | Q(needs_review=True),
                name="adverse_event_reviewed_when_serious",
            ),
            models.UniqueConstraint(fields=["organization", "id"], name="adverse_event_id"),
        ]
        indexes = [
            models.Index(
                fields=["organization", "recorded_at"],
                condition=Q(needs_review=True),
                name="adverse_event_to_review",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_severity_display().lower()})"


@pghistory.track(pghistory.InsertEvent())
class AdverseEventReview(models.Model):
    """An organisation admin's review of a serious adverse event. Never changed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    adverse_event = models.OneToOneField(
        AdverseEvent, on_delete=models.PROTECT, related_name="review"
    )
    note = models.TextField()
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "adverse event review"
        triggers = [never_changed()]
        constraints = [
            models.CheckConstraint(condition=~Q(note=""), name="adverse_event_review_noted"),
        ]

    def __str__(self) -> str:
        return f"Review of {self.adverse_event}"


@pghistory.track(pghistory.InsertEvent())
class Addendum(models.Model):
    """A correction or later note on a signed session: text, author and time. Never changed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="addenda")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    written_at = models.DateTimeField(default=timezone.now, editable=False)
    submission_key = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["written_at", "id"]
        verbose_name_plural = "addenda"
        triggers = [never_changed()]
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="addendum_has_text"),
            models.UniqueConstraint(
                fields=["organization", "submission_key"], name="addendum_submission_once"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "session", "written_at"], name="addendum_order")
        ]

    def __str__(self) -> str:
        return f"Addendum by {self.author} at {self.written_at:%Y-%m-%d %H:%M}"
