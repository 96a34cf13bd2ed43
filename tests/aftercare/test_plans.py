"""Aftercare plans: the therapist's additions, issuing on signing, the patient's read receipt."""

import pytest
from django.db import DatabaseError, connection, transaction

from aftercare import services
from aftercare.defaults import ADVICE_BODY
from aftercare.exceptions import AftercareInvalid, NotPermitted, PlanIssued, SubmissionKeyReused
from aftercare.models import AftercarePlan, AftercareTemplate, CheckIn, PlanExercise, PlanRead
from sessions.exceptions import SessionStateRefused
from tests.aftercare.factories import draft_plan, plan_of, signed_session
from tests.patients.factories import PatientFactory, tomorrow_at
from tests.sessions.factories import ready_to_needle, started_session


@pytest.fixture
def started(world, patient):
    ready_to_needle(patient, by=world.therapist)
    return started_session(
        patient=patient, therapist=world.therapist, starts_at=tomorrow_at(9, clinic=world.kelowna)
    )


def test_signing_issues_the_plan_with_the_advice_the_muscles_and_the_additions(world, patient):
    session = signed_session(patient, therapist=world.therapist)
    plan = plan_of(session)
    assert plan.is_issued
    assert plan.issued_at == session.signed_at
    assert plan.issued_by == world.therapist
    assert plan.template.version == 1
    assert plan.advice == ADVICE_BODY.strip()
    assert plan.needled_muscles == ["Upper trapezius (left)"]
    assert plan.heat_or_ice == "heat"
    assert plan.activity_limits == "No overhead lifting until Friday."
    assert [e.name for e in plan.exercises.all()] == ["Upper trapezius stretch"]
    assert CheckIn.objects.filter(session=session).count() == 3


def test_a_session_signed_without_additions_still_issues_the_advice(world, patient):
    plan = plan_of(signed_session(patient, therapist=world.therapist, with_plan=False))
    assert plan.is_issued
    assert plan.exercises.count() == 0
    assert "Drink plenty of water" in plan.advice


def test_a_new_version_of_the_advice_leaves_issued_plans_as_they_were(world, patient):
    plan = plan_of(signed_session(patient, therapist=world.therapist))
    template = services.publish_template(
        organization=world.organization,
        by=world.org_admin,
        title="After treatment",
        body="Rest.\n\nWhen to get help\n- Call us.",
    )
    assert template.version == 2
    plan.refresh_from_db()
    assert plan.template_version == 1
    assert plan.advice == ADVICE_BODY.strip()


def test_the_same_text_sent_with_a_browsers_line_endings_is_the_same_version(world):
    first = services.publish_template(
        organization=world.organization, by=world.org_admin, title="Advice", body="Rest.\nWalk."
    )
    again = services.publish_template(
        organization=world.organization,
        by=world.org_admin,
        title="Advice",
        body="Rest.\r\nWalk.\r\n",
    )
    assert first == again


def test_publishing_the_same_text_twice_is_one_version(world):
    first = services.publish_template(
        organization=world.organization, by=world.org_admin, title="Advice", body="Rest."
    )
    again = services.publish_template(
        organization=world.organization, by=world.org_admin, title="Advice", body="Rest."
    )
    assert first == again
    assert AftercareTemplate.objects.filter(organization=world.organization).count() == 1


@pytest.mark.parametrize("who", ["manager", "therapist", "front_desk"])
def test_only_an_organisation_admin_publishes_advice(world, who):
    with pytest.raises(NotPermitted):
        services.publish_template(
            organization=world.organization, by=getattr(world, who), title="A", body="B"
        )


def test_an_empty_advice_is_refused_naming_the_field(world):
    with pytest.raises(AftercareInvalid) as refusal:
        services.publish_template(
            organization=world.organization, by=world.org_admin, title="Advice", body="  "
        )
    assert refusal.value.field == "body"


def test_the_draft_is_edited_while_the_session_is_charted(world, started):
    plan = services.save_plan(session=started, by=world.therapist, next_visit="  In a week  ")
    assert plan.next_visit == "In a week"
    assert plan.status == "draft"
    assert plan.updated_by == world.therapist


def test_a_draft_plan_is_not_the_patients_to_read(world, started, patient):
    plan = services.save_plan(session=started, by=world.therapist, next_visit="In a week")
    with pytest.raises(NotPermitted):
        services.mark_plan_read(plan=plan, by=patient.user)
    from clinics import access

    assert not access.visible_to(patient.user, AftercarePlan.objects.all()).exists()


def test_a_booked_session_has_no_plan_to_write_yet(world, patient):
    from sessions import services as session_services

    session = session_services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=tomorrow_at(10, clinic=world.kelowna),
        by=world.front_desk,
    )
    with pytest.raises(SessionStateRefused):
        services.save_plan(session=session, by=world.therapist, next_visit="Soon")


@pytest.mark.parametrize("who", ["front_desk", "vernon_therapist", "other_therapist"])
def test_only_clinical_staff_of_the_clinic_write_the_plan(world, started, who):
    with pytest.raises(NotPermitted):
        services.save_plan(session=started, by=getattr(world, who), next_visit="Soon")
    assert not AftercarePlan.objects.exists()


def test_heat_or_ice_takes_only_its_choices(world, started):
    with pytest.raises(AftercareInvalid) as refusal:
        services.save_plan(session=started, by=world.therapist, heat_or_ice="sauna")
    assert refusal.value.field == "heat_or_ice"
    assert "heat, ice, both" in refusal.value.message


