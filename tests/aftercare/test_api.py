"""Aftercare through the API: the advice and settings, plans and their exercises, check-ins
and their answers, alerts; who sees what, idempotent retries, and what each list costs."""

import datetime
import uuid

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aftercare import services
from aftercare.models import (
    AftercarePlan,
    AftercareSettings,
    AftercareTemplate,
    Alert,
    AlertNote,
    CheckIn,
    CheckInAnswer,
    PlanExercise,
    PlanRead,
)
from patients.models import RecordRead
from sessions import services as session_services
from tests.accounts.factories import UserFactory
from tests.aftercare.factories import (
    answer_when_due,
    answers,
    draft_plan,
    first_check_in,
    plan_of,
    signed_session,
)
from tests.patients.factories import PatientFactory, tomorrow_at, with_portal_login
from tests.sessions.factories import ready_to_needle, started_session

JSON = "application/json"
HOUR = datetime.timedelta(hours=1)


def call(client, method, url, body=None, **headers):
    return getattr(client, method)(url, body or {}, content_type=JSON, headers=headers)


def key() -> str:
    return str(uuid.uuid4())


def plan_url(plan, name="detail"):
    return reverse(f"aftercare-plan-{name}", args=[plan.pk])


def exercise_url(exercise):
    return reverse("aftercare-plan-exercise-detail", args=[exercise.plan_id, exercise.pk])


def check_in_url(check_in, name="detail"):
    return reverse(f"check-in-{name}", args=[check_in.pk])


def alert_url(alert, name="detail"):
    return reverse(f"alert-{name}", args=[alert.pk])


_slots = iter(range(1000))


def a_slot(clinic) -> datetime.datetime:
    """A half hour tomorrow that no other session of these tests takes."""
    return tomorrow_at(7, clinic=clinic) + datetime.timedelta(minutes=30 * next(_slots))


def started(patient, therapist):
    """A session of `patient` in progress: its plan is a draft the therapist writes."""
    ready_to_needle(patient, by=therapist)
    return started_session(
        patient=patient, therapist=therapist, starts_at=a_slot(patient.home_clinic)
    )


def another_patient(world, clinic=None, **fields):
    patient = PatientFactory(home_clinic=clinic or world.kelowna, **fields)
    return with_portal_login(patient)


def signed(patient, therapist):
    return signed_session(patient, therapist=therapist, starts_at=a_slot(patient.home_clinic))


@pytest.fixture
def session(world, patient):
    """Pat Morgan's session, signed: the plan was issued and the check-ins scheduled."""
    return signed(patient, world.therapist)


@pytest.fixture
def draft(world, patient):
    """Pat Morgan's session in progress, with the therapist's additions and one exercise."""
    session = started(patient, world.therapist)
    draft_plan(session, therapist=world.therapist)
    return session


@pytest.fixture
def urgent(world, patient, session) -> Alert:
    """Pat reported chest pain at the first check-in: an urgent alert at Kelowna."""
    answer_when_due(
        first_check_in(session), by=patient.user, chest_pain=True, comments="Sharp when I breathe"
    )
    return Alert.objects.get()


# --- The advice -----------------------------------------------------------------------------


def test_clinical_staff_read_the_advice_and_an_admin_publishes_a_version(world, client_of):
    services.current_template(world.organization)  # version 1, from the defaults
    url = reverse("aftercare-template-list")
    listed = client_of(world.therapist).get(url).json()
    assert [row["version"] for row in listed["results"]] == [1]
    assert listed["results"][0]["published_by"] is None
    assert "Drink plenty of water" in listed["results"][0]["body"]
    assert client_of(world.front_desk).get(url).json()["count"] == 0

    body = {"organization": str(world.organization.pk), "title": "After needling", "body": "Rest."}
    admin = client_of(world.org_admin)
    published = call(admin, "post", url, body)
    assert published.status_code == 201
    assert published.json()["version"] == 2
    assert published.json()["published_by"]["full_name"] == world.org_admin.full_name
    again = call(admin, "post", url, body)
    assert again.json()["id"] == published.json()["id"]
    assert AftercareTemplate.objects.count() == 2

    refused = call(client_of(world.manager), "post", url, {**body, "body": "Mine."})
    assert refused.status_code == 400
    assert list(refused.json()["fields"]) == ["organization"]
    empty = call(admin, "post", url, {**body, "body": "   "})
    assert empty.status_code == 400
    assert list(empty.json()["fields"]) == ["body"]
    assert AftercareTemplate.objects.count() == 2


