"""Check-ins: asking the patient how they are at set hours after a session, and their answers."""

import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from clinics.models import Clinic, Organization
from patients.models import Patient
from patients.models.records import never_changed, tracked
from sessions.models import TreatmentSession


@tracked
class CheckIn(models.Model):
    """One check-in of a signed session: when it is due, and whether the e-mail went out."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="check_ins")
    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="check_ins"
    )
    hours_after = models.PositiveSmallIntegerField(
        help_text="Hours after the needling ended (as charted, else the signature)."
    )
    due_at = models.DateTimeField()
    closes_at = models.DateTimeField(
        help_text="After this the link expires and no answer is taken."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a failed e-mail is tried again."
    )
    last_send_error = models.TextField(blank=True)
    # Chest pain or shortness of breath, sent before the rest of the answers: filed at
    # once (the urgent alert with it), the rest answered later on this same check-in.
    red_flags_reported_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the patient first reported a red flag before answering the rest.",
    )
    chest_pain_reported = models.BooleanField(
        default=False, help_text="The patient reported chest pain before answering the rest."
    )
    short_of_breath_reported = models.BooleanField(
        default=False,
        help_text="The patient reported shortness of breath, or pain when breathing in, before "
        "answering the rest.",
    )

    RED_FLAGS = {"chest_pain": "chest_pain_reported", "short_of_breath": "short_of_breath_reported"}
    """The questions whose "yes" is filed at once, whatever else is missing: each with the
    field that keeps it."""

    class Meta:
        verbose_name = "check-in"
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session", "hours_after"],
                name="check_in_once_per_time",
            ),
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("due_at")), name="check_in_closes_after_it_is_due"
            ),
            models.UniqueConstraint(fields=["organization", "id"], name="check_in_organization_id"),
            models.CheckConstraint(
                condition=Q(
                    red_flags_reported_at__isnull=True,
                    chest_pain_reported=False,
                    short_of_breath_reported=False,
                )
                | (
                    Q(red_flags_reported_at__isnull=False)
                    & (Q(chest_pain_reported=True) | Q(short_of_breath_reported=True))
                ),
                name="check_in_red_flags_reported_with_their_time",
            ),
        ]
        triggers = [
            # A red flag reported is the patient's evidence: it may be joined by
            # another, never withdrawn, and its time never moves.
            pgtrigger.Protect(
                name="reported_red_flags_stay",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__red_flags_reported_at__isnull=False)
                & (
                    pgtrigger.Q(
                        new__red_flags_reported_at__df=pgtrigger.F("old__red_flags_reported_at")
                    )
                    | pgtrigger.Q(old__chest_pain_reported=True, new__chest_pain_reported=False)
                    | pgtrigger.Q(
                        old__short_of_breath_reported=True, new__short_of_breath_reported=False
                    )
                ),
            )
        ]
        indexes = [
            # The queue of e-mails to send (tasks.catch_up: due, not closed, not sent): sent
            # rows leave it, and ordered by when they close, those never sent (answered
            # first, or of a patient who cannot be e-mailed) fall out of the range scanned
            # once they close: by due_at alone the sweep read every one of them, for good.
            models.Index(
                fields=["closes_at", "due_at"],
                name="check_in_to_send",
                condition=Q(sent_at__isnull=True),
            ),
            models.Index(fields=["organization", "patient", "due_at"], name="check_in_patient"),
        ]

    def __str__(self) -> str:
        return f"{self.hours_after} h check-in of {self.session}"

    @property
    def is_open(self) -> bool:
        """Taking answers now: due, and not yet closed."""
        return self.due_at <= timezone.now() < self.closes_at

    @property
    def is_closed(self) -> bool:
        return timezone.now() >= self.closes_at

    @property
    def red_flags_reported(self) -> list[str]:
        """The questions (RED_FLAGS) the patient said yes to before answering the rest."""
        return [question for question, field in self.RED_FLAGS.items() if getattr(self, field)]


class Bruising(models.TextChoices):
    NONE = "none", "None"
    SOME = "some", "A little"
    A_LOT = "a_lot", "A lot, or spreading"


class Fatigue(models.TextChoices):
    NONE = "none", "No"
    SOME = "some", "A little tired"
    A_LOT = "a_lot", "Very tired"


class Trend(models.TextChoices):
    BETTER = "better", "Better"
    SAME = "same", "About the same"
    WORSE = "worse", "Worse"


class Triage(models.TextChoices):
    FILED = "filed", "Filed"
    ALERT = "alert", "Alert"
    URGENT = "urgent", "Urgent"


score = [MinValueValidator(0), MaxValueValidator(10)]

COMMENTS_LIMIT = 5000
"""The longest comment a check-in takes, in characters. A longer one is refused, never cut."""


@tracked
class CheckInAnswer(models.Model):
    """The patient's answers to one check-in, and how the triage rules read them. Never changed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    check_in = models.OneToOneField(CheckIn, on_delete=models.PROTECT, related_name="answer")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    answered_at = models.DateTimeField(default=timezone.now, editable=False)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    soreness = models.PositiveSmallIntegerField(validators=score)
    pain = models.PositiveSmallIntegerField(
        "pain compared with before the session",
        validators=score,
        help_text="0 is no pain, 10 the worst imaginable, on the scale used before the session.",
    )
    bruising = models.CharField(
        max_length=10,
        choices=Bruising.choices,
        blank=True,
        help_text="Empty when not asked: a check-in after a session without needling asks "
        "nothing about where needles went in (aftercare.questions).",
    )
    fatigue = models.CharField(max_length=10, choices=Fatigue.choices)
    trend = models.CharField("symptoms", max_length=10, choices=Trend.choices)
    chest_pain = models.BooleanField("chest pain")
    short_of_breath = models.BooleanField("shortness of breath, or pain when breathing in")
    infection_signs = models.BooleanField(
        "redness, warmth, swelling or pus where a needle went in, or a fever",
        help_text="After a session without needling, asked of the treated area: redness, "
        "warmth or swelling there, or a fever.",
    )
    nerve_symptoms = models.BooleanField("tingling, numbness or burning that has not gone away")
    comments = models.TextField(blank=True)
    triage = models.CharField(max_length=10, choices=Triage.choices)
    triage_reasons = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    submission_key = models.UUIDField(null=True, blank=True, editable=False)

    ANSWERS = (
        "chest_pain",
        "short_of_breath",
        "infection_signs",
        "nerve_symptoms",
        "soreness",
        "pain",
        "trend",
        "bruising",
        "fatigue",
        "comments",
    )
    """What the patient answers, red flags first, as the form asks it. A check-in asks them
    all, or fewer (aftercare.questions.asked)."""

    class Meta:
        verbose_name = "check-in answer"
        constraints = [
            models.CheckConstraint(
                condition=Q(soreness__gte=0, soreness__lte=10) & Q(pain__gte=0, pain__lte=10),
                name="check_in_answer_scores_in_range",
            ),
            models.CheckConstraint(
                condition=Q(triage="filed", triage_reasons__len=0)
                | (Q(triage__in=["alert", "urgent"]) & Q(triage_reasons__len__gt=0)),
                name="check_in_answer_triage_has_reasons",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("comments"), COMMENTS_LIMIT),
                name="check_in_answer_comments_within_the_limit",
            ),
        ]
        triggers = [never_changed()]

    def __str__(self) -> str:
        return f"Answers to the {self.check_in}"
