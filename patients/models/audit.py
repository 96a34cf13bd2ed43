import uuid

from django.conf import settings
from django.db import models
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


class ReadVia(models.TextChoices):
    PAGE = "page", "Page"
    API = "api", "API"
    ADMIN = "admin", "Admin"


class RecordRead(HashChained):
    """One read of a patient's record: who opened which part, when, from where, through what.

    Append-only (a trigger refuses UPDATE and DELETE), with its creation time
    and no inbound foreign keys, so it can be partitioned by month. Hash-chained
    per organisation by the database (clinics/audit_chain.py), so `verify_audit`
    finds a row changed, removed or moved by someone holding the database.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
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

    class Meta:
        ordering = ["-read_at"]
        verbose_name = "record read"
        indexes = [
            models.Index(
                fields=["organization", "patient", "-read_at"], name="record_read_patient"
            ),
            models.Index(fields=["organization", "-read_at"], name="record_read_time"),
        ]
        constraints = [chain_order("patients_recordread")]
        triggers = [never_changed(), hash_chain()]

    def __str__(self) -> str:
        return f"{self.reader} read {self.get_part_display().lower()} of {self.patient}"
