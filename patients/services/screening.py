"""Screening: answering the questionnaire, deriving contraindication flags, reporting changes."""

import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from patients import selectors
from patients.exceptions import NotPermitted, ScreeningInvalid, SubmissionKeyReused
from patients.models import (
    Channel,
    Patient,
    Question,
    Questionnaire,
    ScreeningAnswer,
    ScreeningResponse,
)
from patients.services.forms import current_questionnaire, hold_published_versions, policy_for


def derive_flags(answers: dict[Question, bool]) -> list[str]:
    """The contraindications a set of answers raises: each question answered yes that has one."""
    return sorted({question.contraindication for question, yes in answers.items() if yes} - {""})


@transaction.atomic
def submit_screening(
    *,
    patient: Patient,
    by,
    answers: dict,
    questionnaire: Questionnaire | None = None,
    submission_key=None,
) -> ScreeningResponse:
    """Record the patient's answers to the current questionnaire and the flags they raise.

    `answers` maps each question (or its id) to True/False, or to a pair
    (True/False, detail). Every question of the version must be answered, and
    only those. The same `submission_key` twice returns the first response.
    """
    _check_may_answer(patient, by)
    if submission_key is not None:
        earlier = ScreeningResponse.objects.filter(
            organization_id=patient.organization_id, submission_key=submission_key
        ).first()
        if earlier is not None:
            return _same_patient(earlier, patient)
    # Version 1 is created on first use before the shared hold: creating it
    # needs the organisation row exclusively.
    current_questionnaire(patient.organization)
    hold_published_versions(patient.organization)
    current = current_questionnaire(patient.organization)
    questionnaire = questionnaire or current
    if questionnaire.pk != current.pk:
        raise ScreeningInvalid(
            f"These answers are for version {questionnaire.version} of the screening, but "
            f"version {current.version} has replaced it. Reload the form and answer again.",
            field="questionnaire",
        )
    questions = {str(question.pk): question for question in questionnaire.questions.all()}
    given = {str(getattr(key, "pk", key)): value for key, value in answers.items()}
    unknown = [key for key in given if key not in questions]
    if unknown:
        raise ScreeningInvalid(
            f"Question {unknown[0]} is not in version {questionnaire.version} of the screening.",
            field="answers",
        )
    missing = [question for key, question in questions.items() if key not in given]
    if missing:
        raise ScreeningInvalid(
            f"Answer every question; {len(missing)} unanswered, the first: “{missing[0].text}”",
            field="answers",
        )
    parsed = {questions[key]: _parse(value, questions[key]) for key, value in given.items()}
    now = timezone.now()
    response = ScreeningResponse(
        organization_id=patient.organization_id,
        patient=patient,
        questionnaire=questionnaire,
        flags=derive_flags({question: yes for question, (yes, _) in parsed.items()}),
        channel=_channel(patient, by),
        submitted_by=by,
        submitted_at=now,
        valid_until=now + _validity(patient),
        submission_key=submission_key,
    )
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError:  # the same submission, committed a moment ago
        return ScreeningResponse.objects.get(
            organization_id=patient.organization_id, submission_key=submission_key
        )
    ScreeningAnswer.objects.bulk_create(
        ScreeningAnswer(
            organization_id=patient.organization_id,
            response=response,
            questionnaire=questionnaire,
            question=question,
            answer=yes,
            detail=detail,
        )
        for question, (yes, detail) in parsed.items()
    )
    return response


@transaction.atomic
def report_health_change(*, patient: Patient, by, note: str = "") -> list[ScreeningResponse]:
    """The patient's health changed: every screening still open stops being valid.

    Reporting twice changes nothing the second time.
    """
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if not selectors.may(by, "change", ScreeningResponse, patient):
        raise NotPermitted("Your role does not allow you to report a change for this patient.")
    changed = list(
        ScreeningResponse.objects.select_for_update().filter(
            patient=patient, change_reported_at__isnull=True
        )
    )
    now = timezone.now()
    for response in changed:
        response.change_reported_at = now
        response.change_reported_by = by
        response.change_note = note.strip()
        response.save(update_fields=["change_reported_at", "change_reported_by", "change_note"])
    return changed


def _same_patient(earlier: ScreeningResponse, patient: Patient) -> ScreeningResponse:
    if earlier.patient_id != patient.pk:
        raise SubmissionKeyReused()
    return earlier


def _check_may_answer(patient: Patient, by) -> None:
    if not selectors.may(by, "add", ScreeningResponse, patient):
        raise NotPermitted("Your role does not allow you to record screening answers.")


def _parse(value, question: Question) -> tuple[bool, str]:
    detail = ""
    if isinstance(value, tuple | list):
        value, detail = value
    if not isinstance(value, bool):
        raise ScreeningInvalid(f"Answer “{question.text}” with yes or no.", field="answers")
    return value, (detail or "").strip()[:500]


def _channel(patient: Patient, by) -> str:
    return (
        Channel.PORTAL
        if patient.user_id is not None and patient.user_id == by.pk
        else Channel.CLINIC
    )


def _validity(patient: Patient) -> datetime.timedelta:
    return datetime.timedelta(days=policy_for(patient.organization).screening_valid_days)
