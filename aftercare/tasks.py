"""Aftercare's background jobs (Django's Tasks framework; `manage.py db_worker` runs them).

Each job takes the id of its row and is safe to run twice, late, or at the
same time as another worker: it locks the row and does only what is still
due. Timed jobs are queued to run at their time (`run_at`). A backend that
cannot wait (the tests' immediate backend) runs only what is due now, and
`catch_up` does the rest: it runs everything due, so it is also the way to
recover after the workers were down (`manage.py aftercare_catch_up`).
"""

from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from clinics import row_security


@task
@row_security.every_organization()  # work for the clinics, not for one person
def send_check_in(check_in_id: str) -> str:
    from aftercare.services import check_ins

    return check_ins.send_check_in(check_in_id=check_in_id)


@task
@row_security.every_organization()  # work for the clinics, not for one person
def notify_alert(alert_id: str, attempt: int = 1) -> str:
    from aftercare.services import alerts

    return alerts.notify_alert(alert_id=alert_id, attempt=attempt)


@task
@row_security.every_organization()  # work for the clinics, not for one person
def escalate_alert(alert_id: str) -> str:
    from aftercare.services import alerts

    return alerts.escalate_alert(alert_id=alert_id)


@task
@row_security.every_organization()  # work for the clinics, not for one person
def catch_up() -> dict[str, int]:
    """Send every check-in that is due and escalate every urgent alert that is overdue."""
    from aftercare.models import Alert, AlertLevel, CheckIn
    from aftercare.services import alerts, check_ins

    now = timezone.now()
    due = CheckIn.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        sent_at__isnull=True,
        answer__isnull=True,
        due_at__lte=now,
        closes_at__gt=now,
    ).values_list("pk", flat=True)
    overdue = Alert.objects.filter(
        level=AlertLevel.URGENT,
        acknowledged_at__isnull=True,
        escalated_at__isnull=True,
        escalate_at__lte=now,
    ).values_list("pk", flat=True)
    sent = sum(check_ins.send_check_in(check_in_id=pk) == "sent" for pk in due)
    escalated = sum(alerts.escalate_alert(alert_id=pk) == "escalated" for pk in overdue)
    return {"check_ins_sent": sent, "alerts_escalated": escalated}
