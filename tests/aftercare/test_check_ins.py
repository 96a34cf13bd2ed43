"""Check-ins: when they fall due, sending each e-mail once, the signed link, and the answers."""

import datetime
import uuid

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.tasks import task_backends
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from aftercare import services, tasks
from aftercare.exceptions import (
    AftercareInvalid,
    CheckInAlreadyAnswered,
    CheckInClosed,
    CheckInLinkInvalid,
    NotPermitted,
    SubmissionKeyReused,
)
from aftercare.models import Alert, CheckIn, CheckInAnswer, Triage
from tests.aftercare.factories import answer_when_due, answers, first_check_in, signed_session
from tests.patients.factories import PatientFactory, day_at, with_portal_login
from tests.sessions.factories import next_clock_change, this_minute

HOUR = datetime.timedelta(hours=1)
MINUTE = datetime.timedelta(minutes=1)


class RefusingBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


@pytest.fixture
def session(world, patient, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return signed_session(patient, therapist=world.therapist)


def catch_up_at(moment):
    """Run the catch-up job with the clock at `moment` (the tests' backend cannot wait)."""
    with time_machine.travel(moment, tick=False):
        return tasks.catch_up.enqueue().return_value


def test_check_ins_fall_due_at_the_organisations_hours_after_the_signature(world, patient):
    services.save_settings(
        organization=world.organization,
        by=world.org_admin,
        check_in_hours=[72, 6, 24],
        escalate_after_minutes=15,
    )
    session = signed_session(patient, therapist=world.therapist)
    due = CheckIn.objects.filter(session=session).order_by("due_at")
    # No needling end charted: the clock is the signature, not the booked end.
    assert [(c.hours_after, c.due_at - session.signed_at) for c in due] == [
        (6, 6 * HOUR),
        (24, 24 * HOUR),
        (72, 72 * HOUR),
    ]
    assert all(c.closes_at == c.due_at + services.OPEN_FOR for c in due)


def charted_and_signed(world, patient, *, ended_at=None, signed_at):
    """A session started now, the needling's end charted at `ended_at` (if given), and
    signed at `signed_at`, the clock moved there."""
    from sessions import services as session_services
    from sessions.models import Chart
    from tests.sessions.factories import ready_to_needle, started_session

    ready_to_needle(patient, by=world.therapist)
    session = started_session(patient=patient, therapist=world.therapist)
    if ended_at is not None:
        with time_machine.travel(ended_at, tick=False):
            session_services.save_chart(
                session=session,
                by=world.therapist,
                expected_version=Chart.objects.get(session=session).version,
                needling_ended_at=ended_at,
            )
    with time_machine.travel(signed_at, tick=False):
        return session_services.sign_session(session=session, by=world.therapist)


def test_a_session_booked_ahead_started_and_signed_at_once_asks_24_hours_after_it(world, patient):
    """The issue's new user: a session booked for later in the day, started as the
    patient came in early and signed at once, was asked "24 h" after its booked end."""
    from sessions import services as session_services
    from tests.sessions.factories import ready_to_needle

    morning, afternoon = (day_at(1, hour, clinic=world.kelowna) for hour in (9, 16))
    with time_machine.travel(morning, tick=False):
        ready_to_needle(patient, by=world.therapist)
        session = session_services.book_session(
            clinic=world.kelowna,
            therapist=world.therapist,
            patient=patient,
            starts_at=afternoon,
            by=world.front_desk,
        )
        session_services.start_session(session=session, by=world.therapist)
    with time_machine.travel(morning + 40 * MINUTE, tick=False):
        signed = session_services.sign_session(session=session, by=world.therapist)
    first = first_check_in(signed)
    assert (first.hours_after, first.due_at) == (24, morning + 40 * MINUTE + 24 * HOUR)
    assert first.due_at < signed.ends_at + 24 * HOUR  # not from the booked end (16:30)


def test_a_charted_needling_end_moves_the_check_ins_to_it(world, patient):
    now = this_minute()
    ended = now + 25 * MINUTE
    session = charted_and_signed(world, patient, ended_at=ended, signed_at=ended + 15 * MINUTE)
    due = CheckIn.objects.filter(session=session).order_by("due_at")
    assert [(c.hours_after, c.due_at) for c in due] == [
        (24, ended + 24 * HOUR),
        (48, ended + 48 * HOUR),
        (72, ended + 72 * HOUR),
    ]


def test_a_chart_signed_late_asks_once_at_signing_then_at_the_times_still_to_come(world, patient):
    ended = this_minute() + 20 * MINUTE
    # The needling's end charted as it happened; the chart signed 50 hours later.
    session = charted_and_signed(world, patient, ended_at=ended, signed_at=ended + 50 * HOUR)
    due = CheckIn.objects.filter(session=session).order_by("due_at")
    assert [(c.hours_after, c.due_at, c.closes_at) for c in due] == [
        # Asked at once, open as long as it would have been; the 24 h one is not asked.
        (48, session.signed_at, ended + 48 * HOUR + services.OPEN_FOR),
        (72, ended + 72 * HOUR, ended + 72 * HOUR + services.OPEN_FOR),
    ]


def test_a_chart_signed_late_without_its_needling_end_counts_from_the_signature(world, patient):
    late = this_minute() + 50 * HOUR
    session = charted_and_signed(world, patient, signed_at=late)
    first = first_check_in(session)
    assert (first.hours_after, first.due_at) == (24, late + 24 * HOUR)


def test_a_chart_signed_after_every_check_in_closed_asks_nothing(world, patient):
    ended = this_minute() + 20 * MINUTE
    session = charted_and_signed(
        world, patient, ended_at=ended, signed_at=ended + 72 * HOUR + services.OPEN_FOR
    )
    assert not CheckIn.objects.filter(session=session).exists()


def test_triage_reads_the_hours_since_the_needling_ended_not_since_the_signature(world, patient):
    ended = this_minute() + 20 * MINUTE
    session = charted_and_signed(world, patient, ended_at=ended, signed_at=ended + 2 * HOUR)
    day_one = first_check_in(session)
    assert day_one.due_at == ended + 24 * HOUR
    # Answered 49 hours after the needling (47 after the signature): worse at 48 h or later.
    answer_when_due(day_one, by=patient.user, after=25 * HOUR, trend="worse")
    assert CheckInAnswer.objects.get().triage_reasons == ["Getting worse at 49 h"]
    assert Alert.objects.get().level == "alert"


@pytest.mark.parametrize("zone", ["America/Toronto", "America/Halifax"])
def test_check_ins_count_real_hours_across_a_change_of_the_clocks(world, patient, zone):
    world.kelowna.timezone = zone
    world.kelowna.save(update_fields=["timezone"])
    day = next_clock_change(world.kelowna.zone)
    evening = datetime.datetime.combine(
        day - datetime.timedelta(days=1), datetime.time(18), tzinfo=world.kelowna.zone
    )
    with time_machine.travel(evening):
        session = charted_and_signed(
            world, patient, ended_at=evening + 25 * MINUTE, signed_at=evening + 30 * MINUTE
        )
    first = first_check_in(session)
    assert first.due_at - (evening + 25 * MINUTE) == 24 * HOUR  # real hours
    local = timezone.localtime(first.due_at, world.kelowna.zone)
    assert local.time() != datetime.time(18, 25)  # the clinic's clock moved by an hour


def test_nothing_is_sent_before_it_is_due(session):
    assert catch_up_at(first_check_in(session).due_at - datetime.timedelta(minutes=1)) == {
        "check_ins_sent": 0,
        "alerts_escalated": 0,
    }
    assert mail.outbox == []


def test_a_due_check_in_is_emailed_once_with_a_link_to_it(session, patient):
    check_in = first_check_in(session)
    assert catch_up_at(check_in.due_at)["check_ins_sent"] == 1
    assert catch_up_at(check_in.due_at + HOUR)["check_ins_sent"] == 0
    with time_machine.travel(check_in.due_at + 2 * HOUR, tick=False):
        assert services.send_check_in(check_in_id=check_in.pk) == "already sent"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [patient.email]
    assert "How are you feeling" in message.subject
    link = next(line for line in message.body.splitlines() if "/portal/aftercare/check-in/" in line)
    token = link.rsplit("/check-in/", 1)[1].strip("/")
    assert services.check_in_from_link(token, user=patient.user) == check_in
    # The e-mail says nothing clinical: no muscles, no notes.
    assert "trapezius" not in message.body.lower()


def test_a_check_in_that_could_not_be_emailed_stays_due_and_is_retried(session, settings):
    check_in = first_check_in(session)
    working = settings.MAILERS
    settings.MAILERS = {"default": {"BACKEND": "tests.aftercare.test_check_ins.RefusingBackend"}}
    assert catch_up_at(check_in.due_at)["check_ins_sent"] == 0
    check_in.refresh_from_db()
    assert check_in.sent_at is None
    assert check_in.send_attempts == 1
    assert check_in.next_attempt_at == check_in.due_at + datetime.timedelta(minutes=5)
    assert "mail server down" in check_in.last_send_error
    # Not before the retry time; then, with the server back, once.
    assert catch_up_at(check_in.due_at + datetime.timedelta(minutes=4))["check_ins_sent"] == 0
    with time_machine.travel(check_in.due_at + datetime.timedelta(minutes=4), tick=False):
        assert services.send_check_in(check_in_id=check_in.pk) == "waiting to try again"
    settings.MAILERS = working
    assert catch_up_at(check_in.due_at + datetime.timedelta(minutes=5))["check_ins_sent"] == 1
    assert catch_up_at(check_in.due_at + datetime.timedelta(minutes=10))["check_ins_sent"] == 0
    check_in.refresh_from_db()
    assert check_in.sent_at is not None
    assert check_in.last_send_error == ""
    assert len(mail.outbox) == 1


def test_an_answered_or_closed_check_in_is_not_sent(session, patient):
    check_ins = list(CheckIn.objects.filter(session=session).order_by("due_at"))
    answer_when_due(check_ins[0], by=patient.user)
    assert catch_up_at(check_ins[0].due_at + HOUR)["check_ins_sent"] == 0
    assert catch_up_at(check_ins[-1].closes_at)["check_ins_sent"] == 0  # all closed by then
    assert mail.outbox == []


@pytest.fixture
def database_queue():
    """The production backend: jobs wait in the database until a worker takes them."""
    working = task_backends["default"]
    task_backends["default"] = DatabaseBackend(
        "default", {"BACKEND": "django_tasks_db.DatabaseBackend"}
    )
    yield
    task_backends["default"] = working


def run_worker_at(moment):
    """The real worker's loop body, with the clock at `moment`: every job that is ready."""
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test",
        excluded_queue_names=[],
    )
    with time_machine.travel(moment, tick=False):
        for job in DBTaskResult.objects.ready().filter(backend_name="default"):
            job.claim(worker.worker_id)
            worker.run_task(job)


