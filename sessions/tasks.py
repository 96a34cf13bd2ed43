"""Treatment sessions' background jobs (Django's Tasks framework; `manage.py db_worker` runs them).

The services queue a job with `run_now` once their transaction commits, so a
rolled-back write sends nothing. Each job takes the id of its row, locks it and
does only what is still due, so it is safe to run twice or late. This module
imports no service at load time: the services import it, and the jobs import
them when they run.
"""

from django.db import transaction
from django.tasks import Task, task

from clinics import row_security


def run_now(job: Task, **kwargs) -> None:
    """Queue `job` to run as soon as a worker is free, once the current transaction commits."""
    transaction.on_commit(lambda: job.enqueue(**kwargs))


@task
@row_security.every_organization()  # work for the clinics, not for one person
def send_recall_notice(notice_id: str) -> str:
    """E-mail one queued recall notice (sessions.services.recall.send_recall_notice)."""
    from sessions.services import recall

    return recall.send_recall_notice(notice_id=notice_id)
