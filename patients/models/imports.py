"""Each import of patients from another practice system: who brought what in, and how each
row of the file went (patients.imports, patients.services.imports)."""

import uuid

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinics.models import Clinic, Organization
from patients.models.records import never_changed, tracked


@tracked
class PatientImport(models.Model):
    """One import that was carried out: written in the transaction that registered its
    patients, never changed. Its report lists every row of the file (line, outcome, the
    record it became or matched, the reasons)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Where the patients it registered are registered.",
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    imported_at = models.DateTimeField(default=timezone.now, editable=False)
    source_system = models.CharField(max_length=60)
    file_name = models.CharField(max_length=255, blank=True)
    mapping = models.JSONField(help_text="Which column of the file held each field.")
    date_format = models.CharField(max_length=3)
    include_duplicates = models.BooleanField(default=False)
    rows = models.PositiveIntegerField()
    created = models.PositiveIntegerField()
    already_imported = models.PositiveIntegerField()
    duplicates = models.PositiveIntegerField()
    refused = models.PositiveIntegerField()
    report = models.JSONField(default=list)

    class Meta:
        triggers = [never_changed()]
        constraints = [
            # The likely duplicates are among the rows created when the import took them.
            models.CheckConstraint(
                condition=models.Q(
                    rows__gte=models.F("created")
                    + models.F("already_imported")
                    + models.F("refused")
                ),
                name="patient_import_counts_within_its_rows",
            )
        ]

    def __str__(self) -> str:
        return f"Import from {self.source_system} of {self.imported_at:%Y-%m-%d %H:%M}"


class ImportFileStatus(models.TextChoices):
    MAPPING = "mapping", "Columns to choose"
    CHECKING = "checking", "Being checked"
    CHECKED = "checked", "Checked"
    IMPORTING = "importing", "Being imported"
    IMPORTED = "imported", "Imported"
    FAILED = "failed", "Stopped"


WORKING = (ImportFileStatus.CHECKING, ImportFileStatus.IMPORTING)
"""What the task worker is doing to a file (patients.services.import_files)."""


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    # The file and its dry run are copies of what the import records; the progress
    # changes every few hundred rows.
    exclude=["text", "report", "stage", "done", "total", "progressed_at"],
)
class PatientImportFile(models.Model):
    """A file of patients an organisation admin uploaded on the import page: the columns
    chosen for its fields, its dry run, then its import, each run by the task worker.

    The file's text is kept until it is imported, then emptied: the import's record
    (PatientImport) keeps its report.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Where the patients it registers are registered.",
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who asked for the last check or the import: the worker runs as them.",
    )
    attempt = models.PositiveIntegerField(
        default=0,
        help_text="The checks and the import asked for: a task of an older one does nothing.",
    )
    source_system = models.CharField(max_length=60)
    file_name = models.CharField(max_length=255, blank=True)
    text = models.TextField(blank=True)
    headers = models.JSONField(default=list)
    rows = models.PositiveIntegerField(default=0)
    mapping = models.JSONField(default=dict, help_text="Which column of the file holds each field.")
    date_format = models.CharField(max_length=3, default="iso")
    include_duplicates = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=ImportFileStatus.choices, default=ImportFileStatus.MAPPING
    )
    stage = models.CharField(
        max_length=10, blank=True, help_text="What the worker is at: checked or imported rows."
    )
    done = models.PositiveIntegerField(default=0, help_text="Rows the worker is past.")
    total = models.PositiveIntegerField(default=0)
    progressed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the worker last took it or told its progress."
    )
    counts = models.JSONField(default=dict, help_text="The dry run's rows by outcome.")
    report = models.JSONField(default=list, help_text="The dry run's rows, with their reasons.")
    error = models.TextField(blank=True)
    patient_import = models.OneToOneField(
        PatientImport, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status=ImportFileStatus.IMPORTED, patient_import__isnull=False)
                | (~Q(status=ImportFileStatus.IMPORTED) & Q(patient_import__isnull=True)),
                name="patient_import_file_imported_when_it_says_so",
            ),
            models.CheckConstraint(
                condition=~Q(status=ImportFileStatus.FAILED) | ~Q(error=""),
                name="patient_import_file_stopped_says_why",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.file_name or 'File'} from {self.source_system}"
