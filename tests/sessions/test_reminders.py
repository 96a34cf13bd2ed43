"""Appointment reminders: planned at the organisation's lead time, e-mailed once through a real
SMTP server (whatever runs the job, how often, and when the server refuses), with links to
confirm or cancel that work once, until the start, without a login."""

import datetime
import re

import psycopg
import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from patients.models import ScreeningResponse
from sessions import services, tasks
from sessions.models import Reminder, ReminderAnswer, Status
from sessions.services import reminders
from sessions.services.reminder_links import CANCELLED_FROM_THE_REMINDER
from tests.mail_server import MailServer
from tests.patients.factories import PatientFactory
from tests.sessions.factories import ready_to_needle

UTC = datetime.UTC
NOW = datetime.datetime(2026, 10, 12, 16, 0, tzinfo=UTC)
"""Monday 12 October 2026, 09:00 in Kelowna (UTC-7)."""
HOUR = datetime.timedelta(hours=1)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture(autouse=True)
def clock():
    """Every test here on the same Monday (NOW): the reminders' times are compared to it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def mail_server(settings):
    with MailServer() as server:
        settings.MAILERS = {"default": server.mailer}
        yield server


@pytest.fixture
def book(world, clock, django_capture_on_commit_callbacks):
    """Book `patient` with Priya at Kelowna, `days` ahead at `hour` on the clinic's clock."""

    def booking(patient, *, days=3, hour=10, minute=0):
        local = NOW.astimezone(world.kelowna.zone).date() + datetime.timedelta(days=days)
        starts_at = datetime.datetime.combine(
            local, datetime.time(hour, minute), tzinfo=world.kelowna.zone
        )
        with django_capture_on_commit_callbacks(execute=True):
            return services.book_session(
                clinic=world.kelowna,
                therapist=world.therapist,
                patient=patient,
                starts_at=starts_at,
                by=world.front_desk,
            )

    return booking


@pytest.fixture
def ready(world, patient):
    """Pat, screened and consenting: the reminder asks for no form."""
    return ready_to_needle(patient, by=world.therapist)


def catch_up(django_capture_on_commit_callbacks) -> dict:
    with django_capture_on_commit_callbacks(execute=True):
        return tasks.catch_up_reminders.enqueue().return_value


def links_in(body: str) -> dict[str, str]:
    found = re.findall(r"http://\S+/sessions/reminder/(\S+)/", body)
    return {
        "confirm": f"/sessions/reminder/{found[0]}/",
        "cancel": f"/sessions/reminder/{found[1]}/",
    }


def test_a_booking_plans_its_reminder_at_the_organisations_lead_time(world, ready, book):
    session = book(ready)
    reminder = Reminder.objects.get(session=session)
    assert reminder.for_starts_at == session.starts_at
    assert reminder.due_at == session.starts_at - 24 * HOUR
    assert (reminder.patient, reminder.clinic, reminder.sent_at) == (ready, world.kelowna, None)

    services.save_booking_settings(
        organization=world.organization, by=world.org_admin, reminder_hours=48
    )
    later = book(ready, days=5)
    assert Reminder.objects.get(session=later).due_at == later.starts_at - 48 * HOUR


def test_a_reminder_is_sent_once_when_due_with_the_clinics_time_and_links(
    world, ready, book, clock, mail_server, django_capture_on_commit_callbacks
):
    session = book(ready)  # Thursday 15 October, 10:00 in Kelowna
    reminder = Reminder.objects.get(session=session)
    assert reminders.send_reminder(reminder_id=reminder.pk) == "not due yet"
    assert catch_up(django_capture_on_commit_callbacks) == {
        "reminders_sent": 0,
        "reminders_failed": 0,
    }
    assert mail_server.message_ids() == []

    clock.move_to(reminder.due_at)
    assert catch_up(django_capture_on_commit_callbacks)["reminders_sent"] == 1
    [body] = mail_server.bodies()
    assert "Thursday 15 October 2026 at 10:00" in body  # the clinic's clock, not UTC (17:00)
    assert "Kelowna" in body and world.therapist.get_full_name() in body
    assert "Confirm it here" in body and "Cancel it here" in body
    assert "fill in" not in body  # screened and consenting: no form asked
    reminder.refresh_from_db()
    assert reminder.sent_at == reminder.due_at and reminder.send_attempts == 1
    assert mail_server.message_ids() == [reminder.message_id]

    # The job again, a second job, the catch-up again: still one e-mail.
    clock.move_to(reminder.due_at + 5 * MINUTE)
    assert reminders.send_reminder(reminder_id=reminder.pk) == "already sent"
    assert tasks.send_reminder.enqueue(reminder_id=str(reminder.pk)).return_value == "already sent"
    assert catch_up(django_capture_on_commit_callbacks)["reminders_sent"] == 0
    assert len(mail_server.message_ids()) == 1


