"""Fascia's task worker: django-tasks-db's worker, with a lease on every task it runs,
a heartbeat, and patience with the database (`manage.py worker`).

- **Lease.** django-tasks-db marks a task RUNNING when a worker takes it and
  never looks at it again: a worker killed mid-task left it RUNNING for good.
  Every worker here beats (`WorkerHeartbeat`) every LEASE/4 seconds, naming the
  task it runs. A RUNNING task that no worker has named for a lease is put back
  in the queue, and the next free worker runs it again. Fascia's jobs are made
  to run twice (each locks its row and does only what is still due; e-mails
  are recorded before and after the send, aftercare/services/emails.py).
- **The database going away** does not end the worker: it waits, 1 s doubling
  to 30 s, and carries on when the database is back.
- **A task cut off by the database going away** (its session killed, a
  failover) is not failed: it is queued again, to run a quarter lease later.
- **Health.** `jobs_health` feeds /healthz (config/views.py).
"""

import logging
import os
import random
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.db import connections as all_connections
from django.db.models import DateTimeField, Exists, ExpressionWrapper, Max, Min, OuterRef, Value
from django.db.models.functions import Now
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult, get_date_max

from clinics.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

DATABASE_GONE = (OperationalError, InterfaceError)
FIRST_WAIT, LONGEST_WAIT = 1.0, 30.0
"""Seconds between tries while the database does not answer: doubling, with jitter."""
MOST_TAKES = 5
"""A task taken this many times without ending (it kills its worker?) is failed, not taken
again: one bad task must not stop the queue by killing every worker in turn."""


def lease() -> timedelta:
    """How long a running task may go without its worker's heartbeat before it is taken again."""
    return timedelta(seconds=settings.TASK_WORKER_LEASE_SECONDS)


def _database_now_minus(span: timedelta):
    # The database's clock, not this host's: workers on several machines compare beats.
    return ExpressionWrapper(Now() - Value(span), output_field=DateTimeField())


def requeue_abandoned() -> list[str]:
    """Put back in the queue every RUNNING task whose worker stopped beating; their ids.

    A task already taken MOST_TAKES times is failed instead, saying why.
    """
    cutoff = _database_now_minus(lease())
    alive = WorkerHeartbeat.objects.filter(task_id=OuterRef("pk"), seen_at__gte=cutoff)
    abandoned = (
        DBTaskResult.objects.running()
        .filter(started_at__lt=cutoff)
        .exclude(Exists(alive))
        .select_for_update(skip_locked=True)
    )
    requeued = []
    with transaction.atomic():
        for task in abandoned:
            worker = (task.worker_ids or ["?"])[-1]
            if len(task.worker_ids) >= MOST_TAKES:
                logger.error(
                    "task %s (%s) was left running by %s workers in turn: failed, not taken again",
                    task.pk,
                    task.task_path,
                    len(task.worker_ids),
                )
                task.set_failed(
                    RuntimeError(
                        f"Taken by {len(task.worker_ids)} workers, each of which stopped while "
                        "running it: not taken again."
                    )
                )
                continue
            logger.warning(
                "task %s (%s) was left running by worker %s, which stopped: queued again",
                task.pk,
                task.task_path,
                worker,
            )
            task.status = TaskResultStatus.READY
            task.save(update_fields=["status"])
            requeued.append(str(task.pk))
    return requeued


def jobs_health() -> dict:
    """What /healthz says of the background jobs; "status" is "overdue" when a due job has
    waited more than TASKS_OVERDUE_SECONDS for a worker."""
    now = timezone.now()
    ready = DBTaskResult.objects.filter(status=TaskResultStatus.READY)
    timed = ready.filter(run_after__lte=now).aggregate(due=Min("run_after"))["due"]
    at_once = ready.filter(run_after=get_date_max()).aggregate(due=Min("enqueued_at"))["due"]
    due = min((when for when in (timed, at_once) if when is not None), default=None)
    beat = WorkerHeartbeat.objects.aggregate(last=Max("seen_at"))["last"]
    waited = max(0, int((now - due).total_seconds())) if due is not None else 0
    return {
        "status": "overdue" if waited > settings.TASKS_OVERDUE_SECONDS else "ok",
        "oldest_due_waited_seconds": waited,
        "overdue_after_seconds": settings.TASKS_OVERDUE_SECONDS,
        "last_worker_heartbeat": beat.isoformat() if beat is not None else None,
        "last_worker_heartbeat_seconds_ago": (
            max(0, int((now - beat).total_seconds())) if beat is not None else None
        ),
    }


