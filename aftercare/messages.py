"""Aftercare's e-mails on the patient page's Messages list (patients.messages): the
check-ins, in one query."""

from django.db.models import Q
from django.utils import dateformat, timezone

from aftercare.models import CheckIn
from clinics import access
from patients.messages import LIMIT, Message


def check_ins_sent(user, patient) -> list[Message]:
    check_ins = access.visible_to(
        user,
        CheckIn.objects.filter(patient=patient)
        .filter(Q(sent_at__isnull=False) | Q(send_attempts__gt=0) | ~Q(last_send_error=""))
        .select_related("clinic"),
    ).order_by("-due_at")[:LIMIT]
    messages = []
    for check_in in check_ins:
        local = timezone.localtime(check_in.due_at, check_in.clinic.zone)
        messages.append(
            Message(
                at=check_in.sent_at or check_in.due_at,
                kind="Check-in",
                status="Sent"
                if check_in.sent_at is not None
                else f"Not sent: {check_in.last_send_error}",
                about=f"{check_in.hours_after} hours after the session, due "
                f"{dateformat.format(local, 'D j M H:i')}",
                sent=check_in.sent_at is not None,
            )
        )
    return messages
