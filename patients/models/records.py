import datetime
import uuid

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Func, Manager, Value
from django.db.models.functions import Concat, Lower, Upper
from django.utils import timezone

from clinics.models import Clinic, Organization

phone_number = RegexValidator(
    r"^\+?[0-9 ().-]{7,25}$",
    "Enter a phone number: digits, optionally starting with +; spaces, brackets, dots and "
    "dashes are allowed.",
)

EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)


def possible_phone_number(value: str) -> None:
    """A number a phone could dial: 7 to 15 digits (the E.164 limit)."""
    phone_number(value)
    digits = sum(character.isdigit() for character in value)
    if not 7 <= digits <= 15:
        raise ValidationError(
            f"A phone number has 7 to 15 digits; this one has {digits}.", code="phone_digits"
        )


def sounds_like(expression) -> Func:
    """The Double Metaphone code of a name (PostgreSQL's fuzzystrmatch)."""
    if isinstance(expression, str):
        expression = F(expression)
    return Func(expression, function="dmetaphone", output_field=models.TextField())


def never_changed() -> pgtrigger.Protect:
    """A trigger that refuses any UPDATE or DELETE: for records that are evidence."""
    return pgtrigger.Protect(name="never_changed", operation=pgtrigger.Update | pgtrigger.Delete)


class Channel(models.TextChoices):
    PORTAL = "portal", "Patient portal"
    CLINIC = "clinic", "In the clinic"


def tracked(model: type[models.Model]) -> type[models.Model]:
    """Keep every insert, update and delete of `model` in its history table (by trigger)."""
    return pghistory.track(
        pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent()
    )(model)


