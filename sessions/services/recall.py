"""A needle-lot recall: e-mailing each patient needled with the lot, once.

`notify_recall` records a notice per patient and queues its e-mail after the
transaction commits; `send_recall_notice` (run by the worker) sends it. The
unique constraint on (organisation, lot, patient) is what makes "once" hold
when two people press "notify" at the same moment: the second insert waits
for the first and then does nothing. A notice whose e-mail job was lost (the
process died between the commit and the enqueue) stays queued: after
QUEUED_TOO_LONG `catch_up_recall_notices` (manage.py recall_catch_up) sends
it, and staff may send it again from the recall.
"""

import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.mail import send_mail
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.template.loader import render_to_string
from django.utils import timezone

from clinics import access, jobs
from patients.models import Patient
from sessions import selectors, tasks
from sessions.exceptions import NotPermitted, RecallInvalid
from sessions.models import NoticeStatus, RecallNotice, TreatmentSession
from sessions.selectors import NotifyStep

logger = logging.getLogger(__name__)

NO_NOTICES = (
    "Your role does not send recall notices: a therapist, clinic manager or organisation "
    "admin of the clinic where the patient was needled with the lot sends them."
)


@dataclass
class NotifyOutcome:
    """What pressing "notify" did, patient by patient (each list by name, as the recall)."""

    lot_number: str
    queued: list[Patient] = field(default_factory=list)
    """An e-mail is on its way (a new notice, or a failed one tried again)."""
    already: list[RecallNotice] = field(default_factory=list)
    """Sent, or already on its way: never sent again."""
    call_instead: list[Patient] = field(default_factory=list)
    """No e-mail address on the record: the clinic phones them."""
    another_clinic_sends: list[Patient] = field(default_factory=list)
    """The clinic that sends their notice (where they were first needled with the lot) is
    not one of yours: its staff send it."""

    @property
    def already_notified(self) -> list[Patient]:
        return [notice.patient for notice in self.already]

    @property
    def patients(self) -> list[Patient]:
        """Everyone the answer names."""
        return [
            *self.queued,
            *self.already_notified,
            *self.call_instead,
            *self.another_clinic_sends,
        ]

    @property
    def message(self) -> str:
        parts = []
        if self.queued:
            parts.append(f"Recall notice on its way to {_people(self.queued)}.")
        if self.already:
            parts.append(
                f"{_people(self.already_notified)} already "
                f"{'has' if len(self.already) == 1 else 'have'} one: none is sent twice."
            )
        if self.call_instead:
            parts.append(f"No e-mail address: call {_people(self.call_instead)}.")
        if self.another_clinic_sends:
            parts.append(
                f"Not sent to {_people(self.another_clinic_sends)}: the clinic where they were "
                "first needled with the lot sends it."
            )
        return " ".join(parts) or f"Nobody to notify for lot {self.lot_number}."


def _people(patients: list[Patient]) -> str:
    return "1 patient" if len(patients) == 1 else f"{len(patients)} patients"


def checked_lot(lot_number) -> str:
    """The lot number as stored, or RecallInvalid naming the field."""
    lot = selectors.lot_key(lot_number)
    if not lot or len(lot) > selectors.LOT_NUMBER_LENGTH:
        raise RecallInvalid(
            "lot_number: give the needle lot number to look for, up to "
            f"{selectors.LOT_NUMBER_LENGTH} characters as printed on the box "
            "(for example LOT-2026-A).",
            field="lot_number",
        )
    return lot


@transaction.atomic
def notify_recall(*, lot_number: str, by, patients: Iterable | None = None) -> NotifyOutcome:
    """E-mail a recall notice to each patient `by` may see needled with the lot, once each.

    `patients` (ids) narrows it to some of them: all must be in the recall. A
    patient already sent one, or with one on its way, is not sent another; a
    failed one, or one queued too long (its job lost), is queued again, to the
    address now on the record. Patients with no e-mail address are listed to
    call; those whose notice another clinic sends (`selectors.sending_clinics`)
    are left to it. Who gets what is `RecallPatient.step`, as the page shows it.
    """
    if not access.may_use(by, RecallNotice, "add"):
        raise NotPermitted(NO_NOTICES)
    lot = checked_lot(lot_number)
    recall = selectors.recalled(by, lot)  # who, and their notice: no sites needed
    if patients is not None:
        wanted = {str(pk) for pk in patients}
        missing = wanted - {str(item.patient.pk) for item in recall}
        if missing:
            raise RecallInvalid(
                f"patients: {len(missing)} of the patients named were not needled with lot "
                f"{lot} in a session you can see ({', '.join(sorted(missing))}).",
                field="patients",
            )
        recall = [item for item in recall if str(item.patient.pk) in wanted]
    outcome = NotifyOutcome(lot_number=lot)
    new, again = [], []
    for item in recall:
        patient, step = item.patient, item.step
        if step == NotifyStep.CALL:
            outcome.call_instead.append(patient)
        elif step == NotifyStep.ANOTHER_CLINIC:
            outcome.another_clinic_sends.append(patient)
        elif step == NotifyStep.SEND:
            new.append(
                RecallNotice(
                    organization_id=patient.organization_id,
                    patient=patient,
                    clinic=item.sending_clinic,
                    lot_number=lot,
                    email=patient.email,
                    sent_by=by,
                )
            )
        elif step == NotifyStep.SEND_AGAIN:
            again.append(item.notice)
        else:
            outcome.already.append(item.notice)
    # Someone else may be inserting the same notices now: theirs win, ours do nothing.
    RecallNotice.objects.bulk_create(new, ignore_conflicts=True)
    inserted = set(
        RecallNotice.objects.filter(pk__in=[notice.pk for notice in new]).values_list(
            "pk", flat=True
        )
    )
    requeued = _queue_again(again, by=by)
    queued = {*inserted, *requeued}
    for notice in [*new, *again]:
        if notice.pk in queued:
            outcome.queued.append(notice.patient)
            jobs.run_now(tasks.send_recall_notice, notice_id=str(notice.pk))
        else:  # another request queued or sent it first
            outcome.already.append(notice)
    return outcome