# --- The settings ---------------------------------------------------------------------------


def hours_and_minutes(response) -> tuple[list[int], int]:
    assert response.status_code in (200, 201), response.content
    return response.json()["check_in_hours"], response.json()["escalate_after_minutes"]


def test_an_admin_saves_the_settings_and_changes_them(world, client_of):
    admin = client_of(world.org_admin)
    url = reverse("aftercare-settings-list")
    assert admin.get(url).json()["count"] == 0  # the defaults, never saved
    body = {"organization": str(world.organization.pk), "check_in_hours": [48, 24]}
    made = call(admin, "post", url, body)
    assert made.status_code == 201
    assert hours_and_minutes(made) == ([24, 48], 30)
    saved = call(
        admin, "post", url, {"organization": body["organization"], "escalate_after_minutes": 10}
    )
    assert saved.status_code == 200
    assert hours_and_minutes(saved) == ([24, 48], 10)

    detail = reverse("aftercare-settings-detail", args=[made.json()["id"]])
    changed = call(admin, "patch", detail, {"check_in_hours": [6, 24, 72]})
    assert hours_and_minutes(changed) == ([6, 24, 72], 10)
    replaced = call(admin, "put", detail, {"check_in_hours": [24], "escalate_after_minutes": 45})
    assert hours_and_minutes(replaced) == ([24], 45)
    assert client_of(world.therapist).get(detail).json()["check_in_hours"] == [24]
    assert client_of(world.front_desk).get(url).json()["count"] == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"check_in_hours": [24, 400]}, "check_in_hours"),
        ({"check_in_hours": []}, "check_in_hours"),
        ({"check_in_hours": ["soon"]}, "check_in_hours"),
        ({"escalate_after_minutes": 3}, "escalate_after_minutes"),
    ],
)
def test_settings_out_of_range_are_refused_naming_the_field(world, client_of, change, field):
    settings = services.save_settings(
        organization=world.organization,
        by=world.org_admin,
        check_in_hours=[24, 48, 72],
        escalate_after_minutes=30,
    )
    url = reverse("aftercare-settings-detail", args=[settings.pk])
    response = call(client_of(world.org_admin), "patch", url, change)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    settings.refresh_from_db()
    assert (settings.check_in_hours, settings.escalate_after_minutes) == ([24, 48, 72], 30)


def test_only_an_organisation_admin_changes_the_settings(world, client_of):
    settings = services.save_settings(
        organization=world.organization,
        by=world.org_admin,
        check_in_hours=[24],
        escalate_after_minutes=30,
    )
    url = reverse("aftercare-settings-detail", args=[settings.pk])
    for who in (world.manager, world.therapist):
        response = call(client_of(who), "patch", url, {"escalate_after_minutes": 5})
        assert response.status_code == 403, who
    assert call(client_of(world.front_desk), "patch", url, {}).status_code == 404
    assert call(client_of(world.other_admin), "patch", url, {}).status_code == 404
    refused = call(
        client_of(world.manager),
        "post",
        reverse("aftercare-settings-list"),
        {"organization": str(world.organization.pk), "escalate_after_minutes": 5},
    )
    assert list(refused.json()["fields"]) == ["organization"]
    settings.refresh_from_db()
    assert settings.escalate_after_minutes == 30


# --- Plans: the therapist's draft -----------------------------------------------------------


