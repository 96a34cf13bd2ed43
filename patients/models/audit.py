import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinics.audit_chain import HashChained, chain_order, hash_chain
from clinics.models import Organization
from patients.models.records import Patient, never_changed


class RecordPart(models.TextChoices):
    LIST = "list", "Patient list"
    DETAILS = "details", "Patient record"
    INTAKE = "intake", "Intake"
    SCREENING = "screening", "Screening answers"
    CONSENT = "consent", "Signed consent"
    CHART = "chart", "Session chart"
    AFTERCARE = "aftercare", "Aftercare plan"
    CHECK_IN = "check_in", "Check-in answers"
    EXPORT = "export", "Whole record, exported (FHIR)"


class ReadVia(models.TextChoices):
    PAGE = "page", "Page"
    API = "api", "API"
    ADMIN = "admin", "Admin"


class RecordReadQuerySet(models.QuerySet):
    def of_patients(self, patient_ids) -> "RecordReadQuerySet":
        """The reads of any of these patients' records: the rows naming one of them alone,
        and the list reads naming one of them among others."""
        patient_ids = list(patient_ids)
        return self.filter(Q(patient_id__in=patient_ids) | Q(patients__overlap=patient_ids))


class RecordRead(HashChained):
    """One read of a patient's record: who opened which part, when, from where, through what.

    A read of one patient's record names them in `patient`; a list that showed
    several patients (a calendar, a search) is one read naming them all in
    `patients`, as FHIR's AuditEvent names every entity of one event, so a
    week's calendar is one row rather than a thousand. `of_patients` finds both.

    Append-only (a trigger refuses UPDATE and DELETE), with its creation time
    and no inbound foreign keys, so it can be partitioned by month. Hash-chained
    per organisation by the database (clinics/audit_chain.py), so `verify_audit`
    finds a row changed, removed or moved by someone holding the database.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The ids of a list's patients are written from the rows just shown, so they need no
    # foreign key; a patient row is never deleted (merged ones are kept).
    patients = ArrayField(
        models.UUIDField(),
        null=True,
        blank=True,
        help_text="The patients a list showed, where one read named several.",
    )
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    part = models.CharField(max_length=20, choices=RecordPart.choices)
    via = models.CharField(max_length=10, choices=ReadVia.choices)
    item_id = models.UUIDField(
        null=True, blank=True, help_text="Which one was read, where a part has many (a chart)."
    )
    read_at = models.DateTimeField(default=timezone.now, editable=False)
    # From where: the request's address and browser (accounts.client.current_origin); none
    # for a read outside a request (a command), and for the rows written before they were kept.
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=1000, blank=True, default="")

    objects = RecordReadQuerySet.as_manager()

    class Meta:
        ordering = ["-read_at"]
        verbose_name = "record read"
        indexes = [
            models.Index(
                fields=["organization", "patient", "-read_at"], name="record_read_patient"
            ),
            models.Index(fields=["organization", "-read_at"], name="record_read_time"),
            GinIndex(fields=["patients"], name="record_read_patients"),
        ]
        constraints = [
            chain_order("patients_recordread"),
            models.CheckConstraint(
                name="record_read_names_one_patient_or_a_list",
                condition=(Q(patient__isnull=False) & Q(patients__isnull=True))
                | (Q(patient__isnull=True) & Q(patients__len__gt=1)),
                violation_error_message="A read names one patient, or a list of several.",
            ),
        ]
        triggers = [never_changed(), hash_chain()]

    @property
    def patient_ids(self) -> list:
        """Each patient this read names: the one, or the list's."""
        return [self.patient_id] if self.patient_id else list(self.patients)

    def __str__(self) -> str:
        whose = self.patient if self.patient_id else f"{len(self.patients)} patients"
        return f"{self.reader} read {self.get_part_display().lower()} of {whose}"