def test_with_the_database_queue_each_check_in_waits_for_its_time(
    world, patient, database_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session = signed_session(patient, therapist=world.therapist)
    queued = DBTaskResult.objects.filter(task_path="aftercare.tasks.send_check_in")
    due = {str(c.pk): c.due_at for c in CheckIn.objects.filter(session=session)}
    assert {job.args_kwargs["kwargs"]["check_in_id"]: job.run_after for job in queued} == due
    first = first_check_in(session)
    run_worker_at(first.due_at - HOUR)
    assert mail.outbox == []
    run_worker_at(first.due_at)
    assert len(mail.outbox) == 1
    run_worker_at(first.due_at + HOUR)  # run again: nothing is sent twice
    assert len(mail.outbox) == 1


def test_an_altered_link_is_refused_before_anything_is_read(session, patient):
    token = services.link_to(first_check_in(session)).rsplit("/check-in/", 1)[1].strip("/")
    for altered in (token[:-1], token + "x", token.replace(":", ";"), "", "not-a-link"):
        with pytest.raises(CheckInLinkInvalid, match="not valid"):
            services.checked_link(altered)


def test_a_link_for_someone_else_answers_as_if_it_were_nobodys(world, session):
    token = services.link_to(first_check_in(session)).rsplit("/check-in/", 1)[1].strip("/")
    kit = with_portal_login(PatientFactory(home_clinic=world.kelowna)).user
    for stranger in (kit, world.front_desk, world.other_therapist):
        with pytest.raises(CheckInLinkInvalid, match="not for the login"):
            services.check_in_from_link(token, user=stranger)


def test_the_answers_are_filed_when_nothing_is_wrong(session, patient):
    answer = answer_when_due(first_check_in(session), by=patient.user)
    assert answer.triage == Triage.FILED
    assert answer.triage_reasons == []
    assert not Alert.objects.exists()


def test_chest_pain_raises_an_urgent_alert_for_the_treating_therapist(
    world, session, patient, django_capture_on_commit_callbacks
):
    check_in = first_check_in(session)
    with django_capture_on_commit_callbacks(execute=True):
        answer = answer_when_due(check_in, by=patient.user, chest_pain=True)
    assert answer.triage == Triage.URGENT
    alert = Alert.objects.get()
    assert (alert.level, alert.therapist, alert.clinic) == (
        "urgent",
        world.therapist,
        world.kelowna,
    )
    assert alert.escalate_at == alert.raised_at + datetime.timedelta(minutes=30)
    assert [m.to for m in mail.outbox] == [[world.therapist.email]]
    assert mail.outbox[0].subject.startswith("[Fascia] URGENT")
    assert patient.last_name not in mail.outbox[0].body


def test_an_answer_is_triaged_at_the_hours_since_the_session_not_its_nominal_ones(session, patient):
    late = first_check_in(session)  # the 24 h check-in, answered on its last day
    answer_when_due(late, by=patient.user, after=60 * HOUR, soreness=6, trend="worse")
    assert Alert.objects.get().level == "alert"
    assert CheckInAnswer.objects.get().triage_reasons == [
        "Getting worse at 84 h",
        "Soreness still 6/10 at 84 h",
    ]


def test_nobody_but_the_patient_answers_not_even_the_platform_operator(session):
    from tests.accounts.factories import UserFactory

    operator = UserFactory(is_superuser=True, is_staff=True)
    with pytest.raises(NotPermitted):
        answer_when_due(first_check_in(session), by=operator)
    assert not CheckInAnswer.objects.exists()


def test_a_patient_without_a_portal_login_is_not_sent_a_link_they_cannot_use(session, patient):
    patient.user = None
    patient.save(update_fields=["user"])
    check_in = first_check_in(session)
    assert catch_up_at(check_in.due_at)["check_ins_sent"] == 0
    check_in.refresh_from_db()
    assert check_in.sent_at is None
    assert "no portal login" in check_in.last_send_error
    assert check_in.next_attempt_at == check_in.closes_at  # not tried on every sweep
    assert mail.outbox == []


def test_soreness_still_high_at_72_hours_raises_an_alert(session, patient):
    check_in = CheckIn.objects.get(session=session, hours_after=72)
    answer_when_due(check_in, by=patient.user, soreness=6)
    alert = Alert.objects.get()
    assert alert.level == "alert"
    assert alert.escalate_at is None


def test_a_double_click_is_one_answer_and_a_second_answer_is_refused(session, patient):
    check_in = first_check_in(session)
    key = uuid.uuid4()
    first = answer_when_due(check_in, by=patient.user, submission_key=key, chest_pain=True)
    again = answer_when_due(check_in, by=patient.user, submission_key=key, chest_pain=True)
    assert first == again
    with pytest.raises(CheckInAlreadyAnswered, match="You already answered this check-in"):
        answer_when_due(check_in, by=patient.user, submission_key=uuid.uuid4())
    assert CheckInAnswer.objects.count() == 1
    assert Alert.objects.count() == 1


def test_a_retry_that_changed_the_answers_is_refused_not_taken_for_the_first(session, patient):
    check_in = first_check_in(session)
    key = uuid.uuid4()
    answer_when_due(check_in, by=patient.user, submission_key=key)
    with pytest.raises(SubmissionKeyReused):
        answer_when_due(check_in, by=patient.user, submission_key=key, chest_pain=True)
    assert CheckInAnswer.objects.get().chest_pain is False


def test_a_check_in_takes_answers_only_while_it_is_open(session, patient):
    check_in = first_check_in(session)
    with pytest.raises(CheckInClosed, match="not open yet"):
        answer_when_due(check_in, by=patient.user, after=-HOUR)
    with pytest.raises(CheckInClosed, match="has closed"):
        answer_when_due(check_in, by=patient.user, after=services.OPEN_FOR)
    assert not CheckInAnswer.objects.exists()


def test_only_the_patient_answers_their_check_in(world, session):
    check_in = first_check_in(session)
    kit = with_portal_login(PatientFactory(home_clinic=world.kelowna)).user
    for someone in (kit, world.therapist, world.front_desk, world.other_admin):
        with pytest.raises(NotPermitted):
            answer_when_due(check_in, by=someone)
    assert not CheckInAnswer.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"soreness": 11}, "soreness", "soreness: soreness is a number from 0 to 10, not 11."),
        ({"pain": -1}, "pain", "is a number from 0 to 10, not -1"),
        ({"pain": "a lot"}, "pain", "choose a number from 0 to 10"),
        ({"soreness": True}, "soreness", "choose a number from 0 to 10"),
        ({"trend": "sideways"}, "trend", "better (better), same (about the same), worse"),
        ({"bruising": "purple"}, "bruising", "answer bruising with one of"),
        ({"chest_pain": "maybe"}, "chest_pain", "chest_pain: answer yes or no."),
    ],
)
def test_out_of_range_answers_are_refused_naming_the_field(
    session, patient, changes, field, message
):
    with pytest.raises(AftercareInvalid) as refusal:
        answer_when_due(first_check_in(session), by=patient.user, **changes)
    assert refusal.value.field == field
    assert message in refusal.value.message
    assert not CheckInAnswer.objects.exists()


def test_answers_sent_as_text_are_read_as_numbers(session, patient):
    answer = answer_when_due(first_check_in(session), by=patient.user, soreness="4", pain=" 2 ")
    assert (answer.soreness, answer.pain) == (4, 2)


def test_answers_never_change(session, patient):
    from django.db import DatabaseError, connection, transaction

    answer = answer_when_due(first_check_in(session), by=patient.user)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE aftercare_checkinanswer SET pain = 0 WHERE id = %s", [answer.pk])
    assert answers()["pain"] == CheckInAnswer.objects.get().pain