class Worker(db_worker.Worker):
    def __init__(self, **options):
        super().__init__(**options)
        self.task_id = None
        self.stopped = threading.Event()
        self.started_at = timezone.now()

    def run(self) -> None:
        beating = threading.Thread(target=self._beat_until_stopped, daemon=True)
        beating.start()
        wait = FIRST_WAIT
        try:
            while self.running:
                began = time.monotonic()
                try:
                    super().run()
                    return
                except DATABASE_GONE as error:
                    if time.monotonic() - began > LONGEST_WAIT:
                        wait = FIRST_WAIT  # it had been working: a new outage
                    _forget_connections()
                    if not self.running:
                        return  # asked to stop during the task the outage cut off
                    logger.warning(
                        "the database is not answering (%s): trying again in %.0f s",
                        _first_line(error),
                        wait,
                    )
                    time.sleep(wait * random.uniform(0.8, 1.2))  # noqa: S311 (jitter)
                    wait = min(wait * 2, LONGEST_WAIT)
        finally:
            self.stopped.set()

    def run_task(self, db_task_result: DBTaskResult) -> None:
        self.task_id = db_task_result.pk
        try:
            self.beat()  # named before it runs: the lease never takes it from a live worker
            super().run_task(db_task_result)
        finally:
            self.task_id = None
        if (
            db_task_result.status == TaskResultStatus.FAILED
            and _cut_off(db_task_result)
            and len(db_task_result.worker_ids) < MOST_TAKES
        ):
            self._again_later(db_task_result)

    def _again_later(self, db_task_result: DBTaskResult) -> None:
        """A task the database going away cut off did not fail: it runs again, after a
        quarter of the lease (the outage may not be over), MOST_TAKES times at most.

        Its services lock their rows and record their e-mails before sending, so
        running it again does only what it had not done.
        """
        logger.warning(
            "task %s (%s) was cut off by the database going away: queued again",
            db_task_result.pk,
            db_task_result.task_path,
        )
        DBTaskResult.objects.filter(pk=db_task_result.pk).update(
            status=TaskResultStatus.READY,
            run_after=timezone.now() + lease() / 4,
            finished_at=None,
            exception_class_path="",
            traceback="",
        )

    def beat(self) -> None:
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={"seen_at": Now(), "task_id": self.task_id},
            create_defaults={
                "seen_at": Now(),
                "task_id": self.task_id,
                "started_at": self.started_at,
                "host": socket.gethostname()[:255],
                "pid": os.getpid(),
            },
        )

    def _beat_until_stopped(self) -> None:
        """The heartbeat thread (its own database connection): beat, and take back
        what dead workers left. Nothing ends it but the worker's end."""
        every = settings.TASK_WORKER_LEASE_SECONDS / 4
        tidied = False
        while not self.stopped.is_set():
            try:
                self.beat()
                requeue_abandoned()
                if not tidied:
                    stale = _database_now_minus(timedelta(days=1))
                    WorkerHeartbeat.objects.filter(seen_at__lt=stale).delete()
                    tidied = True
            except Exception as error:  # the beat must go on: the next one tries again
                logger.warning("heartbeat not written: %s", _first_line(error))
                _forget_connections(this_thread_only=True)
            finally:
                close_old_connections()
            self.stopped.wait(every)
        connection.close()


def _cut_off(db_task_result: DBTaskResult) -> bool:
    """Whether the task failed because its database session went away."""
    failed_with = db_task_result.exception_class_path
    return any(failed_with.endswith(f".{kind.__name__}") for kind in DATABASE_GONE)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _forget_connections(*, this_thread_only: bool = False) -> None:
    """Drop broken connections so the next query asks the pool for a new one."""
    targets = [connection] if this_thread_only else all_connections.all(initialized_only=True)
    for each in targets:
        try:
            each.close()
        except DATABASE_GONE:
            each.connection = None
