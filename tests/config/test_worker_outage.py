"""`manage.py worker` waits out a database outage and carries on: it does not exit.

Real processes: a worker on a private PostgreSQL server (tests/private_database.py),
which the test stops and starts again under it. About ten seconds: the worker's start,
the outage, and its wait (1 s doubling) before it tries again.
"""

import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = [sys.executable, "manage.py", "worker", "--no-reload", "--skip-checks"]

# The private server copies this process's test database, which pytest-django makes only
# when a test asks for the database.
pytestmark = pytest.mark.django_db


def wait_for(condition, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        threading.Event().wait(0.2)


def heartbeats(database) -> int:
    return database.query("SELECT count(*) FROM clinics_workerheartbeat")[0][0]


def queue_a_job(database) -> str:
    """The catch-up job, queued as django-tasks-db queues it (to run at once)."""
    job = str(uuid.uuid4())
    database.query(
        "INSERT INTO django_tasks_database_dbtaskresult (id, status, enqueued_at, args_kwargs, "
        "priority, task_path, worker_ids, queue_name, backend_name, run_after, "
        "exception_class_path, traceback) VALUES (%s, 'READY', now(), "
        """'{"args": [], "kwargs": {}}', 0, 'aftercare.tasks.catch_up', '[]', 'default', """
        "'default', '9999-01-01 00:00+00', '', '')",
        (job,),
    )
    return job


def status_of(database, job: str) -> str:
    return database.query(
        "SELECT status FROM django_tasks_database_dbtaskresult WHERE id = %s", (job,)
    )[0][0]


def test_the_worker_waits_out_a_database_outage_and_runs_the_next_job(private_database):
    with tempfile.TemporaryFile("w+") as log:
        worker = subprocess.Popen(
            [*WORKER, "--interval=0.2", "--no-startup-delay"],
            cwd=ROOT,
            env=private_database.environment(
                DEBUG="true",
                TASKS_BACKEND="django_tasks_db.DatabaseBackend",
                EMAIL_URL="consolemail://",
                TASK_WORKER_LEASE_SECONDS="4",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: heartbeats(private_database) > 0, seconds=60, what="a heartbeat")
            private_database.stop()
            # Long enough for the worker to have found the database gone, more than once.
            threading.Event().wait(3)
            assert worker.poll() is None, "the worker exited when the database went away"
            private_database.start()
            job = queue_a_job(private_database)
            wait_for(
                lambda: status_of(private_database, job) == "SUCCESSFUL",
                seconds=60,
                what="the worker to run a job after the outage",
            )
            assert worker.poll() is None
        finally:
            worker.terminate()
            worker.wait(10)
            log.seek(0)
            output = log.read()
            print(output)  # shown when the test fails
    assert "the database is not answering" in output
    assert "trying again in" in output


def beat_ages(database) -> list[float]:
    return [
        age
        for (age,) in database.query(
            "SELECT extract(epoch FROM now() - seen_at) FROM clinics_workerheartbeat"
        )
    ]


def test_a_worker_started_while_the_database_is_down_beats_once_it_is_up(private_database):
    """At boot a worker may start before PostgreSQL: its heartbeat, which takes back the
    jobs of dead workers, must start beating when the database comes."""
    private_database.query("DELETE FROM clinics_workerheartbeat")
    private_database.stop()
    worker = subprocess.Popen(
        [*WORKER, "--interval=0.2", "--no-startup-delay"],
        cwd=ROOT,
        env=private_database.environment(
            DEBUG="true",
            TASKS_BACKEND="django_tasks_db.DatabaseBackend",
            EMAIL_URL="consolemail://",
            TASK_WORKER_LEASE_SECONDS="2",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        threading.Event().wait(3)  # it started, and found no database
        private_database.start()
        wait_for(lambda: beat_ages(private_database), seconds=60, what="a first heartbeat")
        threading.Event().wait(2)  # four beats' time
        assert max(beat_ages(private_database)) < 1.5, "the heartbeat stopped after one beat"
        assert worker.poll() is None
    finally:
        worker.terminate()
        worker.wait(10)
