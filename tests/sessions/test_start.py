"""Starting a session: the gate before any needle (consent, screening, contraindications)."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import dateformat, timezone

from clinics import services as clinic_services
from clinics.exceptions import NotPermitted as ClinicNotPermitted
from clinics.models import Membership
from clinics.selectors import credentials_to_renew
from patients import services as patient_services
from sessions import services
from sessions.exceptions import NotPermitted, SessionStateRefused, StartRefused
from sessions.models import ContraindicationOverride, Status
from tests.patients.factories import (
    PatientFactory,
    answers_for,
    born_years_ago,
    day_at,
)
from tests.sessions.factories import next_clock_change, this_minute


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


def booked(world, patient, starts_at=None):
    """Booked by the front desk for `starts_at`, or this minute: a session to start today."""
    return services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=starts_at or this_minute(),
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


# --- The day rule: a booked session is started on its own day, on its clinic's clock ---------


def vancouver(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=zoneinfo.ZoneInfo("America/Vancouver"))


def test_tomorrows_session_is_refused_naming_its_day(world, ready):
    with time_machine.travel(vancouver(2026, 12, 7, 10, 0), tick=False):
        session = booked(world, ready, vancouver(2026, 12, 8, 10, 0))
        with pytest.raises(StartRefused) as refused:
            start(world, session)
    assert refused.value.message == (
        "This session is booked for Tuesday 8 December: it can be started on that day only."
    )
    assert refused.value.field == "starts_at"
    session.refresh_from_db()
    assert (session.status, session.started_at) == (Status.BOOKED, None)


def test_a_session_just_after_midnight_is_not_started_the_evening_before(world, ready):
    with time_machine.travel(vancouver(2026, 12, 31, 23, 50), tick=False):
        session = booked(world, ready, vancouver(2027, 1, 1, 0, 10))
        with pytest.raises(StartRefused) as refused:
            start(world, session)
    assert refused.value.message == (
        "This session is booked for Friday 1 January 2027: it can be started on that day only."
    )


def test_a_session_left_from_an_earlier_day_is_refused_saying_what_to_do(world, ready):
    monday, tuesday = (day_at(days, 9, clinic=world.kelowna) for days in (0, 1))
    with time_machine.travel(monday, tick=False):
        session = booked(world, ready, monday)
    with time_machine.travel(tuesday, tick=False), pytest.raises(StartRefused) as refused:
        start(world, session)
    # The year is named when it is not this one (on New Year's Day, say).
    day = dateformat.format(monday, "l j F" if monday.year == tuesday.year else "l j F Y")
    assert refused.value.message == (
        f"This session was booked for {day}: it can be started on that day only. Record a "
        "no-show or cancel it, and book the patient again."
    )


def ready_patient(world):
    patient = PatientFactory(home_clinic=world.kelowna)
    screened(patient, world.therapist)
    consented(patient, world.therapist)
    return patient


@pytest.mark.parametrize("zone", ["America/Vancouver", "America/Toronto", "Asia/Tokyo"])
def test_a_session_is_started_on_its_day_from_just_after_midnight_to_just_before(
    world, ready, zone
):
    world.kelowna.timezone = zone
    world.kelowna.save(update_fields=["timezone"])

    def at(days: int, hour: int, minute: int = 0) -> datetime.datetime:
        return day_at(days, hour, minute, clinic=world.kelowna)  # from today, as the test began

    evening, just_after_midnight, walk_in_at, before_midnight = (
        at(0, 20),
        at(1, 0, 5),
        at(1, 23, 45),
        at(1, 23, 55),
    )
    next_late, next_just_after = at(2, 23, 45), at(3, 0, 5)
    # Booked the evening before for 09:00; started at 00:05 on the clinic's clock.
    with time_machine.travel(evening, tick=False):
        morning = booked(world, ready, at(1, 9))
    with time_machine.travel(just_after_midnight, tick=False):
        assert start(world, morning).status == Status.IN_PROGRESS
    # A walk-in booked at 23:45 for 30 minutes belongs to the day it starts on: started
    # at 23:55; and one left unstarted is not started after midnight.
    late = ready_patient(world)
    with time_machine.travel(before_midnight, tick=False):
        walk_in = booked(world, late, walk_in_at)
        assert timezone.localdate(walk_in.ends_at, world.kelowna.zone) > walk_in_at.date()
        assert start(world, walk_in).status == Status.IN_PROGRESS
    with time_machine.travel(next_late, tick=False):
        unstarted = booked(world, ready_patient(world), next_late)
    with (
        time_machine.travel(next_just_after, tick=False),
        pytest.raises(StartRefused, match=r"was booked for .*: it can be started on that"),
    ):
        start(world, unstarted)


# Zones whose clocks still change (British Columbia keeps daylight time all year from
# November 2026, as the pinned tzdata says).
@pytest.mark.parametrize("zone", ["America/Toronto", "America/Halifax"])
def test_on_the_night_the_clocks_change_the_day_is_still_the_clinics(world, zone):
    world.kelowna.timezone = zone
    world.kelowna.save(update_fields=["timezone"])
    day = next_clock_change(world.kelowna.zone)

    def at(days: int, hour: int, minute: int = 0) -> datetime.datetime:
        return datetime.datetime.combine(
            day + datetime.timedelta(days=days),
            datetime.time(hour, minute),
            tzinfo=world.kelowna.zone,
        )

    with time_machine.travel(at(-1, 20), tick=False):  # screened and consented that evening
        early = booked(world, ready_patient(world), at(0, 1, 30))  # before the change
    with time_machine.travel(at(0, 4, 0), tick=False):  # after it
        assert start(world, early).status == Status.IN_PROGRESS
    # The day is 23 or 25 hours long: its evening is still that day, and just after
    # midnight is the next, on the clinic's clock.
    with time_machine.travel(at(0, 23, 50), tick=False):
        evening = booked(world, ready_patient(world), at(0, 23, 45))
        assert start(world, evening).status == Status.IN_PROGRESS
        night = booked(world, ready_patient(world), at(1, 0, 15))
        with pytest.raises(StartRefused) as refused:
            start(world, night)
    next_day = dateformat.format(day + datetime.timedelta(days=1), "l j F")
    assert f"booked for {next_day}" in refused.value.message
