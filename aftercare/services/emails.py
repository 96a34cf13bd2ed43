"""Sending an aftercare e-mail once, through crashes, retries and a second worker.

The order, for one e-mail (a check-in, an alert, an escalation: its `purpose`
and its check-in name it):

1. `one_sender` takes a PostgreSQL advisory lock on the e-mail for this
   database session. Another sender of the same e-mail sees it held and waits
   its turn; when the holder's process dies, its connection closes and the lock
   with it. So a `sending` attempt nobody holds the lock of is one whose sender
   died, and only then is it settled by someone else.
2. `begin` (in the caller's transaction, with its row locked) settles such an
   attempt, `not_sent` or `uncertain`, and records the new one as `sending`
   with its own Message-ID. The caller commits before anything is sent.
3. `deliver` sends, outside any transaction. The mail backend (config/mail.py)
   marks the moment the message is handed over and keeps the server's answer.
4. `finish` (in the caller's second transaction, beside the caller's own
   "sent") records the outcome and the answer.

A crash before 2 commits leaves nothing; between 2 and the hand-over, an attempt
the next sender records as `not_sent` (nothing reached the server); after the
hand-over and before 4, an `uncertain` one: the server may have it, and it is
sent again, so the reader may get it twice; the record says so. Once the
answer is recorded, it is never sent again.
"""

import logging
import smtplib
from dataclasses import dataclass

from django.core.mail import EmailMessage, make_msgid
from django.utils import timezone

from aftercare.models import CheckIn, EmailAttempt, EmailOutcome, EmailPurpose
from clinics import locks

logger = logging.getLogger(__name__)

NOT_SENT_NOTE = (
    "The sender stopped before handing this e-mail to the mail server: it was not delivered, "
    "and was sent again."
)
UNCERTAIN_NOTE = (
    "The sender stopped after handing this e-mail to the mail server and before its answer was "
    "recorded: it may have been delivered. It was sent again, so it may have arrived twice."
)

BROKEN_OFF_NOTE = (
    "The connection to the mail server broke after the e-mail was handed over and before its "
    "answer: it may have been delivered. The next try may make it arrive twice."
)


def one_sender(check_in_id, purpose: EmailPurpose):
    """Whether this process may send the e-mail now (False: another sender is at it)."""
    return locks.only_holder(f"fascia.email:{purpose}:{check_in_id}")


def already_accepted(check_in: CheckIn, purpose: EmailPurpose) -> bool:
    return EmailAttempt.objects.filter(
        check_in=check_in, purpose=purpose, outcome=EmailOutcome.ACCEPTED
    ).exists()


def begin(check_in: CheckIn, purpose: EmailPurpose, recipients: list[str]) -> EmailAttempt:
    """Record a new attempt as `sending`, after settling one its dead sender left.

    Call it holding `one_sender`, in a transaction that commits before `deliver`.
    """
    now = timezone.now()
    for left in EmailAttempt.objects.select_for_update().filter(
        check_in=check_in, purpose=purpose, outcome=EmailOutcome.SENDING
    ):
        handed_over = left.handed_over_at is not None
        left.outcome = EmailOutcome.UNCERTAIN if handed_over else EmailOutcome.NOT_SENT
        left.note = UNCERTAIN_NOTE if handed_over else NOT_SENT_NOTE
        left.finished_at = now
        left.save(update_fields=["outcome", "note", "finished_at"])
    return EmailAttempt.objects.create(
        organization_id=check_in.organization_id,
        clinic_id=check_in.clinic_id,
        check_in=check_in,
        purpose=purpose,
        message_id=make_msgid(domain="fascia"),
        recipients=recipients,
    )


@dataclass(frozen=True)
class Delivery:
    """What became of one attempt, for `finish`."""

    outcome: EmailOutcome
    server_reply: str
    error: str = ""

    @property
    def accepted(self) -> bool:
        return self.outcome == EmailOutcome.ACCEPTED


def deliver(attempt: EmailAttempt, *, subject: str, body: str) -> Delivery:
    """Send the attempt's e-mail (outside any transaction) and say what became of it."""
    message = EmailMessage(
        subject=subject,
        body=body,
        to=attempt.recipients,
        headers={"Message-ID": attempt.message_id},
    )

    def handed_over() -> None:
        # Its own commit: a crash after this line leaves the attempt `uncertain`.
        now = timezone.now()
        if not EmailAttempt.objects.filter(pk=attempt.pk, outcome=EmailOutcome.SENDING).update(
            handed_over_at=now
        ):
            # Settled by another sender meanwhile (this one's session was lost):
            # stop before anything can be delivered.
            raise smtplib.SMTPException("this try was settled by another sender")
        attempt.handed_over_at = now

    message.before_handover = handed_over
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        reply = _reply_in(error)
        # Refused before the hand-over, or answered no after it: nothing was delivered.
        # Cut off after the hand-over without an answer: it may have been.
        answered = isinstance(error, smtplib.SMTPResponseException)
        outcome = (
            EmailOutcome.REFUSED
            if attempt.handed_over_at is None or answered
            else EmailOutcome.UNCERTAIN
        )
        return Delivery(outcome, reply, f"{type(error).__name__}: {reply or error}")
    return Delivery(EmailOutcome.ACCEPTED, getattr(message, "server_reply", ""))


def finish(attempt: EmailAttempt, delivery: Delivery) -> bool:
    """Record the outcome (in the transaction that records what the caller did with it).

    False when the try had already been settled by another sender: this one's
    session was lost half-way, and the record stays as that sender left it.
    """
    attempt.outcome = delivery.outcome
    attempt.server_reply = delivery.server_reply[:1000]
    attempt.note = (
        BROKEN_OFF_NOTE if delivery.outcome == EmailOutcome.UNCERTAIN else delivery.error[:1000]
    )
    attempt.finished_at = timezone.now()
    return bool(
        EmailAttempt.objects.filter(pk=attempt.pk, outcome=EmailOutcome.SENDING).update(
            outcome=attempt.outcome,
            server_reply=attempt.server_reply,
            note=attempt.note,
            finished_at=attempt.finished_at,
        )
    )


def _reply_in(error: Exception) -> str:
    """The mail server's answer carried by an smtplib error ("550 5.1.1 ..."), if any."""
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {_text(text)}" for code, text in error.recipients.values())
    return ""


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