def test_an_exercise_sent_twice_is_one_row_and_a_reused_key_is_refused(world, started):
    import uuid

    key = uuid.uuid4()
    fields = {"name": "Chin tuck", "reps": 10, "frequency": "Every hour", "submission_key": key}
    first = services.add_exercise(session=started, by=world.therapist, **fields)
    again = services.add_exercise(session=started, by=world.therapist, **fields)
    assert first == again
    with pytest.raises(SubmissionKeyReused):
        services.add_exercise(session=started, by=world.therapist, **{**fields, "reps": 12})
    assert PlanExercise.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sets": 0}, "sets"),
        ({"reps": 101}, "reps"),
        ({"hold_seconds": 601}, "hold_seconds"),
        ({"name": ""}, "name"),
        ({"frequency": ""}, "frequency"),
    ],
)
def test_exercise_amounts_out_of_range_are_refused_naming_the_field(world, started, changes, field):
    fields = {"name": "Chin tuck", "frequency": "Daily", **changes}
    with pytest.raises(AftercareInvalid) as refusal:
        services.add_exercise(session=started, by=world.therapist, **fields)
    assert refusal.value.field == field
    assert refusal.value.message.startswith(f"{field}: ")
    assert not PlanExercise.objects.exists()


def test_an_exercise_key_is_one_exercise_in_the_whole_organisation(world, started, patient):
    import uuid

    key = uuid.uuid4()
    services.add_exercise(
        session=started, by=world.therapist, name="Chin tuck", frequency="Daily", submission_key=key
    )
    other = started_session(
        patient=ready_to_needle(PatientFactory(home_clinic=world.kelowna), by=world.therapist),
        therapist=world.therapist,
        starts_at=tomorrow_at(11, clinic=world.kelowna),
    )
    with pytest.raises(SubmissionKeyReused):
        services.add_exercise(
            session=other,
            by=world.therapist,
            name="Chin tuck",
            frequency="Daily",
            submission_key=key,
        )
    assert PlanExercise.objects.count() == 1


def test_exercises_keep_their_order_after_one_is_removed(world, started):
    first = services.add_exercise(session=started, by=world.therapist, name="A", frequency="Daily")
    services.add_exercise(session=started, by=world.therapist, name="B", frequency="Daily")
    services.remove_exercise(exercise=first, by=world.therapist)
    services.add_exercise(session=started, by=world.therapist, name="C", frequency="Daily")
    assert list(PlanExercise.objects.values_list("name", "position")) == [("B", 1), ("C", 2)]


def test_an_exercise_is_removed_from_a_draft(world, started):
    exercise = draft_plan(started, therapist=world.therapist)
    services.remove_exercise(exercise=exercise, by=world.therapist)
    services.remove_exercise(exercise=exercise, by=world.therapist)
    assert not PlanExercise.objects.exists()


def test_an_issued_plan_never_changes(world, patient):
    session = signed_session(patient, therapist=world.therapist)
    plan = plan_of(session)
    exercise = plan.exercises.get()
    with pytest.raises(PlanIssued):
        services.save_plan(session=session, by=world.therapist, next_visit="Never")
    with pytest.raises(PlanIssued):
        services.add_exercise(session=session, by=world.therapist, name="X", frequency="Daily")
    with pytest.raises(PlanIssued):
        services.remove_exercise(exercise=exercise, by=world.therapist)
    # And whatever path the write takes: the database refuses it.
    for statement, row in (
        ("UPDATE aftercare_aftercareplan SET next_visit = 'x' WHERE id = %s", plan),
        ("DELETE FROM aftercare_planexercise WHERE id = %s", exercise),
        ("UPDATE aftercare_planexercise SET sets = 9 WHERE id = %s", exercise),
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [row.pk])
    plan.refresh_from_db()
    assert plan.next_visit == "In one week"


def test_the_patient_marks_the_plan_read_once_and_the_therapist_sees_when(world, patient):
    plan = plan_of(signed_session(patient, therapist=world.therapist))
    receipt = services.mark_plan_read(plan=plan, by=patient.user)
    again = services.mark_plan_read(plan=plan, by=patient.user)
    assert receipt == again
    assert receipt.read_by == patient.user
    assert PlanRead.objects.get(plan=plan).read_at == receipt.read_at


@pytest.mark.parametrize("who", ["therapist", "manager", "front_desk"])
def test_staff_cannot_mark_a_patients_plan_read(world, patient, who):
    plan = plan_of(signed_session(patient, therapist=world.therapist))
    with pytest.raises(NotPermitted):
        services.mark_plan_read(plan=plan, by=getattr(world, who))
    assert not PlanRead.objects.exists()


def test_a_failing_plan_leaves_the_session_unsigned(world, started, monkeypatch):
    """The plan is issued in the signing transaction: no signed session without its aftercare."""
    from sessions import services as session_services
    from sessions.models import Status

    def broken(organization, **kwargs):
        raise AftercareInvalid("body: no advice.")

    monkeypatch.setattr("aftercare.services.plans.current_template", broken)
    chart = session_services.chart_of(started)
    session_services.save_chart(
        session=started,
        by=world.therapist,
        expected_version=chart.version,
        needles_inserted=0,
        needles_removed=0,
    )
    with pytest.raises(AftercareInvalid):
        session_services.sign_session(session=started, by=world.therapist)
    started.refresh_from_db()
    assert started.status == Status.IN_PROGRESS
    assert not CheckIn.objects.exists()
