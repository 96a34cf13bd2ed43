"""A whole organisation's records as FHIR R4, exported in the background (Bulk Data style)."""

import uuid

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinics.models import Organization
from patients.models.records import tracked


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


@tracked
class FhirExport(models.Model):
    """One export of an organisation's records, asked for by one of its admins.

    The worker goes through the patients in chunks, in the order of their ids; each chunk's
    files, the progress and `last_patient` are written in one transaction, so a worker
    killed half-way leaves a whole number of chunks and the next one carries on after
    `last_patient`. `shared` names the resources written once for the whole export (the
    Organization, each Location, Practitioner, PractitionerRole and Questionnaire).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    types = ArrayField(
        models.CharField(max_length=40),
        default=list,
        blank=True,
        help_text="The resource types asked for (`_type`); empty for every type.",
    )
    status = models.CharField(
        max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    patients_total = models.PositiveIntegerField(default=0)
    patients_done = models.PositiveIntegerField(default=0)
    last_patient = models.UUIDField(null=True, blank=True, editable=False)
    chunks = models.PositiveIntegerField(default=0, editable=False)
    shared = ArrayField(models.CharField(max_length=80), default=list, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    progressed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the worker last took it or wrote a chunk."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status=ExportStatus.QUEUED, started_at__isnull=True)
                | Q(status=ExportStatus.RUNNING, started_at__isnull=False, finished_at__isnull=True)
                | Q(status=ExportStatus.COMPLETED, finished_at__isnull=False)
                | Q(status=ExportStatus.FAILED, finished_at__isnull=False) & ~Q(error="")
                | Q(status=ExportStatus.CANCELLED, finished_at__isnull=False),
                name="fhir_export_status_matches_its_times",
            ),
            models.CheckConstraint(
                condition=Q(patients_done__lte=models.F("patients_total")),
                name="fhir_export_done_within_total",
            ),
            # One unfinished export per admin and request: a double click or a retry of the
            # kick-off joins the export under way (patients.services.fhir_export).
            models.UniqueConstraint(
                fields=["organization", "requested_by", "types"],
                condition=Q(status__in=["queued", "running"]),
                name="fhir_export_one_unfinished_per_request",
            ),
        ]

    def __str__(self) -> str:
        return f"FHIR export of {self.requested_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.DeleteEvent(),
    exclude=["ndjson"],  # the resources are in their own rows' history; the file is a copy
)
class FhirExportFile(models.Model):
    """One chunk's resources of one type: NDJSON, a resource a line."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    export = models.ForeignKey(FhirExport, on_delete=models.CASCADE, related_name="files")
    resource_type = models.CharField(max_length=40)
    chunk = models.PositiveIntegerField()
    count = models.PositiveIntegerField()
    ndjson = models.TextField()
    written_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "export", "resource_type", "chunk"],
                name="fhir_export_file_once_per_chunk",
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource_type} ({self.count})"
