import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from clinics.models import Organization
from patients.contraindications import Contraindication
from patients.models.records import Channel, Patient, never_changed, tracked


@tracked
class Questionnaire(models.Model):
    """One version of an organisation's screening questions. Published versions never change."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200, default="Dry needling screening")
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        verbose_name = "screening questionnaire"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "version"],
                name="questionnaire_version_unique",
                violation_error_message="This version of the questionnaire already exists.",
            ),
            models.UniqueConstraint(
                fields=["organization", "id"], name="questionnaire_organization_id"
            ),
        ]
        triggers = [never_changed()]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"


@tracked
class Question(models.Model):
    """A yes/no question; a "yes" raises its contraindication flag (if it has one)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.PROTECT, related_name="questions"
    )
    key = models.SlugField(max_length=50, help_text="Stable name of the question across versions.")
    position = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=500)
    help_text = models.CharField(max_length=500, blank=True)
    contraindication = models.CharField(
        max_length=30,
        choices=Contraindication.choices,
        blank=True,
        help_text="The flag a yes raises; empty for a question asked for information only.",
    )

    class Meta:
        ordering = ["questionnaire", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "questionnaire", "key"], name="question_key_unique"
            ),
            # Target of the answers' foreign key, which ties an answer to its version.
            models.UniqueConstraint(
                fields=["organization", "questionnaire", "id"], name="question_in_questionnaire"
            ),
        ]
        triggers = [never_changed()]

    def __str__(self) -> str:
        return self.text


@tracked
class ScreeningResponse(models.Model):
    """A patient's answers to one questionnaire version, and the flags derived from them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="screenings")
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.PROTECT, related_name="responses"
    )
    flags = ArrayField(
        models.CharField(max_length=30, choices=Contraindication.choices),
        default=list,
        blank=True,
        help_text="Contraindications raised by the answers (age is derived when read).",
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    submitted_at = models.DateTimeField(default=timezone.now, editable=False)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    valid_until = models.DateTimeField(
        help_text="Set from the organisation's policy when submitted."
    )
    change_reported_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the patient reported a change in health; the screening is no longer valid.",
    )
    change_reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    change_note = models.TextField(blank=True)
    submission_key = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "submission_key"], name="screening_submission_once"
            ),
            models.UniqueConstraint(
                fields=["organization", "questionnaire", "id"], name="screening_questionnaire"
            ),
            models.CheckConstraint(
                condition=models.Q(change_reported_at__isnull=True)
                | models.Q(change_reported_at__gte=models.F("submitted_at")),
                name="screening_change_after_submission",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "patient", "-submitted_at"], name="screening_patient"
            )
        ]

    def __str__(self) -> str:
        return f"Screening of {self.patient} ({self.submitted_at:%Y-%m-%d})"


@tracked
class ScreeningAnswer(models.Model):
    """One answer; the database holds that its question is in the response's version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    response = models.ForeignKey(
        ScreeningResponse, on_delete=models.PROTECT, related_name="answers"
    )
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.PROTECT, related_name="+")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    answer = models.BooleanField()
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["question__position"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "response", "question"],
                name="screening_answer_once_per_question",
            )
        ]

    def __str__(self) -> str:
        return f"{self.question}: {'yes' if self.answer else 'no'}"
