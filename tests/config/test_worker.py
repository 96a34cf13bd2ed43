"""`manage.py worker` killed in the middle of sending check-ins: nothing lost, nothing doubled
where the record says it was not.

Real processes: the worker runs as its own process on the test database, sending to a real
SMTP server (tests/mail_server.py) that stalls on one message; the test kills the worker
with SIGKILL while it waits there, starts another, and counts what the server received
against what the database recorded. Each case takes five to ten seconds: worker starts
and a lease (2 s here) running out are what is being tested.
"""

import datetime
import os
import signal
import subprocess
from pathlib import Path

import pytest
from django.db import connection
from django.tasks import TaskResultStatus, task_backends
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from aftercare import services, tasks
from aftercare.models import CheckIn, EmailAttempt, EmailOutcome
from tests.aftercare.factories import signed_session
from tests.mail_server import MailServer, Stall
from tests.patients.factories import PatientFactory, with_portal_login
from tests.processes import WORKER, wait_for

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = 4
LEASE_SECONDS = 2

pytestmark = pytest.mark.django_db(transaction=True)


def database_url() -> str:
    connection.ensure_connection()
    settings = connection.settings_dict
    return (
        f"postgresql://{settings['USER']}@/{settings['NAME']}"
        f"?host={settings['HOST']}&port={settings['PORT']}"
    )


WORKER_SESSIONS = "fascia-worker-under-test"


def start_worker(mail_server: MailServer) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "true",
        # Named, so that a test can cut the worker's database sessions off.
        "DATABASE_URL": f"{database_url()}&application_name={WORKER_SESSIONS}",
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "EMAIL_URL": mail_server.url,
        "TASK_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    return subprocess.Popen(
        [*WORKER, "--interval=0.1", "--no-startup-delay"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def due_check_ins(world) -> list[CheckIn]:
    """One check-in due an hour ago for each of PATIENTS patients, queued for the worker."""
    services.save_settings(
        organization=world.organization,
        by=world.org_admin,
        check_in_hours=[24],
        escalate_after_minutes=30,
    )
    first_signed = timezone.now() - datetime.timedelta(hours=25)
    for number in range(PATIENTS):
        signed_at = first_signed - number * datetime.timedelta(minutes=45)  # one therapist
        patient = with_portal_login(
            PatientFactory(home_clinic=world.kelowna, email=f"patient{number}@example.test")
        )
        signed_session(patient, therapist=world.therapist, starts_at=signed_at, with_plan=False)
    check_ins = list(CheckIn.objects.order_by("patient__email"))
    assert len(check_ins) == PATIENTS
    working = task_backends["default"]
    task_backends["default"] = DatabaseBackend("default", {"BACKEND": "x"})
    try:
        DBTaskResult.objects.all().delete()  # what signing queued on the tests' backend
        for check_in in check_ins:
            tasks.send_check_in.enqueue(check_in_id=str(check_in.pk))
    finally:
        task_backends["default"] = working
    return check_ins


def run_killing_the_first_worker(mail_server, check_ins):
    first = start_worker(mail_server)
    second = None
    try:
        assert mail_server.handler.stalled.wait(60), "the worker never reached the stall"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = start_worker(mail_server)
        wait_for(
            lambda: CheckIn.objects.filter(sent_at__isnull=False).count() == len(check_ins),
            seconds=60,
            what="every check-in to be sent",
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


def test_a_worker_killed_after_handing_over_an_e_mail_leaves_one_duplicate_on_record(
    due_check_ins,
):
    """Killed while the server held the 3rd message, which it then kept: sent again, and the
    record says the patient may have it twice."""
    with MailServer() as mail_server:
        mail_server.handler.stall = Stall(at="data", on=3, seconds=1)
        run_killing_the_first_worker(mail_server, due_check_ins)
        received = mail_server.message_ids()
    accepted = EmailAttempt.objects.filter(outcome=EmailOutcome.ACCEPTED)
    uncertain = EmailAttempt.objects.get(outcome=EmailOutcome.UNCERTAIN)
    # None lost: every check-in has exactly one attempt the server accepted, and received.
    assert sorted(a.check_in_id for a in accepted) == sorted(c.pk for c in due_check_ins)
    assert {a.message_id for a in accepted} <= set(received)
    # One doubled, and only where the record says it may be.
    assert len(received) == PATIENTS + 1
    assert uncertain.message_id in received
    assert "may have arrived twice" in uncertain.note
    assert set(received) == {a.message_id for a in accepted} | {uncertain.message_id}
    assert EmailAttempt.objects.count() == PATIENTS + 1
    # The task the killed worker held was taken again by the second one.
    retaken = DBTaskResult.objects.get(args_kwargs__kwargs__check_in_id=str(uncertain.check_in_id))
    assert len(retaken.worker_ids) == 2


def test_a_worker_killed_before_handing_over_an_e_mail_doubles_nothing(due_check_ins):
    """Killed while the server stalled on the 3rd recipient: nothing of it was delivered,
    so it is sent again without a duplicate, and recorded as not sent."""
    with MailServer() as mail_server:
        mail_server.handler.stall = Stall(at="rcpt", on=3, seconds=1)
        run_killing_the_first_worker(mail_server, due_check_ins)
        received = mail_server.message_ids()
    accepted = EmailAttempt.objects.filter(outcome=EmailOutcome.ACCEPTED)
    not_sent = EmailAttempt.objects.get(outcome=EmailOutcome.NOT_SENT)
    assert len(received) == PATIENTS
    assert sorted(received) == sorted(a.message_id for a in accepted)
    assert sorted(a.check_in_id for a in accepted) == sorted(c.pk for c in due_check_ins)
    assert not_sent.message_id not in received
    assert "not delivered" in not_sent.note


def test_a_send_whose_database_session_is_cut_off_is_queued_again_not_failed(due_check_ins):
    """The worker's database sessions killed (a failover) while the server held the 1st
    message: the job is not failed but run again, and nothing is lost."""
    with MailServer() as mail_server:
        mail_server.handler.stall = Stall(at="data", on=1, seconds=1)
        worker = start_worker(mail_server)
        try:
            assert mail_server.handler.stalled.wait(60), "the worker never reached the stall"
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    [WORKER_SESSIONS],
                )
            wait_for(
                lambda: CheckIn.objects.filter(sent_at__isnull=False).count() == PATIENTS,
                seconds=60,
                what="every check-in to be sent",
            )
            wait_for(
                lambda: (
                    not DBTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL).exists()
                ),
                seconds=30,
                what="every task to finish",
            )
            assert worker.poll() is None, "the worker exited"
        finally:
            worker.terminate()
            worker.wait(10)
        received = mail_server.message_ids()
    accepted = EmailAttempt.objects.filter(outcome=EmailOutcome.ACCEPTED)
    assert sorted(a.check_in_id for a in accepted) == sorted(c.pk for c in due_check_ins)
    assert {a.message_id for a in accepted} <= set(received)
    # The first try reached the server, whose answer could not be recorded: on record as such.
    cut_off = EmailAttempt.objects.get(outcome=EmailOutcome.UNCERTAIN)
    assert cut_off.message_id in received
    assert len(received) == PATIENTS + 1