def _queue_again(notices: list[RecallNotice], *, by) -> set:
    """Queue failed or stuck notices again (those still so once locked), to the address on record.

    The lock waits for a worker sending one of them now; a notice it sent is
    no longer failed or stuck, so it is left alone.
    """
    now = timezone.now()
    ids = list(
        RecallNotice.objects.select_for_update(of=("self",))
        .filter(pk__in=[notice.pk for notice in notices])
        .may_send_again(now)
        .exclude(patient__email="")
        .values_list("pk", flat=True)
    )
    RecallNotice.objects.filter(pk__in=ids).update(
        status=NoticeStatus.QUEUED,
        sent_by=by,
        requested_at=now,
        email=Subquery(Patient.objects.filter(pk=OuterRef("patient_id")).values("email")[:1]),
    )
    return set(ids)


def catch_up_recall_notices() -> dict[str, int]:
    """Send every notice queued for longer than QUEUED_TOO_LONG: its e-mail job was lost.

    For `manage.py recall_catch_up` (after an outage, or from cron). Each is
    sent by `send_recall_notice`, which locks it and sends only a notice still
    queued, so a job that turns up late, or a worker sending it now, never
    makes a second e-mail. Failed notices are left to staff: their address may
    need correcting first.
    """
    stuck = RecallNotice.objects.stuck(timezone.now()).order_by("requested_at")
    outcomes = [send_recall_notice(notice_id=pk) for pk in stuck.values_list("pk", flat=True)]
    return {
        "recall_notices_sent": outcomes.count("sent"),
        "recall_notices_failed": outcomes.count("failed"),
    }


def send_recall_notice(*, notice_id) -> str:
    """E-mail a queued recall notice. Returns what happened, for the task log.

    The row is locked while the e-mail goes out, so two workers never both
    send it; the outcome is written in the same transaction. A refusal by the
    mail server marks the notice failed, with the error, for someone to retry.
    """
    with transaction.atomic():
        notice = (
            RecallNotice.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("patient", "clinic", "organization")
            .filter(pk=notice_id)
            .first()
        )
        if notice is None:
            if RecallNotice.objects.filter(pk=notice_id).exists():
                return "busy: another worker is sending it"
            return "gone"
        if notice.status != NoticeStatus.QUEUED:
            return f"already {notice.status}"
        now = timezone.now()
        notice.attempts += 1
        try:
            send_mail(
                subject=f"[Fascia] A needle recall: {notice.organization.name} is letting you know",
                message=render_to_string(
                    "sessions/email/recall_notice.txt",
                    {
                        "notice": notice,
                        "patient": notice.patient,
                        "clinic": notice.clinic,
                        "organization": notice.organization,
                        "sessions": _sessions_of(notice),
                    },
                ),
                from_email=None,
                recipient_list=[notice.email],
            )
        except (smtplib.SMTPException, OSError) as error:
            logger.warning("recall notice %s could not be e-mailed: %s", notice.pk, error)
            notice.status, notice.failed_at = NoticeStatus.FAILED, now
            notice.last_error = f"{type(error).__name__}: {error}"[:500]
            notice.save(update_fields=["status", "failed_at", "last_error", "attempts"])
            return "failed"
        notice.status, notice.sent_at = NoticeStatus.SENT, now
        notice.save(update_fields=["status", "sent_at", "attempts"])
    return "sent"


def _sessions_of(notice: RecallNotice) -> list[TreatmentSession]:
    """The patient's sessions (any clinic of the organisation) that used the recalled lot."""
    return list(
        TreatmentSession.objects.filter(
            organization_id=notice.organization_id,
            patient_id=notice.patient_id,
            needle_sites__lot_number=notice.lot_number,
        )
        .select_related("clinic")
        .distinct()
        .order_by("starts_at")
    )
