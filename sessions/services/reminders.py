"""Appointment reminders: planned when a session is booked or moved, e-mailed once when due.

When: `reminder_hours` (the organisation's booking settings) before the start.
A booking made inside that lead time gets its reminder SETTLE after booking,
if the session is still more than LAST_USEFUL away; closer than that, none is
sent (the patient has just booked: a reminder then only adds noise), and the
reminder's row says so. SETTLE also means a
booking corrected at once (moved, cancelled) never e-mails the wrong time.

Once, through crashes, retries and a second worker (as aftercare's check-ins):

1. `_one_sender` takes a PostgreSQL advisory lock on the reminder for this
   database session: a second sender sees it held and leaves the reminder to
   the first; when a sender's process dies, its connection closes and the lock
   with it.
2. Under the row lock (`select_for_update(skip_locked=True)`) the attempt is
   recorded (`sending_since`, a new Message-ID) and committed before the
   e-mail goes. The mail backend (config/mail.py) records the moment the
   message is handed to the server (`handed_over_at`).
3. After the server's answer, the outcome: `sent_at`, or the error and the
   time of the next try (RETRY_AFTER), never past the session's start.

A sender that finds an attempt left by a dead one sends again only when that
one had not handed the e-mail over; after the hand-over the server may have
it, so it is counted as sent, with a note, and never sent twice.

A reminder goes only while its session is booked at `for_starts_at`: a session
moved, cancelled or started sends nothing more.
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage, make_msgid
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone

from clinics import jobs, locks
from patients import selectors as patient_selectors
from patients import services as patient_services
from sessions import tasks
from sessions.models import Reminder, Status, TreatmentSession
from sessions.services.schedule import booking_settings_of

logger = logging.getLogger(__name__)

SETTLE = timedelta(minutes=10)
"""A reminder due at once (booked inside the lead time) is sent this long after the booking."""

LAST_USEFUL = timedelta(hours=2)
"""A booking made closer than this to its start gets no reminder."""

RETRY_AFTER = [timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)]
"""Waits between attempts when the mail server refuses; the last repeats until the start."""

BUSY_RETRY = timedelta(minutes=1)
"""When the row is held (a booking being moved, a patient answering), look again after this."""

LINK_SALT = "sessions.reminder-link"
ACTIONS = ("confirm", "cancel")

NO_EMAIL = "No e-mail address on the patient's record: call them."
TOO_CLOSE = "Not sent: booked less than 2 hours before the start."
CUT_OFF_NOTE = (
    "The connection to the mail server broke after the reminder was handed over and before "
    "its answer: it was probably delivered, and is not sent again so that it never arrives twice."
)
HANDED_OVER_NOTE = (
    "The sender stopped after handing this reminder to the mail server and before its answer: "
    "it was probably delivered, and is not sent again so that it never arrives twice."
)


def plan_reminder(*, session: TreatmentSession) -> Reminder:
    """Plan the reminder of a session just booked or moved (in the booking's transaction).

    One per session and start time: planned again for the same time (a double
    click, a move back) it is the same reminder, its time worked out afresh if
    it has not gone yet. A session booked closer than LAST_USEFUL gets one that
    is never sent, saying so (TOO_CLOSE), so that its page says why none went.
    """
    now = timezone.now()
    lead = timedelta(hours=booking_settings_of(session.organization).reminder_hours)
    natural = session.starts_at - lead
    too_close = False
    if natural >= now:
        due_at = min(max(natural, now + SETTLE), session.starts_at)
    elif session.starts_at - now > LAST_USEFUL:
        due_at = now + SETTLE
    else:
        due_at, too_close = min(now, session.starts_at), True
    planned = {
        "due_at": due_at,
        # Never tried: the catch-up and the job look for no try before the start.
        "next_attempt_at": session.starts_at if too_close else None,
        "last_send_error": TOO_CLOSE if too_close else "",
    }
    reminder, created = Reminder.objects.get_or_create(
        organization_id=session.organization_id,
        session=session,
        for_starts_at=session.starts_at,
        defaults={"clinic_id": session.clinic_id, "patient_id": session.patient_id, **planned},
    )
    if not created:
        reminder = Reminder.objects.select_for_update(of=("self",)).get(pk=reminder.pk)
        if reminder.sent_at is not None or reminder.sending_since is not None:
            return reminder
        for name, value in planned.items():
            setattr(reminder, name, value)
        reminder.save(update_fields=list(planned))
    if not too_close:
        jobs.run_at(tasks.send_reminder, reminder.due_at, reminder_id=str(reminder.pk))
    return reminder


def catch_up_reminders() -> dict[str, int]:
    """Send every reminder that is due, whose job was lost or whose workers were down.

    For `manage.py reminders_catch_up` and the `catch_up_reminders` task (after an
    outage, or from cron). Each goes through `send_reminder`, which locks it and
    sends only what is still due, so a late job or a second worker never makes a
    second e-mail.
    """
    now = timezone.now()
    due = (
        Reminder.objects.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
            sent_at__isnull=True,
            due_at__lte=now,
            for_starts_at__gt=now,
            session__status=Status.BOOKED,
            session__starts_at=F("for_starts_at"),
        )
        .order_by("for_starts_at")
        .values_list("pk", flat=True)
    )
    outcomes = [send_reminder(reminder_id=pk) for pk in due]
    return {
        "reminders_sent": outcomes.count("sent"),
        "reminders_failed": outcomes.count("failed, will retry")
        + outcomes.count("failed, the session starts before another try"),
    }


def _one_sender(reminder_id):
    """Whether this process may send the reminder now (False: another sender is at it)."""
    return locks.only_holder(f"fascia.reminder:{reminder_id}")


def send_reminder(*, reminder_id) -> str:
    """E-mail a due reminder to the patient, once. Returns what happened, for the task log."""
    with _one_sender(reminder_id) as mine:
        if not mine:
            return "busy: another sender has it"
        with transaction.atomic():
            reminder = (
                # The session too: a move waits until the attempt is recorded, and one under
                # way leaves this reminder for a moment (its time may be changing).
                Reminder.objects.select_for_update(skip_locked=True, of=("self", "session"))
                .select_related(
                    "patient",
                    "patient__home_clinic",
                    "clinic",
                    "session",
                    "session__therapist",
                    "session__appointment_type",
                    "organization",
                )
                .filter(pk=reminder_id)
                .first()
            )
            if reminder is None:
                if not Reminder.objects.filter(pk=reminder_id).exists():
                    return "gone"
                # Held by a booking being moved or a patient answering: look again soon.
                jobs.run_at(
                    tasks.send_reminder, timezone.now() + BUSY_RETRY, reminder_id=str(reminder_id)
                )
                return "busy: will look again"
            if reminder.sent_at is not None:
                return "already sent"
            now = timezone.now()
            if reminder.sending_since is not None:  # its sender died: we hold the lock
                if reminder.handed_over_at is not None:
                    reminder.sent_at, reminder.sending_since = reminder.handed_over_at, None
                    reminder.last_send_error = HANDED_OVER_NOTE
                    reminder.save(update_fields=["sent_at", "sending_since", "last_send_error"])
                    return "already handed over by a sender that stopped"
                reminder.sending_since = None  # sent again below, if still wanted
                reminder.save(update_fields=["sending_since"])
            session = reminder.session
            if session.status != Status.BOOKED:
                return f"not sent: the session is {session.get_status_display().lower()}"
            if session.starts_at != reminder.for_starts_at:
                return "not sent: the session was moved"
            if now >= reminder.for_starts_at:
                return "not sent: the session has started"
            if now < reminder.due_at:
                jobs.run_at(tasks.send_reminder, reminder.due_at, reminder_id=str(reminder.pk))
                return "not due yet"
            if reminder.next_attempt_at is not None and now < reminder.next_attempt_at:
                return "waiting to try again"  # the job queued for that time sends it
            if not reminder.patient.email:
                reminder.last_send_error = NO_EMAIL
                # Not tried again on every sweep: the session's page says to call.
                reminder.next_attempt_at = reminder.for_starts_at
                reminder.save(update_fields=["last_send_error", "next_attempt_at"])
                return "no e-mail address"
            reminder.send_attempts += 1
            reminder.sending_since, reminder.handed_over_at = now, None
            reminder.message_id = make_msgid(domain="fascia")
            reminder.save(
                update_fields=["send_attempts", "sending_since", "handed_over_at", "message_id"]
            )
            subject, body = _email(reminder)
        accepted, error = _deliver(reminder, subject=subject, body=body)
        with transaction.atomic():
            reminder = Reminder.objects.select_for_update(of=("self",)).get(pk=reminder.pk)
            now = timezone.now()
            reminder.sending_since = None
            if accepted:
                reminder.sent_at, reminder.next_attempt_at = now, None
                reminder.last_send_error = error  # empty, or why it may not have arrived
                reminder.save(
                    update_fields=["sent_at", "sending_since", "next_attempt_at", "last_send_error"]
                )
                return "sent"
            logger.warning("reminder %s could not be e-mailed: %s", reminder.pk, error)
            wait = RETRY_AFTER[min(reminder.send_attempts, len(RETRY_AFTER)) - 1]
            reminder.last_send_error = error[:500]
            reminder.next_attempt_at = min(now + wait, reminder.for_starts_at)
            reminder.save(update_fields=["sending_since", "last_send_error", "next_attempt_at"])
            if reminder.next_attempt_at >= reminder.for_starts_at:
                return "failed, the session starts before another try"
            jobs.run_at(tasks.send_reminder, reminder.next_attempt_at, reminder_id=str(reminder.pk))
            return "failed, will retry"


def _deliver(reminder: Reminder, *, subject: str, body: str) -> tuple[bool, str]:
    """Send the e-mail (outside any transaction): (accepted, the error if not, or a note).

    Cut off after the hand-over with no answer, it may have arrived: counted as
    sent (with a note), so that it never arrives twice.
    """
    message = EmailMessage(
        subject=subject,
        body=body,
        to=[reminder.patient.email],
        headers={"Message-ID": reminder.message_id},
    )

    def handed_over() -> None:
        # Its own commit: a sender killed after this line leaves the reminder handed over.
        now = timezone.now()
        if not Reminder.objects.filter(
            pk=reminder.pk, message_id=reminder.message_id, sending_since__isnull=False
        ).update(handed_over_at=now):
            raise smtplib.SMTPException("this try was settled by another sender")
        reminder.handed_over_at = now

    message.before_handover = handed_over
    try:
        message.send()
    except smtplib.SMTPResponseException as error:  # answered no: nothing was delivered
        reply = error.smtp_error
        reply = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return False, f"{type(error).__name__}: {error.smtp_code} {reply}"
    except smtplib.SMTPRecipientsRefused as error:
        replies = "; ".join(
            f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
            for code, text in error.recipients.values()
        )
        return False, f"{type(error).__name__}: {replies}"
    except (smtplib.SMTPException, OSError) as error:
        if reminder.handed_over_at is not None:
            logger.warning("reminder %s cut off after the hand-over: %s", reminder.pk, error)
            return True, CUT_OFF_NOTE
        return False, f"{type(error).__name__}: {error}"
    return True, ""


def when_on_the_clinics_clock(session: TreatmentSession, moment=None) -> str:
    """ "Tuesday 20 October 2026 at 10:00", on the clinic's clock."""
    local = timezone.localtime(moment or session.starts_at, session.clinic.zone)
    return dateformat.format(local, "l j F Y \\a\\t H:i")


@dataclass(frozen=True)
class FormsToFill:
    """The forms the patient must fill in before the session, and where (empty: none)."""

    links: list[tuple[str, str]]
    """(name, link) for a patient with a portal login."""
    names: list[str]
    """The forms' names, for one without: filled in at the clinic, or after an invitation."""


def forms_to_fill(reminder: Reminder) -> FormsToFill:
    """Screening or consent missing, or expiring before the session (needling sessions only)."""
    session = reminder.session
    if not session.needling:
        return FormsToFill([], [])
    status = patient_selectors.clinical_status(reminder.patient, now=session.starts_at)
    forms = patient_services.forms_due(status)
    links = patient_services.form_links(forms)
    if reminder.patient.user_id is None:
        return FormsToFill([], [name for name, _ in links])
    return FormsToFill(links, [name for name, _ in links])


def _email(reminder: Reminder) -> tuple[str, str]:
    session = reminder.session
    clinic = reminder.clinic
    local = timezone.localtime(session.starts_at, clinic.zone)
    subject = (
        f"[Fascia] Your appointment at {clinic.name} on "
        f"{dateformat.format(local, 'D j M')} at {local:%H:%M}"
    )
    body = render_to_string(
        "sessions/email/reminder.txt",
        {
            "patient": reminder.patient,
            "clinic": clinic,
            "session": session,
            "when": when_on_the_clinics_clock(session),
            "where": ", ".join(
                [
                    clinic.name,
                    *(line.strip() for line in clinic.address.splitlines() if line.strip()),
                ]
            ),
            "what": session.appointment_type.name
            if session.appointment_type_id
            else ("Treatment session" if session.needling else "Session without needling"),
            "confirm": link_to(reminder, "confirm"),
            "cancel": link_to(reminder, "cancel"),
            "notice_hours": booking_settings_of(reminder.organization).notice_hours,
            "forms": forms_to_fill(reminder),
        },
    )
    return subject, body


def link_to(reminder: Reminder, action: str) -> str:
    """The signed link of the reminder's e-mail for `action` (confirm or cancel)."""
    token = signing.dumps({"reminder": str(reminder.pk), "action": action}, salt=LINK_SALT)
    return settings.FASCIA_BASE_URL + reverse("sessions:reminder_link", args=[token])