def test_a_therapist_writes_the_draft_plan(world, patient, client_of):
    session = started(patient, world.therapist)
    client = client_of(world.therapist)
    url = reverse("aftercare-plan-list")
    made = call(client, "post", url, {"session": str(session.pk), "heat_or_ice": "ice"})
    assert made.status_code == 201
    plan = made.json()
    assert (plan["status"], plan["heat_or_ice"], plan["exercises"]) == ("draft", "ice", [])
    assert plan["therapist"]["full_name"] == world.therapist.full_name
    saved = call(
        client, "post", url, {"session": str(session.pk), "activity_limits": "No running."}
    )
    assert saved.status_code == 200
    assert (saved.json()["id"], saved.json()["heat_or_ice"]) == (plan["id"], "ice")
    assert saved.json()["activity_limits"] == "No running."

    added = call(
        client,
        "post",
        reverse("aftercare-plan-exercises", args=[plan["id"]]),
        {"name": "Doorway stretch", "frequency": "Twice a day", "sets": 2, "hold_seconds": 30},
        **{"Idempotency-Key": key()},
    )
    assert added.status_code == 201
    assert added.json()["name"] == "Doorway stretch"
    listed = client.get(url, {"session": str(session.pk)}).json()
    assert [row["id"] for row in listed["results"]] == [plan["id"]]
    assert [e["name"] for e in listed["results"][0]["exercises"]] == ["Doorway stretch"]
    assert listed["results"][0]["updated_by"]["id"] == str(world.therapist.pk)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"heat_or_ice": "lava"}, "heat_or_ice"),
        ({"next_visit": "x" * 201}, "next_visit"),
        ({"other_advice": "x" * 10_001}, "other_advice"),
    ],
)
def test_a_plan_value_it_does_not_take_is_refused_naming_the_field(
    world, draft, client_of, body, field
):
    before = plan_of(draft).updated_at
    response = call(
        client_of(world.therapist),
        "post",
        reverse("aftercare-plan-list"),
        {"session": str(draft.pk), **body},
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert plan_of(draft).updated_at == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sets": 21}, "sets"),
        ({"reps": 0}, "reps"),
        ({"hold_seconds": 601}, "hold_seconds"),
        ({"name": ""}, "name"),
    ],
)
def test_an_exercise_out_of_range_is_refused_naming_the_field(world, draft, client_of, body, field):
    exercise = {"name": "Chin tuck", "frequency": "Hourly", **body}
    response = call(
        client_of(world.therapist), "post", plan_url(plan_of(draft), "exercises"), exercise
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert PlanExercise.objects.count() == 1


def test_an_exercise_sent_twice_with_one_key_is_one_row(world, draft, client_of):
    client = client_of(world.therapist)
    url = plan_url(plan_of(draft), "exercises")
    body = {"name": "Chin tuck", "frequency": "Hourly", "reps": 10}
    headers = {"Idempotency-Key": key()}
    first = call(client, "post", url, body, **headers)
    again = call(client, "post", url, body, **headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    assert PlanExercise.objects.filter(name="Chin tuck").count() == 1

    other = call(client, "post", url, {**body, "reps": 12}, **headers)
    assert other.status_code == 409
    assert list(other.json()["fields"]) == ["Idempotency-Key"]
    not_a_key = call(client, "post", url, body, **{"Idempotency-Key": "twice"})
    assert not_a_key.status_code == 400
    assert list(not_a_key.json()["fields"]) == ["Idempotency-Key"]
    assert PlanExercise.objects.filter(name="Chin tuck").count() == 1


def test_an_exercise_comes_off_a_draft_but_stays_on_an_issued_plan(
    world, patient, draft, client_of
):
    exercise = PlanExercise.objects.get()
    client = client_of(world.therapist)
    for who in (world.front_desk, world.vernon_therapist, world.other_admin, patient.user):
        response = client_of(who).delete(exercise_url(exercise))
        assert response.status_code == 404, who
        assert response.json()["code"] == "not_found"
    assert client.delete(exercise_url(exercise)).status_code == 204
    assert client.delete(exercise_url(exercise)).status_code == 404
    assert not PlanExercise.objects.exists()

    issued = PlanExercise.objects.get(plan=plan_of(signed(patient, world.therapist)))
    refused = client.delete(exercise_url(issued))
    assert (refused.status_code, refused.json()["code"]) == (409, "plan_issued")
    assert client_of(patient.user).delete(exercise_url(issued)).status_code == 403
    assert PlanExercise.objects.filter(pk=issued.pk).exists()


def test_a_plan_is_written_only_by_clinical_staff_while_the_session_is_in_progress(
    world, patient, session, client_of
):
    url = reverse("aftercare-plan-list")
    issued = call(client_of(world.therapist), "post", url, {"session": str(session.pk)})
    assert (issued.status_code, issued.json()["code"]) == (409, "plan_issued")
    exercise = call(
        client_of(world.therapist),
        "post",
        plan_url(plan_of(session), "exercises"),
        {"name": "Chin tuck", "frequency": "Hourly"},
    )
    assert (exercise.status_code, exercise.json()["code"]) == (409, "plan_issued")

    booked = session_services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=a_slot(world.kelowna),
        by=world.front_desk,
    )
    not_started = call(client_of(world.therapist), "post", url, {"session": str(booked.pk)})
    assert (not_started.status_code, not_started.json()["code"]) == (409, "session_state")

    in_progress = started(another_patient(world), world.therapist)
    desk = call(client_of(world.front_desk), "post", url, {"session": str(in_progress.pk)})
    assert desk.status_code == 403
    elsewhere = call(client_of(world.other_admin), "post", url, {"session": str(in_progress.pk)})
    assert elsewhere.status_code == 400
    assert list(elsewhere.json()["fields"]) == ["session"]
    assert not AftercarePlan.objects.filter(session__in=[booked, in_progress]).exists()


# --- Plans: what the patient sees --------------------------------------------------------------


def test_a_patient_sees_only_their_own_issued_plans(world, patient, session, draft, client_of):
    issued = plan_of(session)
    theirs = plan_of(signed(another_patient(world), world.therapist))
    client = client_of(patient.user)
    listed = client.get(reverse("aftercare-plan-list")).json()
    assert [row["id"] for row in listed["results"]] == [str(issued.pk)]
    shown = listed["results"][0]
    assert shown["status"] == "issued"
    assert shown["needled_muscles"] == ["Upper trapezius (left)"]
    assert "Drink plenty of water" in shown["advice"]
    assert [e["name"] for e in shown["exercises"]] == ["Upper trapezius stretch"]
    assert shown["read_at"] is None
    for hidden in (plan_of(draft), theirs):
        response = client.get(plan_url(hidden))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert call(client, "post", plan_url(hidden, "read")).status_code == 404

    staff = client_of(world.therapist).get(
        reverse("aftercare-plan-list"), {"patient": str(patient.pk)}
    )
    assert [row["status"] for row in staff.json()["results"]] == ["draft", "issued"]
    assert client_of(world.front_desk).get(reverse("aftercare-plan-list")).json()["count"] == 0
    assert client_of(world.front_desk).get(plan_url(issued)).status_code == 404


def test_the_patient_marks_the_plan_read_once_and_the_therapist_sees_when(
    world, patient, session, client_of
):
    plan = plan_of(session)
    client = client_of(patient.user)
    first = call(client, "post", plan_url(plan, "read"))
    assert first.status_code == 200
    assert first.json()["read_at"] is not None
    again = call(client, "post", plan_url(plan, "read"))
    assert again.json()["read_at"] == first.json()["read_at"]
    assert PlanRead.objects.count() == 1
    assert (
        client_of(world.therapist).get(plan_url(plan)).json()["read_at"] == first.json()["read_at"]
    )
    refused = call(client_of(world.therapist), "post", plan_url(plan, "read"))
    assert refused.status_code == 403


def test_reading_plans_is_written_to_the_access_log(world, patient, session, client_of):
    plan = plan_of(session)
    assert client_of(world.therapist).get(plan_url(plan)).status_code == 200
    assert client_of(patient.user).get(reverse("aftercare-plan-list")).status_code == 200
    reads = RecordRead.objects.order_by("read_at")
    assert [(r.reader, r.patient, r.part, r.via, r.item_id) for r in reads] == [
        (world.therapist, patient, "aftercare", "api", plan.pk),
        (patient.user, patient, "aftercare", "api", None),
    ]


# --- Check-ins and answers ----------------------------------------------------------------------


def answer(client_of, user, check_in, *, after=HOUR, headers=None, **changes):
    """`user` answers `check_in` through the API `after` it fell due, logged in then."""
    with time_machine.travel(check_in.due_at + after, tick=False):
        return call(
            client_of(user),
            "post",
            check_in_url(check_in, "answer"),
            answers(**changes),
            **(headers or {}),
        )


def test_the_patient_answers_a_check_in_and_hears_what_to_do(world, patient, session, client_of):
    check_in = first_check_in(session)
    response = answer(client_of, patient.user, check_in, soreness=4, comments="Stiff")
    assert response.status_code == 201
    filed = response.json()
    assert (filed["check_in"], filed["triage"], filed["triage_reasons"]) == (
        str(check_in.pk),
        "filed",
        [],
    )
    assert (filed["soreness"], filed["comments"]) == (4, "Stiff")
    assert filed["emergency_number"] is None
    assert "Your answers are with your therapist" in filed["advice"]
    assert not Alert.objects.exists()


def test_an_urgent_answer_tells_the_patient_to_get_emergency_care_now(
    world, patient, session, client_of
):
    world.kelowna.emergency_number = "112"
    world.kelowna.save(update_fields=["emergency_number"])
    response = answer(client_of, patient.user, first_check_in(session), short_of_breath=True)
    assert response.status_code == 201
    urgent = response.json()
    assert (urgent["triage"], urgent["triage_reasons"]) == (
        "urgent",
        ["Shortness of breath or pain on breathing"],
    )
    assert urgent["emergency_number"] == "112"
    assert urgent["advice"].startswith("Get emergency care now. Call 112")
    assert "Do not drive yourself." in urgent["advice"]
    assert "Upper trapezius (left)" in urgent["advice"]
    assert Alert.objects.get().level == "urgent"


def test_a_warning_sign_alerts_the_therapist_without_an_emergency(
    world, patient, session, client_of
):
    response = answer(client_of, patient.user, first_check_in(session), infection_signs=True)
    assert response.json()["triage"] == "alert"
    assert response.json()["emergency_number"] is None
    assert "need your therapist's attention" in response.json()["advice"]
    assert Alert.objects.get().level == "alert"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"soreness": 11}, "soreness"),
        ({"pain": -1}, "pain"),
        ({"trend": "sideways"}, "trend"),
        ({"bruising": "purple"}, "bruising"),
        ({"chest_pain": None}, "chest_pain"),
    ],
)
def test_an_answer_it_does_not_take_is_refused_naming_the_field(
    world, patient, session, client_of, change, field
):
    response = answer(client_of, patient.user, first_check_in(session), **change)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert not CheckInAnswer.objects.exists()


