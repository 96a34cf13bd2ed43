"""Queueing a background job (Django's Tasks framework) once the write that causes it commits.

Every app's services queue their jobs through these two, so a rolled-back write queues
nothing. A backend that cannot wait (the tests' immediate backend) runs only what is
due now; each app's catch-up runs the rest.
"""

from datetime import datetime

from django.db import transaction
from django.tasks import Task
from django.utils import timezone


def run_now(job: Task, **kwargs) -> None:
    """Queue `job` to run as soon as a worker is free, once the current transaction commits."""
    transaction.on_commit(lambda: job.enqueue(**kwargs))


def run_at(job: Task, when: datetime, **kwargs) -> None:
    """Queue `job` to run at `when`, once the current transaction commits."""

    def enqueue() -> None:
        if job.get_backend().supports_defer:
            job.using(run_after=when).enqueue(**kwargs)
        elif when <= timezone.now():
            job.enqueue(**kwargs)

    transaction.on_commit(enqueue)