@tracked
class ClinicalPolicy(models.Model):
    """An organisation's settings for screening and consent (defaults until an admin saves one)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.OneToOneField(
        Organization, on_delete=models.PROTECT, related_name="clinical_policy"
    )
    screening_valid_days = models.PositiveSmallIntegerField(
        "screening valid for (days)",
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(730)],
        help_text="After this many days a patient's screening must be answered again.",
    )
    outdated_consent_counts = models.BooleanField(
        "an outdated consent still counts",
        default=False,
        help_text="When a new consent version is published, may patients who signed an "
        "older one still be treated until they sign again?",
    )

    class Meta:
        verbose_name = "clinical policy"
        verbose_name_plural = "clinical policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(screening_valid_days__gte=1, screening_valid_days__lte=730),
                name="policy_screening_valid_days_range",
                violation_error_message="A screening is valid for 1 to 730 days.",
            )
        ]

    def __str__(self) -> str:
        return f"Clinical policy of {self.organization}"


class CurrentPatients(models.Manager):
    """The organisation's patients: a record merged into another one is left out.

    Every list, search, page, API answer and duplicate check starts here, so a
    merged record is hidden by construction; `Patient.all_records` still has
    it (its page redirects to the record it went into, and the merge names it).
    """

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(merged_into__isnull=True)


@tracked
class Patient(models.Model):
    """A person the organisation treats; one record per person per organisation.

    Two records found to be one person are merged (patients.services.merge):
    everything of one moves to the other, and the one merged away stays as a
    tombstone, `merged_into` the record it went into.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    home_clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    email = models.EmailField("e-mail", blank=True)
    phone = models.CharField(max_length=25, blank=True, validators=[possible_phone_number])
    address = models.TextField(blank=True)
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_relationship = models.CharField(max_length=100, blank=True)
    emergency_contact_phone = models.CharField(
        max_length=25, blank=True, validators=[possible_phone_number]
    )
    preferred_language = models.CharField(max_length=10, choices=settings.LANGUAGES, default="en")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patient_records",
        help_text="The patient's portal login, once they accepted an invitation.",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    submission_key = models.UUIDField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Lower-case "first last", kept by PostgreSQL, for the trigram search.
    search_name = models.GeneratedField(
        expression=Lower(Concat(F("first_name"), Value(" "), F("last_name"))),
        output_field=models.TextField(),
        db_persist=True,
    )
    phone_digits = models.GeneratedField(
        expression=Func(
            F("phone"), Value("[^0-9]"), Value(""), Value("g"), function="REGEXP_REPLACE"
        ),
        output_field=models.TextField(),
        db_persist=True,
    )
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        db_index=False,  # patient_merged_into below, led by the tenant key
        related_name="+",
        help_text="Set when this record was merged into another one: the record it went into.",
    )
    merged_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Where an import brought the record from (patients.imports): the other system's name
    # and its id for the patient, so that importing the same file again adds nothing.
    imported_from = models.CharField(max_length=60, blank=True, editable=False)
    imported_id = models.CharField(max_length=100, blank=True, editable=False)

    # Every record, merged ones too: for the merge itself and for following an old link.
    all_records = Manager()
    objects = CurrentPatients()

    class Meta:
        default_manager_name = "objects"
        ordering = ["last_name", "first_name"]
        constraints = [
            # Target of the composite foreign keys that keep a patient's records in
            # the patient's organisation (migration 0002).
            models.UniqueConstraint(fields=["organization", "id"], name="patient_organization_id"),
            models.UniqueConstraint(
                fields=["organization", "user"], name="patient_one_record_per_login"
            ),
            models.UniqueConstraint(
                fields=["organization", "submission_key"], name="patient_submission_once"
            ),
            models.UniqueConstraint(
                fields=["organization", "imported_from", "imported_id"],
                condition=~models.Q(imported_id=""),
                name="patient_imported_once",
            ),
            models.CheckConstraint(
                condition=models.Q(date_of_birth__gte=EARLIEST_BIRTH_DATE),
                name="patient_born_after_1900",
                violation_error_message="A date of birth is after 1 January 1900.",
            ),
            # A merged record says when and where it went, into another record,
            # and keeps no portal login (the login moved with everything else).
            models.CheckConstraint(
                condition=models.Q(merged_into__isnull=True, merged_at__isnull=True)
                | (
                    models.Q(merged_into__isnull=False, merged_at__isnull=False, user__isnull=True)
                    & ~models.Q(merged_into=F("id"))
                ),
                name="patient_merged_when_it_says_so",
                violation_error_message="A merged record names another record it went into, "
                "when, and keeps no portal login.",
            ),
        ]
        indexes = [
            # The tenant key leads (btree_gin); name, phone digits and e-mail are
            # searched by trigrams, so parts and misspellings are found.
            GinIndex(
                F("organization"),
                OpClass(F("search_name"), name="gin_trgm_ops"),
                OpClass(F("phone_digits"), name="gin_trgm_ops"),
                OpClass(Upper("email"), name="gin_trgm_ops"),
                name="patient_search_trigram",
            ),
            # Names that sound alike (Double Metaphone): "Jhon" finds John, where
            # trigrams of short names share too little.
            models.Index(
                F("organization"), sounds_like("first_name"), name="patient_first_name_sound"
            ),
            models.Index(
                F("organization"), sounds_like("last_name"), name="patient_last_name_sound"
            ),
            models.Index(fields=["organization", "date_of_birth"], name="patient_birth_date"),
            models.Index(
                fields=["organization", "merged_into"],
                name="patient_merged_into",
                condition=models.Q(merged_into__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def is_merged(self) -> bool:
        """Merged into another record: a tombstone, kept so that nothing is lost."""
        return self.merged_into_id is not None

    def search_key(self) -> str:
        """What `search_name` will hold for this row (before the database computes it)."""
        return " ".join(f"{self.first_name} {self.last_name}".lower().split())

    def local_today(self) -> datetime.date:
        """Today where the patient is treated (their home clinic's timezone)."""
        if self.home_clinic_id is None:
            return timezone.localdate()
        return timezone.localdate(timezone=self.home_clinic.zone)

    def clean(self) -> None:
        if self.date_of_birth and self.date_of_birth > self.local_today():
            raise ValidationError(
                {"date_of_birth": "A date of birth cannot be in the future."}, code="future"
            )
        if self.date_of_birth and self.date_of_birth < EARLIEST_BIRTH_DATE:
            raise ValidationError(
                {"date_of_birth": "A date of birth is after 1 January 1900."}, code="too_early"
            )

    def age_on(self, day: datetime.date) -> int:
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class ActivityLevel(models.TextChoices):
    SEDENTARY = "sedentary", "Mostly sitting"
    LIGHT = "light", "Light (walking, housework)"
    MODERATE = "moderate", "Moderate (exercise 1 to 3 times a week)"
    ACTIVE = "active", "Active (exercise 4 or more times a week)"
    ATHLETE = "athlete", "Training for a sport"


class PainArea(models.TextChoices):
    HEAD = "head", "Head and jaw"
    NECK = "neck", "Neck"
    SHOULDER = "shoulder", "Shoulder"
    UPPER_BACK = "upper_back", "Upper back"
    LOWER_BACK = "lower_back", "Lower back"
    CHEST = "chest", "Chest"
    ARM = "arm", "Arm and elbow"
    WRIST_HAND = "wrist_hand", "Wrist and hand"
    HIP = "hip", "Hip and buttock"
    THIGH = "thigh", "Thigh"
    KNEE = "knee", "Knee"
    LOWER_LEG = "lower_leg", "Lower leg and calf"
    ANKLE_FOOT = "ankle_foot", "Ankle and foot"


@tracked
class Intake(models.Model):
    """What the patient tells the clinic before the first session; one per patient, kept current."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="intake")
    presenting_complaint = models.TextField(help_text="What brings the patient in, in their words.")
    pain_areas = ArrayField(
        models.CharField(max_length=20, choices=PainArea.choices), default=list, blank=True
    )
    conditions = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    medications = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    allergies = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    activity_level = models.CharField(max_length=20, choices=ActivityLevel.choices)
    goals = models.TextField(blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "patient"], name="intake_one_per_patient"
            )
        ]

    def __str__(self) -> str:
        return f"Intake of {self.patient}"


@tracked
class Surgery(models.Model):
    """A past operation from the intake's medical history."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="surgeries")
    description = models.CharField(max_length=200)
    performed_on = models.DateField()

    class Meta:
        ordering = ["-performed_on"]
        verbose_name_plural = "surgeries"
        indexes = [models.Index(fields=["organization", "patient"], name="surgery_patient")]

    def __str__(self) -> str:
        return f"{self.description} ({self.performed_on:%Y-%m-%d})"


@tracked
class PatientInvitation(models.Model):
    """A link e-mailed to a patient to create (or connect) their portal login.

    Only the SHA-256 of the link's token is stored, so a leaked database does
    not let anyone accept an invitation.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="invitations")
    email = models.EmailField("e-mail")
    token_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty while the e-mail has not gone out."
    )
    send_failed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the e-mail could not be sent; the next click retries.",
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "patient"], name="invitation_patient")]

    def __str__(self) -> str:
        return f"Invitation for {self.patient} to {self.email}"