def test_an_answer_sent_twice_with_one_key_is_one_answer(world, patient, session, client_of):
    check_in = first_check_in(session)
    user = patient.user
    headers = {"Idempotency-Key": key()}
    first = answer(client_of, user, check_in, headers=headers, soreness=6)
    again = answer(client_of, user, check_in, after=2 * HOUR, headers=headers, soreness=6)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    second = answer(client_of, user, check_in, after=3 * HOUR, headers={"Idempotency-Key": key()})
    assert (second.status_code, second.json()["code"]) == (409, "check_in_already_answered")
    assert "You already answered this check-in" in second.json()["detail"]
    assert CheckInAnswer.objects.count() == 1


def test_only_the_patient_answers_and_only_while_it_is_open(world, patient, session, client_of):
    check_in = first_check_in(session)
    assert answer(client_of, world.therapist, check_in).status_code == 403
    assert answer(client_of, world.front_desk, check_in).status_code == 404
    assert answer(client_of, another_patient(world).user, check_in).status_code == 404
    early = answer(client_of, patient.user, check_in, after=-HOUR)
    assert (early.status_code, early.json()["code"]) == (409, "check_in_closed")
    late = answer(client_of, patient.user, check_in, after=services.OPEN_FOR)
    assert (late.status_code, late.json()["code"]) == (409, "check_in_closed")
    assert not CheckInAnswer.objects.exists()


