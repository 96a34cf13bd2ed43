"""Screening: every flag, the validity window, changes reported, and answers that do not fit."""

import datetime
import uuid

import pytest
from django.utils import timezone

from patients import defaults, selectors, services
from patients.contraindications import Contraindication, Severity, severity_of
from patients.exceptions import NotPermitted, ScreeningInvalid, SubmissionKeyReused
from patients.models import Channel, ScreeningAnswer, ScreeningResponse
from patients.selectors import ScreeningState
from tests.patients.factories import PatientFactory, answers_for, born_years_ago


@pytest.fixture
def questionnaire(world):
    return services.current_questionnaire(world.organization)


def screen(patient, by, *yes, **kwargs):
    questionnaire = services.current_questionnaire(patient.organization)
    return services.submit_screening(
        patient=patient, by=by, answers=answers_for(questionnaire, *yes), **kwargs
    )


def test_every_organisation_starts_with_the_default_questions(world, questionnaire):
    assert questionnaire.version == 1
    assert [question.key for question in questionnaire.questions.all()] == [
        key for key, *_ in defaults.SCREENING_QUESTIONS
    ]
    assert services.current_questionnaire(world.organization) == questionnaire
    assert services.current_questionnaire(world.other_organization) != questionnaire


@pytest.mark.parametrize(
    ("key", "contraindication"),
    [(key, flag) for key, _, _, flag in defaults.SCREENING_QUESTIONS],
)
def test_each_yes_raises_its_contraindication(world, patient, key, contraindication):
    response = screen(patient, world.therapist, key)
    assert response.flags == [contraindication]
    status = selectors.clinical_status(patient)
    assert [(flag.contraindication, flag.severity) for flag in status.flags] == [
        (contraindication, severity_of(contraindication))
    ]


def test_infection_at_the_area_is_absolute_and_the_rest_relative():
    absolute = {flag for flag in Contraindication if severity_of(flag) == Severity.ABSOLUTE}
    assert absolute == {Contraindication.UNDER_12, Contraindication.ACTIVE_INFECTION}


def test_all_no_raises_no_flag(world, patient):
    response = screen(patient, world.therapist)
    assert response.flags == []
    assert selectors.clinical_status(patient).flags == []


def test_several_yes_answers_raise_several_flags(world, patient):
    response = screen(patient, world.therapist, "pregnancy", "blood_thinners", "infection")
    assert response.flags == ["active_infection", "blood_thinners", "pregnancy"]
    status = selectors.clinical_status(patient)
    assert [flag.contraindication for flag in status.absolute_flags] == ["active_infection"]


@pytest.mark.parametrize(
    ("born", "under_12"),
    [
        (born_years_ago(12), False),  # twelfth birthday today
        (born_years_ago(12, days=1), True),  # twelve tomorrow
        (born_years_ago(9), True),
        (born_years_ago(40), False),
    ],
)
def test_age_under_12_is_derived_from_the_birth_date_not_asked(world, born, under_12):
    child = PatientFactory(home_clinic=world.kelowna, date_of_birth=born)
    screen(child, world.therapist)
    flags = [flag.contraindication for flag in selectors.clinical_status(child).absolute_flags]
    assert flags == (["under_12"] if under_12 else [])


def test_age_under_12_is_flagged_even_before_any_screening(world):
    child = PatientFactory(home_clinic=world.kelowna, date_of_birth=born_years_ago(9))
    status = selectors.clinical_status(child)
    assert [flag.contraindication for flag in status.flags] == ["under_12"]
    assert status.screening_state == ScreeningState.MISSING


def test_answers_are_kept_with_their_questionnaire_version(world, patient, questionnaire):
    response = screen(patient, world.therapist, "fainting")
    answers = ScreeningAnswer.objects.filter(response=response)
    assert answers.count() == questionnaire.questions.count()
    assert {answer.questionnaire_id for answer in answers} == {questionnaire.pk}
    assert answers.get(question__key="fainting").answer is True


def test_a_screening_is_valid_for_the_organisations_period(world, patient):
    response = screen(patient, world.therapist)
    assert response.valid_until - response.submitted_at == pytest.approx(
        datetime.timedelta(days=90), abs=datetime.timedelta(seconds=5)
    )
    just_before = response.valid_until - datetime.timedelta(minutes=1)
    assert selectors.clinical_status(patient, now=just_before).screening_valid
    expired = selectors.clinical_status(patient, now=response.valid_until)
    assert expired.screening_state == ScreeningState.EXPIRED
    assert "expired" in " ".join(alert.message for alert in expired.alerts)


def test_the_organisation_sets_the_validity_period(world, patient):
    services.save_policy(
        organization=world.organization, by=world.org_admin, screening_valid_days=30
    )
    response = screen(patient, world.therapist)
    assert (response.valid_until - response.submitted_at).days == 30
    later = timezone.now() + datetime.timedelta(days=31)
    assert selectors.clinical_status(patient, now=later).screening_state == ScreeningState.EXPIRED


def test_only_an_organisation_admin_sets_the_policy(world):
    with pytest.raises(NotPermitted):
        services.save_policy(
            organization=world.organization, by=world.manager, screening_valid_days=30
        )


def test_a_reported_change_ends_the_screening_until_answered_again(world, patient):
    screen(patient, world.therapist)
    changed = services.report_health_change(patient=patient, by=patient.user, note="Now pregnant")
    assert len(changed) == 1
    status = selectors.clinical_status(patient)
    assert status.screening_state == ScreeningState.CHANGED
    assert not status.screening_valid
    assert services.report_health_change(patient=patient, by=patient.user) == []
    assert ScreeningResponse.objects.get().change_note == "Now pregnant"

    screen(patient, patient.user, "pregnancy")
    assert selectors.clinical_status(patient).screening_valid


