"""Asking a patient to fill in their forms: each request staff sent, and what it asked."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinics.models import Organization
from patients.models.records import Patient, PatientInvitation, tracked


class PatientForm(models.TextChoices):
    """A form the patient fills in before needling."""

    SCREENING = "screening", "Screening questions"
    CONSENT = "consent", "Consent to dry needling"


class FormsSentAs(models.TextChoices):
    INVITATION = "invitation", "Portal invitation"
    REMINDER = "reminder", "Reminder e-mail"


@tracked
class FormsRequest(models.Model):
    """One "send the patient the forms": to whom, by whom, when, and which forms it asked for.

    Written by patients.services.send_forms. A patient without a portal login
    gets the portal invitation (`invitation`); one with a login a reminder
    e-mail with a link to each form. The row is also what stops a double
    click from sending twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="forms_requests")
    forms = ArrayField(
        models.CharField(max_length=20, choices=PatientForm.choices),
        help_text="What the patient was asked to fill in.",
    )
    sent_as = models.CharField(max_length=20, choices=FormsSentAs.choices)
    email = models.EmailField("e-mail", help_text="Where it was sent.")
    invitation = models.ForeignKey(
        PatientInvitation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The portal invitation sent, for a patient without a login.",
    )
    sent_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    send_failed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the reminder could not be e-mailed; the next click tries again.",
    )

    class Meta:
        verbose_name = "forms request"
        ordering = ["-sent_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(forms=[]),
                name="forms_request_asks_for_a_form",
                violation_error_message="A forms request asks for at least one form.",
            ),
            # An invitation is the invitation sent; a reminder goes to a login, no invitation.
            models.CheckConstraint(
                condition=Q(sent_as=FormsSentAs.INVITATION, invitation__isnull=False)
                | Q(sent_as=FormsSentAs.REMINDER, invitation__isnull=True),
                name="forms_request_invitation_when_invited",
                violation_error_message="A forms request names its invitation exactly when it "
                "was sent as one.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "patient", "-sent_at"], name="forms_request_patient"
            )
        ]

    def __str__(self) -> str:
        return f"Forms for {self.patient} ({self.sent_at:%Y-%m-%d %H:%M})"
