"""/healthz answers 200 when the database answers and no job waits too long, 503 when not."""

import datetime
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import time_machine
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from clinics.models import WorkerHeartbeat

ROOT = Path(__file__).resolve().parents[2]
MINUTE, HOUR = datetime.timedelta(minutes=1), datetime.timedelta(hours=1)


def test_healthz_is_200_when_the_database_answers(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "jobs": {
            "status": "ok",
            "oldest_due_waited_seconds": 0,
            "overdue_after_seconds": 300,
            "last_worker_heartbeat": None,
            "last_worker_heartbeat_seconds_ago": None,
        },
    }
    assert Client().head("/healthz").status_code == 200  # probes often send HEAD


NOW = timezone.now().replace(microsecond=0)


def queued(*, due: datetime.datetime | None, enqueued: datetime.datetime) -> DBTaskResult:
    """A job waiting in the database queue: timed (`due`), or to run at once."""
    job = DBTaskResult.objects.create(
        args_kwargs={"args": [], "kwargs": {}},
        task_path="aftercare.tasks.catch_up",
        backend_name="default",
        run_after=due or get_date_max(),
    )
    DBTaskResult.objects.filter(pk=job.pk).update(enqueued_at=enqueued)  # auto_now_add
    return job


@time_machine.travel(NOW, tick=False)
def test_healthz_is_503_when_a_due_job_waited_too_long_for_a_worker(db):
    WorkerHeartbeat.objects.create(
        worker_id="w1", host="h", pid=1, started_at=NOW - HOUR, seen_at=NOW - 10 * MINUTE
    )
    queued(due=NOW + HOUR, enqueued=NOW - HOUR)  # not due: never overdue
    queued(due=NOW - 4 * MINUTE, enqueued=NOW - HOUR)
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["jobs"]["oldest_due_waited_seconds"] == 240
    assert response.json()["jobs"]["last_worker_heartbeat_seconds_ago"] == 600

    queued(due=None, enqueued=NOW - 6 * MINUTE)  # "at once", six minutes ago
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["jobs"]["status"] == "overdue"
    assert response.json()["jobs"]["oldest_due_waited_seconds"] == 360
    # A load balancer asks only whether this web server can serve.
    assert Client().get("/healthz?scope=web").json() == {"status": "ok", "database": "ok"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthz_is_503_from_a_real_server_whose_database_is_gone():
    closed_port = free_port()  # nothing listens there
    port = free_port()
    env = dict(
        os.environ,
        DEBUG="true",
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{closed_port}/fascia",
        DATABASE_POOL_TIMEOUT="1",
    )
    # A plain WSGI server: runserver itself refuses to start without its database.
    serve = (
        "from wsgiref.simple_server import make_server; from config.wsgi import application; "
        f"make_server('127.0.0.1', {port}, application).serve_forever()"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", serve],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        status = None
        deadline = time.monotonic() + 30
        while status is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10)
                status = 200
            except urllib.error.HTTPError as answer:
                status = answer.code
            except OSError:
                time.sleep(0.2)
        assert status == 503
    finally:
        server.terminate()
        server.wait(timeout=10)