def test_each_check_in_says_where_it_stands_with_its_answer(world, patient, session, client_of):
    first = first_check_in(session)
    answer_when_due(first, by=patient.user, soreness=5, comments="Achy")
    later = CheckIn.objects.filter(session=session).exclude(pk=first.pk).order_by("due_at")
    with time_machine.travel(later[0].due_at + HOUR, tick=False):
        listed = client_of(patient.user).get(reverse("check-in-list")).json()["results"]
    assert [(row["hours_after"], row["status"]) for row in listed] == [
        (72, "due_later"),
        (48, "open"),
        (24, "answered"),
    ]
    assert listed[2]["answer"]["comments"] == "Achy"
    assert listed[0]["answer"] is None
    with time_machine.travel(later[1].closes_at, tick=False):
        closed = client_of(patient.user).get(reverse("check-in-list"), {"status": "closed"})
    assert [row["hours_after"] for row in closed.json()["results"]] == [72, 48]

    therapist = client_of(world.therapist).get(check_in_url(first)).json()
    assert therapist["answer"]["soreness"] == 5
    assert client_of(world.front_desk).get(reverse("check-in-list")).json()["count"] == 0
    assert client_of(world.front_desk).get(check_in_url(first)).status_code == 404
    assert client_of(world.vernon_therapist).get(check_in_url(first)).status_code == 404
    other = client_of(another_patient(world).user)
    assert other.get(reverse("check-in-list")).json()["count"] == 0
    assert other.get(check_in_url(first)).status_code == 404


