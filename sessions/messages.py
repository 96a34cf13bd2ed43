"""Sessions' e-mails on the patient page's Messages list (patients.messages): appointment
reminders and needle-lot recall notices, one query each."""

from django.db.models import Q
from django.utils import dateformat, timezone

from clinics import access
from patients.messages import LIMIT, Message
from sessions.models import NoticeStatus, RecallNotice, Reminder, ReminderAnswer, Status
from sessions.services.reminders import NO_EMAIL


def reminders_and_recall_notices(user, patient) -> list[Message]:
    return [*_reminders(user, patient), *_recall_notices(user, patient)]


def _reminders(user, patient) -> list[Message]:
    # Sent or tried, or not sent for want of an address; not those still to come, nor
    # those of bookings made too close to the start, which nobody was to receive.
    reminders = access.visible_to(
        user,
        Reminder.objects.filter(patient=patient)
        .filter(Q(sent_at__isnull=False) | Q(send_attempts__gt=0) | Q(last_send_error=NO_EMAIL))
        .select_related("clinic", "session"),
    ).order_by("-due_at")[:LIMIT]
    messages = []
    for reminder in reminders:
        local = timezone.localtime(reminder.for_starts_at, reminder.clinic.zone)
        session = reminder.session
        if reminder.sent_at is not None:
            status = "Sent"
            if reminder.answer:
                status += f"; {ReminderAnswer(reminder.answer).label.lower()}"
        elif session.status != Status.BOOKED or session.starts_at != reminder.for_starts_at:
            status = "Not sent: the booking changed before it went."
        elif reminder.retrying:
            status = f"Not sent yet: {reminder.last_send_error} Trying again."
        else:
            status = f"Not sent: {reminder.last_send_error}"
        messages.append(
            Message(
                at=reminder.sent_at or reminder.due_at,
                kind="Appointment reminder",
                status=status,
                about=f"Session on {dateformat.format(local, 'D j M Y H:i')} at "
                f"{reminder.clinic.name}",
                sent=reminder.sent_at is not None,
            )
        )
    return messages


def _recall_notices(user, patient) -> list[Message]:
    notices = access.visible_to(user, RecallNotice.objects.filter(patient=patient)).order_by(
        "-requested_at"
    )[:LIMIT]
    return [
        Message(
            at=notice.sent_at or notice.failed_at or notice.requested_at,
            kind="Needle recall notice",
            status={
                NoticeStatus.SENT: "Sent",
                NoticeStatus.QUEUED: "On its way",
                NoticeStatus.FAILED: f"Not sent: {notice.last_error}",
            }[notice.status],
            about=f"Lot {notice.lot_number}",
            sent=notice.status == NoticeStatus.SENT,
        )
        for notice in notices
    ]
