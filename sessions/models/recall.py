"""Recall notices: the e-mail telling a patient that needles of a recalled lot were used on them.

One per patient per lot in an organisation, held by a unique constraint, so a
patient is never e-mailed twice for one lot, whoever presses "notify" and
however often. A notice is queued, then sent or failed; a failed one, or one
queued for longer than `QUEUED_TOO_LONG` (its e-mail job was lost), may be sent
again; a sent one never changes (a trigger refuses it).

A notice belongs to the clinic that sends it: the clinic of the patient's first
session with the lot (`sessions.selectors.sending_clinics`), so the staff who
needled the patient send it and see it, wherever the patient's home clinic is.
"""

import datetime
import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinics.models import Clinic, Organization
from patients.models import Patient
from patients.models.records import tracked


class NoticeStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


QUEUED_TOO_LONG = datetime.timedelta(minutes=10)
"""A notice queued longer than this lost its e-mail job: the catch-up or staff send it again."""


class RecallNoticeQuerySet(models.QuerySet):
    def may_send_again(self, now: datetime.datetime) -> "RecallNoticeQuerySet":
        """Failed, or queued too long (`RecallNotice.may_send_again` for one notice)."""
        return self.filter(Q(status=NoticeStatus.FAILED) | self._stuck(now))

    def stuck(self, now: datetime.datetime) -> "RecallNoticeQuerySet":
        """Queued longer than QUEUED_TOO_LONG: their e-mail job was lost (or is far behind)."""
        return self.filter(self._stuck(now))

    @staticmethod
    def _stuck(now: datetime.datetime) -> Q:
        return Q(status=NoticeStatus.QUEUED, requested_at__lte=now - QUEUED_TOO_LONG)


@tracked
class RecallNotice(models.Model):
    """The recall e-mail to one patient for one needle lot: to whom, by whom, what came of it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The clinic that sends it: where the patient was first needled with the lot.",
    )
    lot_number = models.CharField(
        "needle lot number",
        max_length=40,
        help_text="As the needle sites record it: capitals, single spaces.",
    )
    email = models.EmailField(
        "e-mail address used", help_text="The patient's address when the notice was asked for."
    )
    status = models.CharField(
        max_length=6, choices=NoticeStatus.choices, default=NoticeStatus.QUEUED
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who asked for the notice to be sent (the last to ask, after a failure).",
    )
    requested_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    objects = RecallNoticeQuerySet.as_manager()

    class Meta:
        verbose_name = "recall notice"
        ordering = ["requested_at", "id"]
        triggers = [
            pgtrigger.Protect(
                name="sent_notice_unchanged",
                operation=pgtrigger.Update | pgtrigger.Delete,
                condition=pgtrigger.Q(old__status=NoticeStatus.SENT),
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "lot_number", "patient"],
                name="recall_notice_once_per_patient_and_lot",
                violation_error_message="This patient already has a notice for this lot.",
            ),
            models.CheckConstraint(
                condition=Q(status=NoticeStatus.QUEUED, sent_at__isnull=True)
                | Q(status=NoticeStatus.SENT, sent_at__isnull=False)
                | (
                    Q(status=NoticeStatus.FAILED, sent_at__isnull=True, failed_at__isnull=False)
                    & ~Q(last_error="")
                ),
                name="recall_notice_status_matches_its_times",
                violation_error_message="A sent notice has its time; a failed one its error.",
            ),
            models.CheckConstraint(
                condition=~Q(lot_number="") & ~Q(email=""), name="recall_notice_lot_and_address"
            ),
        ]

    def __str__(self) -> str:
        return f"Recall notice for lot {self.lot_number} to {self.email}"

    def stuck(self, now: datetime.datetime) -> bool:
        """Queued longer than QUEUED_TOO_LONG (as `RecallNoticeQuerySet.stuck`)."""
        return self.status == NoticeStatus.QUEUED and self.requested_at <= now - QUEUED_TOO_LONG

    def may_send_again(self, now: datetime.datetime) -> bool:
        """Failed, or stuck in the queue (as `RecallNoticeQuerySet.may_send_again`)."""
        return self.status == NoticeStatus.FAILED or self.stuck(now)
