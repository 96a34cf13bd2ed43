"""/healthz answers 200 when the database answers and no job waits too long, 503 when not.

A real server whose database is stopped answering 503 is in tests/config/test_outage.py."""

import datetime

import time_machine
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from clinics.models import WorkerHeartbeat

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
