import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Func, Value

from clinics.models import Organization
from patients.models.records import Channel, Patient, never_changed, tracked


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@tracked
class ConsentTemplate(models.Model):
    """One version of an organisation's consent text. Published versions never change."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200, default="Consent to dry needling")
    body = models.TextField()
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "version"],
                name="consent_template_version_unique",
                violation_error_message="This version of the consent already exists.",
            ),
            models.UniqueConstraint(
                fields=["organization", "id"], name="consent_template_organization_id"
            ),
        ]
        triggers = [never_changed()]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"


@tracked
class ConsentSignature(models.Model):
    """A signed consent: the exact text shown, its hash, who signed, when, where and how.

    Never edited or deleted (a database trigger refuses it); withdrawal is a
    ConsentWithdrawal row.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    template = models.ForeignKey(ConsentTemplate, on_delete=models.PROTECT, related_name="+")
    template_version = models.PositiveIntegerField()
    text = models.TextField(help_text="The exact text shown to the signer.")
    text_sha256 = models.CharField("SHA-256 of the text", max_length=64)
    signer_name = models.CharField(
        max_length=200, help_text="The full name the signer typed (the guardian's, for a minor)."
    )
    guardian_relationship = models.CharField(
        max_length=100, blank=True, help_text="Filled when a guardian signs for a minor."
    )
    signed_at = models.DateTimeField(auto_now_add=True)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.TextField(blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The login in use: the patient's in the portal, a staff member's in the clinic.",
    )
    submission_key = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-signed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "submission_key"], name="consent_submission_once"
            ),
            models.UniqueConstraint(fields=["organization", "id"], name="consent_organization_id"),
            # The stored hash is the hash of the stored text, whatever wrote the row.
            models.CheckConstraint(
                condition=models.Q(
                    text_sha256=Func(
                        Func(
                            Func(F("text"), Value("UTF8"), function="convert_to"),
                            function="sha256",
                        ),
                        Value("hex"),
                        function="encode",
                        output_field=models.CharField(),
                    )
                ),
                name="consent_hash_matches_text",
                violation_error_message="The stored hash does not match the consent text.",
            ),
            models.CheckConstraint(
                condition=~models.Q(signer_name=""),
                name="consent_signer_named",
                violation_error_message="Type the signer's full name.",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "patient", "-signed_at"], name="consent_patient")
        ]
        triggers = [never_changed()]

    def __str__(self) -> str:
        return f"Consent v{self.template_version} of {self.patient} ({self.signed_at:%Y-%m-%d})"

    @property
    def signed_by_guardian(self) -> bool:
        return bool(self.guardian_relationship)


@tracked
class ConsentWithdrawal(models.Model):
    """The patient withdrew a consent: no session may start on it from now on."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    signature = models.OneToOneField(
        ConsentSignature, on_delete=models.PROTECT, related_name="withdrawal"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    withdrawn_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField(blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-withdrawn_at"]
        triggers = [never_changed()]

    def __str__(self) -> str:
        return f"Withdrawal of {self.signature}"