def test_reading_an_answer_is_written_to_the_access_log(world, patient, session, client_of):
    check_in = first_check_in(session)
    answered = answer_when_due(check_in, by=patient.user)
    client = client_of(world.therapist)
    assert client.get(check_in_url(check_in)).status_code == 200
    assert (
        client.get(check_in_url(CheckIn.objects.exclude(pk=check_in.pk).first())).status_code == 200
    )
    assert client.get(reverse("check-in-list")).json()["count"] == 3
    reads = RecordRead.objects.order_by("read_at")
    assert [(r.reader, r.patient, r.part, r.item_id) for r in reads] == [
        (world.therapist, patient, "check_in", answered.pk),
        (world.therapist, patient, "details", None),  # no answer yet: the name and times
        (world.therapist, patient, "check_in", None),
    ]


# --- Alerts ----------------------------------------------------------------------------------


def test_clinical_staff_read_an_alert_with_its_answers_and_resolve_it(
    world, patient, urgent, client_of
):
    client = client_of(world.therapist)
    listed = client.get(reverse("alert-list")).json()["results"]
    assert [(row["id"], row["level"], row["is_open"], row["may_act"]) for row in listed] == [
        (str(urgent.pk), "urgent", True, True)
    ]
    assert listed[0]["patient"] == {"id": str(patient.pk), "full_name": "Pat Morgan"}
    assert "answer" not in listed[0]

    shown = client.get(alert_url(urgent)).json()
    assert shown["answer"]["triage_reasons"] == ["Chest pain"]
    assert shown["answer"]["comments"] == "Sharp when I breathe"
    assert shown["notes"] == []
    listed_read, read = RecordRead.objects.order_by("read_at")
    assert (listed_read.reader, listed_read.part) == (world.therapist, "list")
    answer_id = uuid.UUID(shown["answer"]["id"])
    assert (read.reader, read.part, read.item_id) == (world.therapist, "check_in", answer_id)

    acknowledged = call(client, "post", alert_url(urgent, "acknowledge"), {"note": "Calling now"})
    assert acknowledged.status_code == 200
    assert acknowledged.json()["acknowledged_by"]["id"] == str(world.therapist.pk)
    unsaid = call(client, "post", alert_url(urgent, "resolve"), {"note": "  "})
    assert unsaid.status_code == 400
    assert list(unsaid.json()["fields"]) == ["note"]
    missing = call(client, "post", alert_url(urgent, "resolve"), {})
    assert list(missing.json()["fields"]) == ["note"]
    resolved = call(client, "post", alert_url(urgent, "resolve"), {"note": "Sent to ER; clear."})
    assert resolved.status_code == 200
    assert resolved.json()["is_open"] is False
    assert [(n["kind"], n["text"]) for n in resolved.json()["notes"]] == [
        ("acknowledged", "Calling now"),
        ("resolved", "Sent to ER; clear."),
    ]
    again = call(client_of(world.manager), "post", alert_url(urgent, "resolve"), {"note": "Mine"})
    assert (again.status_code, again.json()["code"]) == (409, "alert_state")


