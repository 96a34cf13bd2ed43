"""The confirm and cancel links of a reminder e-mail, used by the patient without a login.

A link is signed (its own salt), names the reminder and the action, works until
the session's start, and the two links of a reminder are used once between
them: the first confirm or cancel is recorded, and every later use of either
shows what happened. Opening a link changes nothing (mail scanners open them):
the page asks for a button press (a POST with its CSRF token). The page shows
the date, time, clinic and therapist, never the patient's record.
"""

import uuid
from dataclasses import dataclass

from django.core import signing
from django.db import transaction
from django.utils import timezone

from clinics import row_security
from sessions.exceptions import BookingRefused, ReminderLinkInvalid
from sessions.models import Reminder, ReminderAnswer, Status, TreatmentSession
from sessions.services.booking import record_cancellation
from sessions.services.reminders import ACTIONS, LINK_SALT, when_on_the_clinics_clock
from sessions.services.schedule import booking_settings_of

CANCELLED_FROM_THE_REMINDER = "Cancelled by the patient from the reminder"
REASON_LIMIT = 500

NOT_VALID = (
    "This link is not valid: part of it may be missing or changed. Use the whole link from "
    "the reminder e-mail, or call the clinic."
)


def reminder_from_link(token: str) -> tuple[Reminder, str]:
    """The reminder and the action (confirm, cancel) a link names; ReminderLinkInvalid if it
    is not as it was sent. Its organisation is then open to the rest of the request
    (clinics.row_security.admit), as a patient's invitation link is."""
    try:
        signed = signing.loads(token, salt=LINK_SALT)
        reminder_id, action = uuid.UUID(signed["reminder"]), signed["action"]
    except (signing.BadSignature, ValueError, TypeError, KeyError, AttributeError):
        raise ReminderLinkInvalid(NOT_VALID) from None
    if action not in ACTIONS:
        raise ReminderLinkInvalid(NOT_VALID)
    with row_security.every_organization():
        reminder = _with_session(Reminder.objects.filter(pk=reminder_id)).first()
    if reminder is None:
        raise ReminderLinkInvalid(NOT_VALID)
    row_security.admit(reminder.organization_id)
    return reminder, action


def _with_session(reminders):
    return reminders.select_related(
        "clinic", "session", "session__clinic", "session__therapist", "organization"
    )


@dataclass(frozen=True)
class LinkPage:
    """What the link's page says, and whether its button is offered."""

    reminder: Reminder
    action: str
    when: str
    """The session's date and time on the clinic's clock (the time the reminder announced)."""
    outcome: str
    """What happened already (the link was used, the session cancelled, moved or started);
    empty while the button is offered."""
    late: bool = False
    """Cancelled from the reminder within the notice period."""

    @property
    def may_act(self) -> bool:
        return not self.outcome


def page_of(reminder: Reminder, action: str) -> LinkPage:
    session = reminder.session
    now = timezone.now()
    when = when_on_the_clinics_clock(session, reminder.for_starts_at)
    phone = f" on {reminder.clinic.phone}" if reminder.clinic.phone else ""

    def local(moment) -> str:
        return when_on_the_clinics_clock(session, moment)

    if session.status == Status.CANCELLED:
        late = reminder.answer == ReminderAnswer.CANCELLED and session.cancelled_late
        outcome = f"This session was cancelled on {local(session.cancelled_at)}."
        if late:
            outcome += " It was less than the notice period before the session: the clinic "
            outcome += "records it as a late cancellation."
        return LinkPage(reminder, action, when, outcome, late=late)
    if session.starts_at != reminder.for_starts_at and session.status == Status.BOOKED:
        return LinkPage(
            reminder,
            action,
            when,
            f"This session was moved to {local(session.starts_at)}: this reminder's links were "
            f"for the time before. If the new time does not suit you, call the clinic{phone}.",
        )
    if reminder.answer == ReminderAnswer.CONFIRMED:
        outcome = f"You confirmed this session on {local(reminder.used_at)}."
        if action == "cancel" and session.status == Status.BOOKED:
            outcome += f" To cancel it now, call the clinic{phone}."
        return LinkPage(reminder, action, when, outcome)
    if session.status != Status.BOOKED or now >= reminder.for_starts_at:
        return LinkPage(
            reminder,
            action,
            when,
            f"This link has expired: the session was to start on {when}. To change anything "
            f"now, call the clinic{phone}.",
        )
    return LinkPage(reminder, action, when, "")


@transaction.atomic
def answer_reminder(*, reminder: Reminder, action: str, reason: str = "") -> LinkPage:
    """The patient pressed Confirm or Cancel: recorded once, whatever is pressed after.

    Confirm sets the session's `confirmed_at` and nothing else. Cancel cancels
    the session (sessions.services.booking.record_cancellation, by the patient's
    login if they have one), late within the notice period. A second press, in
    this tab or another, records nothing and answers what the first did.
    """
    reason = " ".join(str(reason or "").split())
    if len(reason) > REASON_LIMIT:
        raise BookingRefused(
            f"reason: at most {REASON_LIMIT} characters; this is {len(reason)}. Nothing was "
            "cancelled: shorten it, or leave it out.",
            field="reason",
        )
    # The session first, then the reminder: the order booking and moving lock them in.
    session = (
        TreatmentSession.objects.select_for_update(of=("self",))
        .select_related("clinic", "therapist", "organization", "patient__user")
        .get(pk=reminder.session_id)
    )
    reminder = _with_session(Reminder.objects.select_for_update(of=("self",))).get(pk=reminder.pk)
    reminder.session = session
    page = page_of(reminder, action)
    if not page.may_act:
        return page
    now = timezone.now()
    if action == "confirm":
        session.confirmed_at = now
        session.save(update_fields=["confirmed_at"])
        reminder.answer = ReminderAnswer.CONFIRMED
    else:
        record_cancellation(
            session=session,
            by=session.patient.user,
            reason=reason or CANCELLED_FROM_THE_REMINDER,
        )
        reminder.answer = ReminderAnswer.CANCELLED
    reminder.used_at = now
    reminder.save(update_fields=["answer", "used_at"])
    return page_of(reminder, action)


def notice_hours_of(reminder: Reminder) -> int:
    return booking_settings_of(reminder.organization).notice_hours