def test_while_another_sender_holds_a_reminder_nobody_else_sends_it(
    world, ready, book, clock, mail_server
):
    reminder = Reminder.objects.get(session=book(ready))
    clock.move_to(reminder.due_at)
    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in params.items() if k in ("host", "port", "user", "password")},
        dbname=connection.settings_dict["NAME"],
        autocommit=True,
    ) as other_worker:
        other_worker.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"fascia.reminder:{reminder.pk}"]
        )
        assert reminders.send_reminder(reminder_id=reminder.pk) == "busy: another sender has it"
        other_worker.execute("SELECT pg_advisory_unlock_all()")  # its sender is done
    assert mail_server.message_ids() == []
    assert reminders.send_reminder(reminder_id=reminder.pk) == "sent"


def test_a_refusing_mail_server_is_tried_again_later_and_the_reminder_sent_once(
    world, ready, book, clock, mail_server, django_capture_on_commit_callbacks
):
    reminder = Reminder.objects.get(session=book(ready))
    clock.move_to(reminder.due_at)
    mail_server.handler.refuse.add(ready.email)
    assert catch_up(django_capture_on_commit_callbacks) == {
        "reminders_sent": 0,
        "reminders_failed": 1,
    }
    reminder.refresh_from_db()
    assert reminder.sent_at is None and reminder.sending_since is None
    assert reminder.next_attempt_at == reminder.due_at + 5 * MINUTE
    assert "550 5.1.1 Mailbox unavailable" in reminder.last_send_error
    assert reminder.status == "failed"

    clock.move_to(reminder.due_at + 4 * MINUTE)  # not yet: nothing tried
    assert catch_up(django_capture_on_commit_callbacks) == {
        "reminders_sent": 0,
        "reminders_failed": 0,
    }
    mail_server.handler.refuse.clear()
    clock.move_to(reminder.next_attempt_at)
    assert catch_up(django_capture_on_commit_callbacks)["reminders_sent"] == 1
    reminder.refresh_from_db()
    assert (reminder.send_attempts, reminder.last_send_error) == (2, "")
    assert len(mail_server.message_ids()) == 1


def test_retries_stop_at_the_sessions_start(world, ready, book, clock, mail_server):
    session = book(ready)
    reminder = Reminder.objects.get(session=session)
    mail_server.handler.refuse.add(ready.email)
    clock.move_to(session.starts_at - 90 * MINUTE)
    reminder.next_attempt_at = None
    Reminder.objects.filter(pk=reminder.pk).update(send_attempts=3)
    assert reminders.send_reminder(reminder_id=reminder.pk) == (
        "failed, the session starts before another try"
    )
    reminder.refresh_from_db()
    assert reminder.next_attempt_at == session.starts_at
    clock.move_to(session.starts_at)
    assert reminders.send_reminder(reminder_id=reminder.pk) == "not sent: the session has started"


@pytest.mark.parametrize(
    ("handed_over", "outcome", "messages"),
    [(False, "sent", 1), (True, "already handed over by a sender that stopped", 0)],
)
def test_what_a_dead_sender_left_is_sent_again_only_when_it_never_reached_the_server(
    world, ready, book, clock, mail_server, handed_over, outcome, messages
):
    reminder = Reminder.objects.get(session=book(ready))
    clock.move_to(reminder.due_at)
    # What a worker killed mid-send leaves: its attempt committed, no outcome.
    Reminder.objects.filter(pk=reminder.pk).update(
        sending_since=reminder.due_at,
        send_attempts=1,
        message_id="<dead@fascia>",
        handed_over_at=reminder.due_at if handed_over else None,
    )
    clock.move_to(reminder.due_at + 2 * MINUTE)
    assert reminders.send_reminder(reminder_id=reminder.pk) == outcome
    assert len(mail_server.message_ids()) == messages
    reminder.refresh_from_db()
    assert reminder.sent_at is not None and reminder.sending_since is None
    if handed_over:
        assert "never arrives twice" in reminder.last_send_error