def test_the_front_desk_records_a_change_but_cannot_answer_the_screening(world, patient):
    screen(patient, world.therapist)
    services.report_health_change(patient=patient, by=world.front_desk)
    with pytest.raises(NotPermitted):
        screen(patient, world.front_desk)


def test_the_patient_answers_their_own_screening_in_the_portal(world, patient):
    response = screen(patient, patient.user, "needle_phobia")
    assert response.channel == Channel.PORTAL
    assert response.submitted_by == patient.user
    assert screen(patient, world.therapist).channel == Channel.CLINIC


def test_a_patient_cannot_answer_for_another_patient(world, patient):
    other = PatientFactory(home_clinic=world.kelowna)
    with pytest.raises(NotPermitted):
        screen(other, patient.user)
    assert not ScreeningResponse.objects.exists()


def test_an_answer_for_a_question_not_in_this_version_is_refused(world, patient, questionnaire):
    foreign = services.current_questionnaire(world.other_organization).questions.first()
    answers = answers_for(questionnaire)
    answers[foreign] = False
    with pytest.raises(ScreeningInvalid) as refused:
        services.submit_screening(patient=patient, by=world.therapist, answers=answers)
    assert refused.value.field == "answers"
    assert f"Question {foreign.pk} is not in version 1" in refused.value.message
    assert not ScreeningResponse.objects.exists()
    assert not ScreeningAnswer.objects.exists()


def test_every_question_must_be_answered(world, patient, questionnaire):
    answers = answers_for(questionnaire)
    del answers[questionnaire.questions.get(key="pregnancy")]
    with pytest.raises(ScreeningInvalid) as refused:
        services.submit_screening(patient=patient, by=world.therapist, answers=answers)
    assert "1 unanswered" in refused.value.message
    assert "pregnant" in refused.value.message


def test_an_answer_must_be_yes_or_no(world, patient, questionnaire):
    answers = answers_for(questionnaire)
    answers[questionnaire.questions.first()] = "maybe"
    with pytest.raises(ScreeningInvalid):
        services.submit_screening(patient=patient, by=world.therapist, answers=answers)


def test_answers_to_a_replaced_version_are_refused(world, patient, questionnaire):
    services.publish_questionnaire(
        organization=world.organization,
        by=world.org_admin,
        title="Screening 2027",
        questions=[{"key": "pregnancy", "text": "Pregnant?", "contraindication": "pregnancy"}],
    )
    with pytest.raises(ScreeningInvalid) as refused:
        services.submit_screening(
            patient=patient,
            by=world.therapist,
            questionnaire=questionnaire,
            answers=answers_for(questionnaire),
        )
    assert refused.value.field == "questionnaire"
    assert "version 2 has replaced it" in refused.value.message


def test_the_same_submission_twice_records_one_screening(world, patient):
    key = uuid.uuid4()
    first = screen(patient, world.therapist, submission_key=key)
    again = screen(patient, world.therapist, "pregnancy", submission_key=key)
    assert again.pk == first.pk
    assert ScreeningResponse.objects.count() == 1


def test_details_given_with_an_answer_are_kept(world, patient, questionnaire):
    answers = answers_for(questionnaire)
    thinners = questionnaire.questions.get(key="blood_thinners")
    answers[thinners] = (True, "  Apixaban 5 mg twice daily ")
    response = services.submit_screening(patient=patient, by=world.therapist, answers=answers)
    assert response.answers.get(question=thinners).detail == "Apixaban 5 mg twice daily"


def test_publishing_questions_is_for_organisation_admins_with_sound_questions(world, questionnaire):
    question = {"key": "pregnancy", "text": "Pregnant?", "contraindication": "pregnancy"}
    with pytest.raises(NotPermitted):
        services.publish_questionnaire(
            organization=world.organization, by=world.manager, title="x", questions=[question]
        )
    for questions, message in [
        ([], "at least one question"),
        ([question, question], "repeated: pregnancy"),
        ([{"key": "age", "text": "Under 12?", "contraindication": "under_12"}], "date of birth"),
    ]:
        with pytest.raises(ScreeningInvalid) as refused:
            services.publish_questionnaire(
                organization=world.organization, by=world.org_admin, title="x", questions=questions
            )
        assert message in refused.value.message
    version = services.publish_questionnaire(
        organization=world.organization, by=world.org_admin, title="x", questions=[question]
    )
    assert version.version == 2


def test_a_submission_key_reused_for_another_patient_is_refused(world, patient):
    key = uuid.uuid4()
    screen(patient, world.therapist, submission_key=key)
    other = PatientFactory(home_clinic=world.kelowna)
    with pytest.raises(SubmissionKeyReused):
        screen(other, world.therapist, submission_key=key)
    assert not ScreeningResponse.objects.filter(patient=other).exists()


def test_a_shorter_period_applies_at_once_and_a_longer_one_stretches_nothing(world, patient):
    response = screen(patient, world.therapist)
    services.save_policy(
        organization=world.organization, by=world.org_admin, screening_valid_days=30
    )
    in_40_days = response.submitted_at + datetime.timedelta(days=40)
    assert selectors.clinical_status(patient, now=in_40_days).screening_state == "expired"
    services.save_policy(
        organization=world.organization, by=world.org_admin, screening_valid_days=365
    )
    in_100_days = response.submitted_at + datetime.timedelta(days=100)
    assert selectors.clinical_status(patient, now=in_100_days).screening_state == "expired"
