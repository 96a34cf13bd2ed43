"""Starting a session: the gate before any needle (consent, screening, contraindications)."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from clinics import services as clinic_services
from clinics.exceptions import NotPermitted as ClinicNotPermitted
from clinics.models import Membership
from clinics.selectors import credentials_to_renew
from patients import services as patient_services
from sessions import services
from sessions.exceptions import NotPermitted, SessionStateRefused, StartRefused
from sessions.models import ContraindicationOverride, Status
from tests.patients.factories import PatientFactory, answers_for, born_years_ago, tomorrow_at


def screened(patient, by, *yes):
    questionnaire = patient_services.current_questionnaire(patient.organization)
    return patient_services.submit_screening(
        patient=patient, by=by, answers=answers_for(questionnaire, *yes)
    )


def consented(patient, by, **kwargs):
    return patient_services.sign_consent(
        patient=patient,
        by=by,
        template=patient_services.current_consent_template(patient.organization),
        signer_name=kwargs.pop("signer_name", patient.full_name),
        **kwargs,
    )


def booked(world, patient):
    return services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=tomorrow_at(10, clinic=world.kelowna),
        by=world.front_desk,
    )


def start(world, session, **kwargs):
    return services.start_session(session=session, by=world.therapist, **kwargs)


@pytest.fixture
def ready(world):
    """A patient with a valid consent, a fresh screening and no contraindication."""
    patient = PatientFactory(home_clinic=world.kelowna)
    screened(patient, world.therapist)
    consented(patient, world.therapist)
    return patient


def test_a_ready_patient_is_started_by_their_therapist(world, ready):
    session = start(world, booked(world, ready))
    assert session.status == Status.IN_PROGRESS
    assert session.started_by == world.therapist
    assert not ContraindicationOverride.objects.exists()
    assert start(world, session).started_at == session.started_at  # twice: the same start


@pytest.mark.parametrize(
    ("unready", "message"),
    [
        ("no consent", "There is no signed consent."),
        ("withdrawn", "The patient withdrew consent."),
        ("outdated", "The consent was signed on an older version"),
        ("no screening", "There is no screening."),
        ("expired", "The screening has expired."),
        ("changed", "The patient reported a change in health"),
        ("infection", "Active infection or skin lesion at the area is an absolute"),
        ("child", "Younger than 12 is an absolute contraindication."),
    ],
)
def test_starting_is_refused_saying_why(world, unready, message):
    born = born_years_ago(9) if unready == "child" else born_years_ago(40)
    patient = PatientFactory(home_clinic=world.kelowna, date_of_birth=born)
    if unready != "no screening":
        screened(patient, world.therapist, *(["infection"] if unready == "infection" else []))
    if unready not in ("no consent",):
        guardian = {"guardian_relationship": "Mother"} if unready == "child" else {}
        signature = consented(patient, world.therapist, **guardian)
        if unready == "withdrawn":
            patient_services.withdraw_consent(signature=signature, by=world.therapist)
    if unready == "outdated":
        patient_services.publish_consent_template(
            organization=world.organization, by=world.org_admin, title="Consent", body="v2"
        )
    if unready == "expired":
        patient_services.save_policy(
            organization=world.organization, by=world.org_admin, screening_valid_days=1
        )
        patient.screenings.update(valid_until=patient.screenings.get().submitted_at)
    if unready == "changed":
        patient_services.report_health_change(patient=patient, by=world.front_desk)
    session = booked(world, patient)
    with pytest.raises(StartRefused) as refused:
        start(world, session)
    assert message in refused.value.message
    session.refresh_from_db()
    assert session.status == Status.BOOKED


def test_an_outdated_consent_counts_when_the_organisation_says_so(world, ready):
    patient_services.publish_consent_template(
        organization=world.organization, by=world.org_admin, title="Consent", body="v2"
    )
    patient_services.save_policy(
        organization=world.organization, by=world.org_admin, outdated_consent_counts=True
    )
    assert start(world, booked(world, ready)).status == Status.IN_PROGRESS


def test_a_relative_contraindication_needs_a_recorded_reason(world):
    patient = PatientFactory(home_clinic=world.kelowna)
    screened(patient, world.therapist, "blood_thinners", "fainting")
    consented(patient, world.therapist)
    session = booked(world, patient)
    with pytest.raises(StartRefused) as refused:
        start(world, session, override_reason="   ")
    assert refused.value.field == "override_reason"
    assert "Takes blood thinners" in refused.value.message
    started = start(world, session, override_reason="INR checked today: 2.1; lying down")
    override = ContraindicationOverride.objects.get(session=started)
    assert override.contraindications == ["blood_thinners", "fainting"]
    assert (override.reason, override.recorded_by) == (
        "INR checked today: 2.1; lying down",
        world.therapist,
    )


def test_only_the_sessions_therapist_starts_it_and_only_once_booked(world, ready):
    session = booked(world, ready)
    for other in (world.front_desk, world.manager, world.vernon_therapist):
        with pytest.raises(NotPermitted):
            services.start_session(session=session, by=other)
    services.cancel_session(session=session, by=world.front_desk, reason="Ill")
    with pytest.raises(SessionStateRefused):
        start(world, session)


def test_an_expired_or_missing_credential_blocks_the_start(world, ready):
    session = booked(world, ready)
    role = Membership.objects.get(user=world.therapist)
    Membership.objects.filter(pk=role.pk).update(
        credential_expires_on=datetime.date.today() - datetime.timedelta(days=2)
    )
    with pytest.raises(StartRefused, match=r"credential .* expired on") as refused:
        start(world, session)
    assert refused.value.field == "therapist"
    Membership.objects.filter(pk=role.pk).update(credential="", credential_expires_on=None)
    with pytest.raises(StartRefused, match="No dry-needling credential is recorded"):
        start(world, session)
    clinic_services.record_credential(
        membership=role,
        by=world.manager,
        credential="Dry needling certificate DN-2026-004",
        expires_on=datetime.date.today() + datetime.timedelta(days=400),
    )
    assert start(world, session).status == Status.IN_PROGRESS


def test_managers_record_credentials_and_see_those_to_renew(world):
    role = Membership.objects.get(user=world.therapist)
    with pytest.raises(ClinicNotPermitted):
        clinic_services.record_credential(
            membership=role, by=world.therapist, credential="Mine", expires_on=None
        )
    with pytest.raises(ValidationError) as refused:
        clinic_services.record_credential(
            membership=role, by=world.manager, credential="  ", expires_on=None
        )
    assert set(refused.value.message_dict) == {"credential", "credential_expires_on"}
    soon = datetime.date.today() + datetime.timedelta(days=20)
    clinic_services.record_credential(
        membership=role, by=world.org_admin, credential="DN-1", expires_on=soon
    )
    to_renew = list(credentials_to_renew(world.org_admin))
    assert [membership.user for membership in to_renew] == [world.therapist]
    assert list(credentials_to_renew(world.other_admin)) == []


def test_nobody_records_their_own_credential(world):
    role = Membership.objects.get(user=world.therapist)
    Membership.objects.create(
        organization=world.organization,
        clinic=world.kelowna,
        user=world.manager,
        role="therapist",
        credential="Old",
        credential_expires_on=datetime.date.today(),
    )
    own = Membership.objects.get(user=world.manager, role="therapist")
    with pytest.raises(ClinicNotPermitted, match="Another manager"):
        clinic_services.record_credential(
            membership=own,
            by=world.manager,
            credential="DN-9",
            expires_on=datetime.date(2030, 1, 1),
        )
    clinic_services.record_credential(
        membership=role, by=world.manager, credential="DN-9", expires_on=datetime.date(2030, 1, 1)
    )


def test_another_therapist_gets_no_answer_from_a_session_already_started(world, ready):
    session = start(world, booked(world, ready))
    with pytest.raises(NotPermitted):
        services.start_session(session=session, by=world.front_desk)