def test_a_moved_booking_sends_only_the_new_times_reminder(
    world, ready, book, clock, mail_server, django_capture_on_commit_callbacks
):
    session = book(ready)
    old = Reminder.objects.get(session=session)
    with django_capture_on_commit_callbacks(execute=True):
        services.reschedule_session(
            session=session, by=world.front_desk, starts_at=session.starts_at + 24 * HOUR
        )
    new = Reminder.objects.exclude(pk=old.pk).get(session=session)
    assert new.due_at == old.due_at + 24 * HOUR

    clock.move_to(old.due_at)
    assert reminders.send_reminder(reminder_id=old.pk) == "not sent: the session was moved"
    assert catch_up(django_capture_on_commit_callbacks)["reminders_sent"] == 0
    clock.move_to(new.due_at)
    assert catch_up(django_capture_on_commit_callbacks)["reminders_sent"] == 1
    [body] = mail_server.bodies()
    assert "Friday 16 October 2026 at 10:00" in body
    old.refresh_from_db()
    assert old.sent_at is None and old.status == "replaced"


def test_a_cancelled_booking_sends_no_reminder(
    world, ready, book, clock, mail_server, django_capture_on_commit_callbacks
):
    session = book(ready)
    services.cancel_session(session=session, by=world.front_desk, reason="Patient phoned")
    reminder = Reminder.objects.get(session=session)
    clock.move_to(reminder.due_at)
    assert catch_up(django_capture_on_commit_callbacks)["reminders_sent"] == 0
    assert reminders.send_reminder(reminder_id=reminder.pk) == "not sent: the session is cancelled"
    assert mail_server.message_ids() == []


def test_a_patient_without_an_e_mail_address_is_to_be_called(
    world, book, clock, mail_server, django_capture_on_commit_callbacks
):
    patient = PatientFactory(home_clinic=world.kelowna, email="")
    reminder = Reminder.objects.get(session=book(patient))
    clock.move_to(reminder.due_at)
    catch_up(django_capture_on_commit_callbacks)
    reminder.refresh_from_db()
    assert reminder.last_send_error == "No e-mail address on the patient's record: call them."
    assert reminder.sent_at is None and mail_server.message_ids() == []
    # Not tried again on every sweep.
    assert reminders.send_reminder(reminder_id=reminder.pk) == "waiting to try again"


def test_a_booking_inside_the_lead_time_is_reminded_soon_unless_it_is_hours_away(
    world, ready, book, clock
):
    soon = book(ready, days=0, hour=14)  # five hours ahead
    reminder = Reminder.objects.get(session=soon)
    assert reminder.due_at == NOW + reminders.SETTLE
    too_close = Reminder.objects.get(session=book(ready, days=0, hour=10, minute=30))
    assert too_close.last_send_error == "Not sent: booked less than 2 hours before the start."
    assert reminders.send_reminder(reminder_id=too_close.pk) == "waiting to try again"


# --- the links --------------------------------------------------------------


@pytest.fixture
def sent(world, ready, book, clock, mail_server):
    """Pat's session on Thursday, its reminder sent on Wednesday at 10:00: the two links."""
    session = book(ready)
    reminder = Reminder.objects.get(session=session)
    clock.move_to(reminder.due_at)
    assert reminders.send_reminder(reminder_id=reminder.pk) == "sent"
    [body] = mail_server.bodies()
    return session, reminder, links_in(body)


def test_opening_a_link_changes_nothing_and_shows_no_clinical_data(client, sent):
    session, _reminder, links = sent
    page = client.get(links["confirm"])
    assert page.status_code == 200
    text = page.content.decode()
    assert "Thursday 15 October 2026 at 10:00" in text and "Yes, I am coming" in text
    assert "Pat Morgan" not in text and "screening" not in text.lower()
    session.refresh_from_db()
    assert session.confirmed_at is None


def test_confirming_is_recorded_once_and_every_later_use_shows_it(client, sent, clock):
    session, reminder, links = sent
    confirmed_at = reminder.due_at + 2 * HOUR
    clock.move_to(confirmed_at)
    answer = client.post(links["confirm"])
    assert answer.status_code == 302 and answer.url == links["confirm"]
    session.refresh_from_db()
    assert session.confirmed_at == confirmed_at
    assert (session.status, session.version) == (Status.BOOKED, 1)  # nothing else bumped
    says = "You confirmed this session on Wednesday 14 October 2026 at 12:00."
    assert says in client.get(links["confirm"]).content.decode()

    clock.move_to(confirmed_at + HOUR)
    second = client.post(links["confirm"], follow=True)  # a second press, another tab
    assert second.status_code == 200 and says in second.content.decode()
    cancel = client.post(links["cancel"], follow=True)
    assert says in cancel.content.decode()
    session.refresh_from_db()
    assert (session.confirmed_at, session.status) == (confirmed_at, Status.BOOKED)
    reminder.refresh_from_db()
    assert (reminder.answer, reminder.used_at) == (ReminderAnswer.CONFIRMED, confirmed_at)


