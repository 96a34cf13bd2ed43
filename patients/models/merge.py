"""Two records of one person made one: the organisation's record of every merge."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from clinics.models import Organization
from patients.models.records import Patient, never_changed, tracked


@tracked
class PatientMerge(models.Model):
    """One merge: which record was kept, which went into it, who merged them, when and why.

    Written once by patients.services.merge.merge_patients and never changed (a
    trigger refuses it). The record merged away stays as a tombstone
    (`Patient.merged_into`); the rows that moved keep their own history.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    kept = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The record that stays, with everything of the other one.",
    )
    merged = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The record merged away: now a tombstone pointing at the kept one.",
    )
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    merged_at = models.DateTimeField(default=timezone.now, editable=False)
    reason = models.TextField(help_text="Why the two records are the same person.")
    moved = models.JSONField(
        default=dict,
        blank=True,
        help_text="How many rows of each kind moved to the kept record, by their name.",
    )
    filled = ArrayField(
        models.CharField(max_length=50),
        default=list,
        blank=True,
        help_text="Details the kept record lacked and took from the merged one.",
    )
    settled = models.JSONField(
        default=list,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="Rows both records had where a patient has one (an intake, a recall notice "
        "for one needle lot): which the kept record kept, which stays with the merged record, "
        "and what the one no longer current said.",
    )
    login_moved = models.BooleanField(
        default=False, help_text="The merged record's portal login moved to the kept one."
    )

    class Meta:
        verbose_name = "patient merge"
        ordering = ["-merged_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "merged"], name="patient_merged_once"),
            models.CheckConstraint(
                condition=~Q(kept=F("merged")),
                name="patient_merge_two_records",
                violation_error_message="A record cannot be merged into itself.",
            ),
            models.CheckConstraint(
                condition=~Q(reason=""),
                name="patient_merge_has_a_reason",
                violation_error_message="Say why the two records are the same person.",
            ),
        ]
        indexes = [models.Index(fields=["organization", "kept"], name="patient_merge_kept")]
        triggers = [never_changed()]

    def __str__(self) -> str:
        return f"{self.merged} merged into {self.kept} ({self.merged_at:%Y-%m-%d})"