def test_the_front_desk_sees_an_alert_but_not_its_answers_and_cannot_act(world, urgent, client_of):
    services.acknowledge_alert(alert=urgent, by=world.therapist, note="Calling the patient")
    desk = client_of(world.front_desk)
    listed = desk.get(reverse("alert-list")).json()["results"]
    assert [(row["id"], row["level"], row["may_act"]) for row in listed] == [
        (str(urgent.pk), "urgent", False)
    ]
    response = desk.get(alert_url(urgent))
    assert response.status_code == 200
    assert (response.json()["answer"], response.json()["notes"]) == (None, [])
    assert response.json()["acknowledged_by"]["id"] == str(world.therapist.pk)
    assert "Sharp when I breathe" not in response.text
    assert "Calling the patient" not in response.text
    for action in ("acknowledge", "resolve"):
        refused = call(desk, "post", alert_url(urgent, action), {"note": "Done"})
        assert refused.status_code == 403, action
        assert refused.json()["code"] == "permission_denied"
    urgent.refresh_from_db()
    assert urgent.resolved_at is None
    assert AlertNote.objects.count() == 1
    # The patient's name was shown, never the answers: no read of check-in answers.
    assert list(RecordRead.objects.order_by("read_at").values_list("part", flat=True)) == [
        "list",
        "details",
    ]


def test_alerts_of_other_clinics_and_organisations_are_not_found(world, patient, urgent, client_of):
    for who in (world.vernon_therapist, world.other_admin, world.other_therapist, patient.user):
        client = client_of(who)
        assert client.get(reverse("alert-list")).json()["count"] == 0, who
        for method, url in (
            ("get", alert_url(urgent)),
            ("post", alert_url(urgent, "acknowledge")),
            ("post", alert_url(urgent, "resolve")),
        ):
            response = call(client, method, url, {"note": "Taken over"})
            assert response.status_code == 404, (who, url)
            assert response.json()["code"] == "not_found"
    urgent.refresh_from_db()
    assert urgent.acknowledged_at is None


def test_alerts_are_listed_open_first_urgent_first_newest_first(world, client_of):
    raised = {}
    for name, change in [
        ("old alert", {"infection_signs": True}),
        ("old urgent", {"chest_pain": True}),
        ("new alert", {"nerve_symptoms": True}),
        ("new urgent", {"short_of_breath": True}),
        ("resolved urgent", {"chest_pain": True}),
    ]:
        person = another_patient(world, first_name=name)
        session = signed(person, world.therapist)
        answer_when_due(first_check_in(session), by=person.user, **change)
        raised[name] = Alert.objects.get(patient=person)
    services.resolve_alert(alert=raised["resolved urgent"], by=world.manager, note="Seen")
    client = client_of(world.org_admin)

    def names(**params):
        rows = client.get(reverse("alert-list"), params).json()["results"]
        return [row["patient"]["full_name"].split()[0] for row in rows]

    assert names() == ["new", "old", "new", "old", "resolved"]
    assert names(level="urgent") == ["new", "old", "resolved"]
    assert names(status="resolved") == ["resolved"]
    assert names(status="open", level="alert") == ["new", "old"]
    assert names(clinic=str(world.vernon.pk)) == []
    listed = client.get(reverse("alert-list")).json()["results"]
    assert [row["level"] for row in listed] == ["urgent", "urgent", "alert", "alert", "urgent"]
    refused = client.get(reverse("alert-list"), {"clinic": str(world.halifax.pk)})
    assert refused.status_code == 400
    assert list(refused.json()["fields"]) == ["clinic"]