def test_cancelling_within_the_notice_period_is_recorded_as_late(client, sent, patient_user, clock):
    session, reminder, links = sent  # sent 24 hours before; the notice period is 24 hours
    clock.move_to(reminder.due_at + 30 * MINUTE)
    page = client.post(links["cancel"], follow=True)
    text = page.content.decode()
    assert "This session was cancelled on Wednesday 14 October 2026 at 10:30." in text
    assert "late cancellation" in text
    session.refresh_from_db()
    assert session.status == Status.CANCELLED and session.cancelled_late
    assert session.cancelled_by == patient_user
    assert session.cancellation_reason == CANCELLED_FROM_THE_REMINDER
    # The confirm link now says what happened, and confirms nothing.
    client.post(links["confirm"])
    session.refresh_from_db()
    assert session.confirmed_at is None


def test_cancelling_in_good_time_with_a_reason_is_not_late(world, client, sent):
    services.save_booking_settings(
        organization=world.organization, by=world.org_admin, notice_hours=12
    )
    session, _reminder, links = sent
    client.post(links["cancel"], {"reason": "  Away   for work "})
    session.refresh_from_db()
    assert session.status == Status.CANCELLED and not session.cancelled_late
    assert session.cancellation_reason == "Away for work"


def test_a_reason_too_long_cancels_nothing_and_says_so(client, sent):
    session, reminder, links = sent
    page = client.post(links["cancel"], {"reason": "x" * 501})
    assert page.status_code == 400
    assert "at most 500 characters" in page.content.decode()
    session.refresh_from_db()
    reminder.refresh_from_db()
    assert session.status == Status.BOOKED and reminder.used_at is None


def test_a_tampered_link_is_not_valid_and_changes_nothing(client, sent):
    session, _reminder, links = sent
    tampered = links["confirm"][:-3] + ("A" if links["confirm"][-3] != "A" else "B") + "/"
    for answer in (client.get(tampered), client.post(tampered)):
        assert answer.status_code == 404
        assert "This link is not valid" in answer.content.decode()
    session.refresh_from_db()
    assert session.confirmed_at is None


def test_a_link_expires_at_the_sessions_start(client, sent, clock):
    session, _reminder, links = sent
    clock.move_to(session.starts_at)
    answer = client.post(links["cancel"], follow=True)
    assert "This link has expired" in answer.content.decode()
    session.refresh_from_db()
    assert session.status == Status.BOOKED


def test_the_links_of_a_moved_booking_say_so(
    world, client, sent, django_capture_on_commit_callbacks
):
    session, _reminder, links = sent
    services.reschedule_session(
        session=session, by=world.front_desk, starts_at=session.starts_at + 2 * HOUR
    )
    answer = client.post(links["confirm"], follow=True)
    assert "This session was moved to Thursday 15 October 2026 at 12:00" in answer.content.decode()
    session.refresh_from_db()
    assert session.confirmed_at is None


def test_a_confirmed_booking_moved_is_no_longer_confirmed_and_its_links_say_where_it_went(
    world, client, sent, django_capture_on_commit_callbacks
):
    session, _reminder, links = sent
    assert client.post(links["confirm"]).status_code == 302
    session.refresh_from_db()
    assert session.confirmed_at is not None
    services.reschedule_session(
        session=session, by=world.front_desk, starts_at=session.starts_at + 2 * HOUR
    )
    session.refresh_from_db()
    assert session.confirmed_at is None  # the patient confirmed the time it had, not this one
    answer = client.get(links["cancel"]).content.decode()
    assert "This session was moved to Thursday 15 October 2026 at 12:00" in answer


# --- the forms --------------------------------------------------------------


def test_the_forms_come_with_the_reminder_when_they_run_out_before_the_session(
    world, ready, book, clock, mail_server
):
    session = book(ready)
    # The screening runs out the day before the session.
    ScreeningResponse.objects.filter(patient=ready).update(
        valid_until=session.starts_at - 24 * HOUR
    )
    reminder = Reminder.objects.get(session=session)
    clock.move_to(reminder.due_at)
    reminders.send_reminder(reminder_id=reminder.pk)
    [body] = mail_server.bodies()
    assert "please fill in this form in your patient portal" in body
    assert "/portal/screening/" in body and "/portal/consent/" not in body


def test_a_patient_without_a_portal_login_is_told_which_forms_to_fill_in(
    world, book, clock, mail_server
):
    patient = PatientFactory(home_clinic=world.kelowna, email="nolog@example.test")
    reminder = Reminder.objects.get(session=book(patient))
    clock.move_to(reminder.due_at)
    reminders.send_reminder(reminder_id=reminder.pk)
    [body] = mail_server.bodies()
    assert "come ten minutes early" in body and "/portal/" not in body


