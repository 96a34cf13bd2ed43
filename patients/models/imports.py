"""Each import of patients from another practice system: who brought what in, and how each
row of the file went (patients.imports, patients.services.imports)."""

import uuid

from django.conf import settings
from django.db import models
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