# --- Another organisation -------------------------------------------------------------------


def test_another_organisations_aftercare_is_not_found(world, patient, urgent, client_of):
    services.save_settings(
        organization=world.organization,
        by=world.org_admin,
        check_in_hours=[24],
        escalate_after_minutes=30,
    )
    plan = plan_of(urgent.session)
    rows = {
        "aftercare-template": AftercareTemplate.objects.get(),
        "aftercare-settings": AftercareSettings.objects.get(),
        "aftercare-plan": plan,
        "check-in": urgent.check_in,
        "alert": urgent,
    }
    actions = [
        plan_url(plan, "exercises"),
        plan_url(plan, "read"),
        check_in_url(urgent.check_in, "answer"),
        alert_url(urgent, "acknowledge"),
    ]
    for who in (world.other_admin, world.other_therapist):
        client = client_of(who)
        for basename, row in rows.items():
            assert client.get(reverse(f"{basename}-list")).json()["count"] == 0, basename
            response = client.get(reverse(f"{basename}-detail", args=[row.pk]))
            assert response.status_code == 404, basename
        for url in actions:
            assert call(client, "post", url, {"note": "x"}).status_code == 404, url
        assert client.delete(exercise_url(plan.exercises.get())).status_code == 404


# --- What a list costs ----------------------------------------------------------------------


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured)


def treated(world, count):
    """`count` more patients, each with a signed session, a read plan and an urgent answer."""
    for _ in range(count):
        person = another_patient(world)
        session = signed(person, world.therapist)
        services.mark_plan_read(plan=plan_of(session), by=person.user)
        answer_when_due(first_check_in(session), by=person.user, chest_pain=True, comments="Ow")
        services.publish_template(
            organization=world.organization,
            by=world.org_admin,
            title="After needling",
            body=f"Rest. ({uuid.uuid4()})",
        )


LISTS = ["aftercare-template", "aftercare-settings", "aftercare-plan", "check-in", "alert"]


def test_each_list_costs_the_same_queries_for_one_row_or_many(
    world, client_of, django_assert_max_num_queries
):
    operator = UserFactory(is_superuser=True)  # the platform operator sees both organisations
    services.save_settings(
        organization=world.organization,
        by=world.org_admin,
        check_in_hours=[24],
        escalate_after_minutes=30,
    )
    treated(world, 1)
    clients = {"therapist": client_of(world.therapist), "operator": client_of(operator)}
    one = {
        (who, name): queries(client, reverse(f"{name}-list"))
        for who, client in clients.items()
        for name in LISTS
    }
    treated(world, 4)
    services.save_settings(
        organization=world.other_organization,
        by=world.other_admin,
        check_in_hours=[24],
        escalate_after_minutes=30,
    )
    for (who, name), budget in one.items():
        with django_assert_max_num_queries(budget):
            response = clients[who].get(reverse(f"{name}-list"))
        # The therapist reads one organisation's settings; every other list grew.
        fewest = 1 if (who, name) == ("therapist", "aftercare-settings") else 2
        assert response.json()["count"] >= fewest, (who, name)


def test_a_patients_lists_cost_the_same_queries_for_one_row_or_many(
    world, patient, client_of, django_assert_max_num_queries
):
    def treat():
        session = signed(patient, world.therapist)
        answer_when_due(first_check_in(session), by=patient.user, chest_pain=True)
        # An urgent alert open keeps the next session from starting until acknowledged.
        alert = Alert.objects.get(session=session)
        services.acknowledge_alert(alert=alert, by=world.therapist, note="Called: in A&E")

    treat()
    client = client_of(patient.user)
    one = {
        name: queries(client, reverse(f"{name}-list")) for name in ("aftercare-plan", "check-in")
    }
    for _ in range(3):
        treat()
    for name, budget in one.items():
        with django_assert_max_num_queries(budget):
            assert client.get(reverse(f"{name}-list")).json()["count"] >= 4, name
