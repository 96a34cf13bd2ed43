"""Break-glass: a clinician's emergency access to a patient of another site of the organisation."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length, Trim
from django.db.models.lookups import GreaterThanOrEqual

from clinics.models import Organization
from patients.models.records import Patient, never_changed, tracked

REASON_MIN_LENGTH = 15
"""Long enough that "emergency" alone is not a reason; short enough to type in one."""


@tracked
class EmergencyAccess(models.Model):
    """One break-glass access: who opened which patient's record, why, from when until when.

    Written once by patients.services.emergency.grant_emergency_access and never
    changed (a trigger refuses it): it ends at `expires_at`, never earlier, so the
    row says to the end what was allowed. While it holds, clinics.access lets its
    clinician read (never write) the patient's records, as long as they still hold
    a clinical role in the organisation.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The clinician who broke the glass.",
    )
    reason = models.TextField(help_text="Why the clinician must see this patient's record.")
    granted_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "emergency access"
        verbose_name_plural = "emergency accesses"
        ordering = ["-granted_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("granted_at")),
                name="emergency_access_ends_after_it_starts",
                violation_error_message="An emergency access ends after it is granted.",
            ),
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length(Trim("reason")), REASON_MIN_LENGTH),
                name="emergency_access_has_a_reason",
                violation_error_message=(
                    f"reason: say why, in at least {REASON_MIN_LENGTH} characters."
                ),
            ),
        ]
        indexes = [
            # The subquery of clinics.access: a clinician's accesses held now.
            models.Index(
                fields=["organization", "user", "expires_at"], name="emergency_access_held"
            ),
            models.Index(fields=["organization", "-granted_at"], name="emergency_access_granted"),
        ]
        triggers = [never_changed()]

    def __str__(self) -> str:
        return f"Emergency access to {self.patient} by {self.user}"