# --- what staff see ---------------------------------------------------------


def test_the_session_page_shows_where_the_reminder_stands(
    world, ready, book, clock, client_of, mail_server, client
):
    session = book(ready)
    reminder = Reminder.objects.get(session=session)

    def page() -> str:  # logged in afresh: the clock moves past the idle timeout
        desk = client_of(world.front_desk)
        return desk.get(reverse("sessions:detail", args=[session.pk])).content.decode()

    assert "To be e-mailed on Wednesday 14 October, 10:00" in page()

    clock.move_to(reminder.due_at)
    mail_server.handler.refuse.add(ready.email)
    reminders.send_reminder(reminder_id=reminder.pk)
    shown = page()
    assert "550 5.1.1 Mailbox unavailable" in shown and "trying again at 10:05" in shown

    mail_server.handler.refuse.clear()
    clock.move_to(reminder.due_at + 5 * MINUTE)
    reminders.send_reminder(reminder_id=reminder.pk)
    [body] = mail_server.bodies()
    clock.move_to(reminder.due_at + HOUR)
    client.post(links_in(body)["cancel"])
    shown = page()
    assert "E-mailed to the patient on Wednesday 14 October, 10:05." in shown
    assert (
        "Cancelled by the patient from the reminder on Wednesday 14 October, 11:00: late, "
        "within the notice period." in shown
    )


def test_the_patient_page_lists_every_message_sent_in_a_fixed_number_of_queries(
    world, ready, book, clock, client_of, mail_server
):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from patients.messages import messages_of
    from patients.models import RecordPart, RecordRead

    def send_all(sessions):
        for session in sessions:
            reminder = Reminder.objects.get(session=session)
            with time_machine.travel(reminder.due_at, tick=False):
                assert reminders.send_reminder(reminder_id=reminder.pk) == "sent"

    def queries() -> int:
        with CaptureQueriesContext(db) as read:
            shown = messages_of(world.front_desk, ready)
        return len(read), shown

    send_all([book(ready, days=2)])
    one, shown = queries()
    assert [(m.kind, m.status) for m in shown] == [("Appointment reminder", "Sent")]
    send_all([book(ready, days=days) for days in (3, 4, 5)])
    four, shown = queries()
    assert len(shown) == 4 and four == one  # one query per kind, whatever the rows

    clock.move_to(NOW + 6 * 24 * HOUR)
    page = client_of(world.front_desk).get(reverse("patients:detail", args=[ready.pk]))
    text = page.content.decode()
    assert text.count("Appointment reminder") == 4
    assert "Session on Wed 14 Oct 2026 10:00 at Kelowna" in text
    assert RecordRead.objects.filter(
        reader=world.front_desk, patient_id=ready.pk, part=RecordPart.DETAILS
    ).exists()


# --- the API ----------------------------------------------------------------


def test_the_api_lists_reminders_by_session_patient_and_status_within_ones_clinics(
    world, ready, book, clock, client_of, mail_server
):
    from patients.models import RecordRead

    planned = book(ready)
    sent = book(ready, days=1)
    reminder = Reminder.objects.get(session=sent)
    with time_machine.travel(reminder.due_at, tick=False):
        reminders.send_reminder(reminder_id=reminder.pk)
    desk = client_of(world.front_desk)
    answer = desk.get("/api/v1/reminders/", {"patient": str(ready.pk)}).json()
    assert [(row["session"], row["status"]) for row in answer["results"]] == [
        (str(planned.pk), "planned"),
        (str(sent.pk), "sent"),
    ]
    only_sent = desk.get("/api/v1/reminders/", {"status": "sent"}).json()["results"]
    assert [row["id"] for row in only_sent] == [str(reminder.pk)]
    one = desk.get(f"/api/v1/reminders/{reminder.pk}/").json()
    assert one["sent_at"] is not None and one["patient"]["full_name"] == "Pat Morgan"
    assert RecordRead.objects.filter(reader=world.front_desk, patient_id=ready.pk).exists()

    # Nothing of them for the other organisation, nor for a Vernon therapist.
    for outsider in (world.other_therapist, world.vernon_therapist):
        client = client_of(outsider)
        assert client.get("/api/v1/reminders/").json()["count"] == 0
        assert client.get(f"/api/v1/reminders/{reminder.pk}/").status_code == 404
    assert client_of(world.front_desk).post("/api/v1/reminders/", {}).status_code == 405
