"""`manage.py worker` killed in the middle of sending reminders: none lost, none sent twice.

Real processes, as tests/config/test_worker.py does for check-ins: the worker runs on the
test database and sends to a real SMTP server that stalls on one message; the test kills
it with SIGKILL there, starts another, and counts what the server received.
"""

import datetime
import signal

import pytest
from django.tasks import TaskResultStatus, task_backends
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from sessions import services, tasks
from sessions.models import Reminder
from tests.config.test_worker import start_worker
from tests.mail_server import MailServer, Stall
from tests.patients.factories import PatientFactory
from tests.processes import wait_for

PATIENTS = 3

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def due_reminders(world) -> list[Reminder]:
    """A reminder due a minute ago for each of PATIENTS sessions, queued for the worker."""
    first = timezone.now().replace(second=0, microsecond=0) + datetime.timedelta(hours=3)
    for number in range(PATIENTS):
        services.book_session(
            clinic=world.kelowna,
            therapist=world.therapist,
            patient=PatientFactory(
                home_clinic=world.kelowna, email=f"patient{number}@example.test"
            ),
            starts_at=first + number * datetime.timedelta(minutes=45),
            by=world.front_desk,
        )
    Reminder.objects.update(due_at=timezone.now() - datetime.timedelta(minutes=1))
    due = list(Reminder.objects.order_by("patient__email"))
    assert len(due) == PATIENTS
    working = task_backends["default"]
    task_backends["default"] = DatabaseBackend("default", {"BACKEND": "x"})
    try:
        DBTaskResult.objects.all().delete()
        for reminder in due:
            tasks.send_reminder.enqueue(reminder_id=str(reminder.pk))
    finally:
        task_backends["default"] = working
    return due


def run_killing_the_first_worker(mail_server) -> None:
    first = start_worker(mail_server)
    second = None
    try:
        assert mail_server.handler.stalled.wait(60), "the worker never reached the stall"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = start_worker(mail_server)
        wait_for(
            lambda: Reminder.objects.filter(sent_at__isnull=False).count() == PATIENTS,
            seconds=60,
            what="every reminder to be sent",
        )
        wait_for(
            lambda: not DBTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL).exists(),
            seconds=30,
            what="every task to finish",
        )
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(10)


def test_a_worker_killed_before_handing_over_a_reminder_sends_it_once(due_reminders):
    """Killed while the server stalled on the 2nd recipient: nothing of it was delivered, so
    the next worker sends it, once."""
    with MailServer() as mail_server:
        mail_server.handler.stall = Stall(at="rcpt", on=2, seconds=1)
        run_killing_the_first_worker(mail_server)
        received = mail_server.message_ids()
    assert sorted(received) == sorted(r.message_id for r in Reminder.objects.all())
    assert len(received) == PATIENTS


def test_a_worker_killed_after_handing_over_a_reminder_never_sends_it_twice(due_reminders):
    """Killed while the server held the 2nd message, which it then kept: the next worker
    counts it as sent, with a note, and sends no second copy."""
    with MailServer() as mail_server:
        mail_server.handler.stall = Stall(at="data", on=2, seconds=1)
        run_killing_the_first_worker(mail_server)
        received = mail_server.message_ids()
    assert len(received) == PATIENTS
    assert sorted(received) == sorted(r.message_id for r in Reminder.objects.all())
    handed_over = Reminder.objects.get(last_send_error__contains="never arrives twice")
    assert handed_over.sent_at == handed_over.handed_over_at
