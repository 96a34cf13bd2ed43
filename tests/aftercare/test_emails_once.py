"""Aftercare e-mails go once, through a real SMTP server: each attempt recorded before the
send and after it, with its Message-ID and the server's answer; what a dead sender left is
settled and sent again (tests/config/test_worker.py kills real workers)."""

import datetime

import psycopg
import pytest
import time_machine
from django.db import IntegrityError, connection

from aftercare import services
from aftercare.models import Alert, EmailAttempt, EmailOutcome, EmailPurpose
from aftercare.services import emails
from tests.aftercare.factories import answer_when_due, first_check_in, signed_session
from tests.mail_server import MailServer

MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def mail_server(settings):
    with MailServer() as server:
        settings.MAILERS = {"default": server.mailer}
        yield server


@pytest.fixture
def check_in(world, patient, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return first_check_in(signed_session(patient, therapist=world.therapist))


def send(check_in, *, at=None) -> str:
    with time_machine.travel(at or check_in.due_at, tick=False):
        return services.send_check_in(check_in_id=check_in.pk)


def test_a_check_in_is_recorded_before_the_send_and_settled_with_the_servers_answer(
    mail_server, check_in, patient
):
    assert send(check_in) == "sent"
    attempt = EmailAttempt.objects.get(check_in=check_in)
    assert attempt.purpose == EmailPurpose.CHECK_IN
    assert attempt.outcome == EmailOutcome.ACCEPTED
    assert attempt.recipients == [patient.email]
    assert attempt.server_reply == "250 2.0.0 Ok: queued as Q1"
    assert attempt.handed_over_at is not None and attempt.finished_at is not None
    # The Message-ID recorded is the one the server received.
    assert mail_server.message_ids() == [attempt.message_id]
    check_in.refresh_from_db()
    assert check_in.sent_at == check_in.due_at
    assert send(check_in, at=check_in.due_at + MINUTE) == "already sent"
    assert len(mail_server.message_ids()) == 1


def test_a_refused_recipient_is_recorded_as_not_delivered_and_tried_again(
    mail_server, check_in, patient
):
    mail_server.handler.refuse.add(patient.email)
    assert send(check_in) == "failed, will retry"
    attempt = EmailAttempt.objects.get(check_in=check_in)
    assert attempt.outcome == EmailOutcome.REFUSED
    assert attempt.handed_over_at is None  # refused before anything could be delivered
    assert attempt.server_reply == "550 5.1.1 Mailbox unavailable"
    check_in.refresh_from_db()
    assert check_in.sent_at is None
    assert check_in.next_attempt_at == check_in.due_at + 5 * MINUTE
    assert "550 5.1.1 Mailbox unavailable" in check_in.last_send_error
    mail_server.handler.refuse.clear()
    assert send(check_in, at=check_in.next_attempt_at) == "sent"
    assert [a.outcome for a in EmailAttempt.objects.filter(check_in=check_in)] == [
        EmailOutcome.REFUSED,
        EmailOutcome.ACCEPTED,
    ]
    assert len(mail_server.message_ids()) == 1


def left_in_flight(check_in, *, handed_over: bool) -> EmailAttempt:
    """What a worker killed mid-send leaves: its attempt committed as `sending`."""
    attempt = emails.begin(check_in, EmailPurpose.CHECK_IN, [check_in.patient.email])
    if handed_over:
        attempt.handed_over_at = check_in.due_at
        attempt.save(update_fields=["handed_over_at"])
    return attempt


@pytest.mark.parametrize(
    ("handed_over", "settled_as", "says"),
    [
        (False, EmailOutcome.NOT_SENT, "it was not delivered"),
        (True, EmailOutcome.UNCERTAIN, "it may have arrived twice"),
    ],
)
def test_an_attempt_whose_sender_died_is_settled_and_the_e_mail_sent_again(
    mail_server, check_in, handed_over, settled_as, says
):
    with time_machine.travel(check_in.due_at, tick=False):
        dead = left_in_flight(check_in, handed_over=handed_over)
    assert send(check_in, at=check_in.due_at + MINUTE) == "sent"
    dead.refresh_from_db()
    assert dead.outcome == settled_as
    assert says in dead.note
    again = EmailAttempt.objects.exclude(pk=dead.pk).get(check_in=check_in)
    assert again.outcome == EmailOutcome.ACCEPTED
    assert again.message_id != dead.message_id
    assert mail_server.message_ids() == [again.message_id]


def test_while_a_live_sender_holds_the_e_mail_nobody_else_sends_it(mail_server, check_in):
    """A worker in the middle of sending holds its lock on its own connection."""
    key = f"fascia.email:{EmailPurpose.CHECK_IN}:{check_in.pk}"
    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in params.items() if k in ("host", "port", "user", "password")},
        dbname=connection.settings_dict["NAME"],
        autocommit=True,
    ) as other_worker:
        other_worker.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])
        assert send(check_in) == "busy: will look again"
        assert not EmailAttempt.objects.filter(check_in=check_in).exists()
        # Done: unlocked at once (a closed connection's lock goes only when its server
        # process has ended, a moment later).
        other_worker.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
    assert send(check_in, at=check_in.due_at + MINUTE) == "sent"
    assert len(mail_server.message_ids()) == 1


def test_a_second_attempt_in_flight_is_refused_by_the_database(check_in):
    left_in_flight(check_in, handed_over=False)
    with pytest.raises(IntegrityError, match="one_email_attempt_in_flight"):
        EmailAttempt.objects.create(
            organization_id=check_in.organization_id,
            clinic_id=check_in.clinic_id,
            check_in=check_in,
            purpose=EmailPurpose.CHECK_IN,
            message_id="<second@fascia>",
            recipients=["x@example.org"],
        )


@pytest.fixture
def urgent(world, patient) -> Alert:
    session = signed_session(patient, therapist=world.therapist)
    answer_when_due(first_check_in(session), by=patient.user, short_of_breath=True)
    return Alert.objects.get()


def test_the_therapist_is_told_of_an_alert_once_however_often_the_job_runs(
    mail_server, world, urgent
):
    with time_machine.travel(urgent.raised_at, tick=False):
        assert services.notify_alert(alert_id=urgent.pk) == "sent"
        assert services.notify_alert(alert_id=urgent.pk) == "already sent"
    attempt = EmailAttempt.objects.get(purpose=EmailPurpose.ALERT)
    assert (attempt.outcome, attempt.recipients) == (EmailOutcome.ACCEPTED, [world.therapist.email])
    assert mail_server.message_ids() == [attempt.message_id]


def test_an_escalation_is_recorded_with_the_servers_answer(mail_server, world, urgent):
    with time_machine.travel(urgent.escalate_at, tick=False):
        assert services.escalate_alert(alert_id=urgent.pk) == "escalated"
        assert services.escalate_alert(alert_id=urgent.pk) == "nothing to escalate"
    attempt = EmailAttempt.objects.get(purpose=EmailPurpose.ESCALATION)
    assert attempt.outcome == EmailOutcome.ACCEPTED
    assert attempt.recipients == [world.manager.email]
    assert attempt.server_reply.startswith("250 ")
    assert mail_server.message_ids() == [attempt.message_id]
