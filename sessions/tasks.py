"""Treatment sessions' background jobs (Django's Tasks framework; `manage.py db_worker` runs them).

The services queue a job with `run_now` (or, for a timed one, `run_at`) once
their transaction commits, so a rolled-back write sends nothing. A backend that
cannot wait (the tests' immediate backend) runs only what is due now, and
`catch_up_reminders` sends the rest: it is also the way to recover after the
workers were down (`manage.py reminders_catch_up`). Each job takes the id of its row, locks it and
does only what is still due, so it is safe to run twice or late. This module
imports no service at load time: the services import it, and the jobs import
them when they run.
"""

from django.tasks import task

from clinics import row_security


@task
@row_security.every_organization()  # work for the clinics, not for one person
def send_reminder(reminder_id: str) -> str:
    """E-mail one appointment reminder when due (sessions.services.reminders.send_reminder)."""
    from sessions.services import reminders

    return reminders.send_reminder(reminder_id=reminder_id)


@task
@row_security.every_organization()  # work for the clinics, not for one person
def catch_up_reminders() -> dict[str, int]:
    """Send every reminder that is due (sessions.services.reminders.catch_up_reminders)."""
    from sessions.services import reminders

    return reminders.catch_up_reminders()


@task
@row_security.every_organization()  # work for the clinics, not for one person
def send_recall_notice(notice_id: str) -> str:
    """E-mail one queued recall notice (sessions.services.recall.send_recall_notice)."""
    from sessions.services import recall

    return recall.send_recall_notice(notice_id=notice_id)
