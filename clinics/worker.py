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
  to 30 s, and carries on when the database is back. A task cut off by the
  outage stays RUNNING until the lease puts it back.
- **Health.** `last_beat` and `oldest_due` feed /healthz (config/views.py).
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
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.db import connections as all_connections
from django.db.models import Exists, Max, Min, OuterRef
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult, get_date_max

from clinics.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

DATABASE_GONE = (OperationalError, InterfaceError)
FIRST_WAIT, LONGEST_WAIT = 1.0, 30.0
"""Seconds between tries while the database does not answer: doubling, with jitter."""


def lease() -> timedelta:
    """How long a running task may go without its worker's heartbeat before it is taken again."""
    return timedelta(seconds=settings.TASK_WORKER_LEASE_SECONDS)


def requeue_abandoned() -> list[str]:
    """Put back in the queue every RUNNING task whose worker stopped beating; their ids."""
    cutoff = timezone.now() - lease()
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
            logger.warning(
                "task %s (%s) was left running by worker %s, which stopped: queued again",
                task.pk,
                task.task_path,
                (task.worker_ids or ["?"])[-1],
            )
            task.status = TaskResultStatus.READY
            task.save(update_fields=["status"])
            requeued.append(str(task.pk))
    return requeued


def last_beat():
    """When a worker last showed it was alive (None: never)."""
    return WorkerHeartbeat.objects.aggregate(last=Max("seen_at"))["last"]


def oldest_due():
    """When the oldest task that should have started by now was due (None: none waits)."""
    now = timezone.now()
    ready = DBTaskResult.objects.filter(status=TaskResultStatus.READY)
    timed = ready.filter(run_after__lte=now).aggregate(due=Min("run_after"))["due"]
    at_once = ready.filter(run_after=get_date_max()).aggregate(due=Min("enqueued_at"))["due"]
    return min((due for due in (timed, at_once) if due is not None), default=None)


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
                    logger.warning(
                        "the database is not answering (%s): trying again in %.0f s",
                        str(error).strip().splitlines()[0] if str(error).strip() else error,
                        wait,
                    )
                    _forget_connections()
                    time.sleep(wait * random.uniform(0.8, 1.2))  # noqa: S311 (jitter)
                    wait = min(wait * 2, LONGEST_WAIT)
        finally:
            self.stopped.set()

    def run_task(self, db_task_result: DBTaskResult) -> None:
        self.task_id = db_task_result.pk
        self.beat()  # the task is named before it runs: the lease never takes it from a live worker
        try:
            super().run_task(db_task_result)
        finally:
            self.task_id = None

    def beat(self) -> None:
        now = timezone.now()
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={"seen_at": now, "task_id": self.task_id},
            create_defaults={
                "seen_at": now,
                "task_id": self.task_id,
                "started_at": self.started_at,
                "host": socket.gethostname()[:255],
                "pid": os.getpid(),
            },
        )

    def _beat_until_stopped(self) -> None:
        """The heartbeat thread (its own database connection): beat, and take back
        what dead workers left."""
        every = settings.TASK_WORKER_LEASE_SECONDS / 4
        WorkerHeartbeat.objects.filter(seen_at__lt=timezone.now() - timedelta(days=1)).delete()
        while not self.stopped.is_set():
            try:
                self.beat()
                requeue_abandoned()
            except DatabaseError as error:
                # Never the end of the worker: the next beat tries again.
                logger.warning("heartbeat not written: %s", str(error).strip() or error)
                _forget_connections(this_thread_only=True)
            finally:
                close_old_connections()
            self.stopped.wait(every)
        connection.close()


def _forget_connections(*, this_thread_only: bool = False) -> None:
    """Drop broken connections so the next query asks the pool for a new one."""
    targets = [connection] if this_thread_only else all_connections.all(initialized_only=True)
    for each in targets:
        try:
            each.close()
        except DATABASE_GONE:
            each.connection = None
