"""The e-mails aftercare must send once: each try recorded before the send and after it."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from aftercare.models.check_ins import CheckIn
from clinics.models import Clinic, Organization
from patients.models.records import tracked


class EmailPurpose(models.TextChoices):
    CHECK_IN = "check_in", "Check-in to the patient"
    ALERT = "alert", "Alert to the therapist"
    ESCALATION = "escalation", "Escalation to the managers"


class EmailOutcome(models.TextChoices):
    SENDING = "sending", "Sending"
    ACCEPTED = "accepted", "Accepted by the mail server"
    REFUSED = "refused", "Not delivered: refused or not reached"
    NOT_SENT = "not_sent", "Not delivered: the sender stopped before handing it over"
    UNCERTAIN = "uncertain", "May have been delivered: the sender stopped before the answer"


@tracked
class EmailAttempt(models.Model):
    """One try at sending one aftercare e-mail, with its own Message-ID.

    Written as `sending` and committed before the mail server is contacted, and
    settled after its answer. A `sending` row whose sender is gone (its worker was
    killed) is settled by the next sender: `not_sent` when it had not yet handed
    the e-mail over, `uncertain` when it had, and the e-mail goes again. So an
    e-mail is never lost, is sent twice only after an `uncertain` try, and the
    record says which. See aftercare/services/emails.py.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    check_in = models.ForeignKey(CheckIn, on_delete=models.PROTECT, related_name="emails")
    purpose = models.CharField(max_length=12, choices=EmailPurpose.choices)
    message_id = models.CharField("Message-ID", max_length=255)
    recipients = ArrayField(models.EmailField())
    started_at = models.DateTimeField(default=timezone.now, editable=False)
    handed_over_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the mail server had accepted the recipients and "
        "was about to take the message: from then on it may be delivered.",
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=EmailOutcome.choices, default=EmailOutcome.SENDING
    )
    server_reply = models.TextField(blank=True, help_text="What the mail server answered.")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["started_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome=EmailOutcome.SENDING, finished_at__isnull=True)
                | (~Q(outcome=EmailOutcome.SENDING) & Q(finished_at__isnull=False)),
                name="email_attempt_finished_when_settled",
            ),
            models.UniqueConstraint(
                fields=["organization", "message_id"], name="email_attempt_message_id_unique"
            ),
            # The database's own guard against two senders of one e-mail at a time.
            models.UniqueConstraint(
                fields=["organization", "check_in", "purpose"],
                condition=Q(outcome=EmailOutcome.SENDING),
                name="one_email_attempt_in_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} ({self.get_outcome_display().lower()})"
