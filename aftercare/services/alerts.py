"""Alerts: raising them from check-in answers, telling the therapist, and what staff do next."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from aftercare import tasks
from aftercare.exceptions import AftercareInvalid, AlertStateRefused, NotPermitted
from aftercare.models import Alert, AlertLevel, AlertNote, CheckIn, EmailPurpose, NoteKind, Triage
from aftercare.services import emails
from aftercare.services.plans import settings_of
from clinics import access, jobs
from clinics.models import Membership, Role

logger = logging.getLogger(__name__)

ESCALATION_RETRY = timedelta(minutes=5)
"""When the escalation e-mail cannot be sent, it is tried again after this."""

NOTE_LIMIT = 5000


def raise_alert(*, check_in: CheckIn, level: Triage) -> Alert:
    """Open an alert for a check-in (once), tell the therapist, and set the escalation clock."""
    now = timezone.now()
    urgent = level == Triage.URGENT
    alert, created = Alert.objects.get_or_create(
        check_in=check_in,
        defaults={
            "organization_id": check_in.organization_id,
            "clinic_id": check_in.clinic_id,
            "patient_id": check_in.patient_id,
            "session_id": check_in.session_id,
            "therapist_id": check_in.session.therapist_id,
            "level": AlertLevel.URGENT if urgent else AlertLevel.ALERT,
            "raised_at": now,
            "escalate_at": now
            + timedelta(minutes=settings_of(check_in.organization).escalate_after_minutes)
            if urgent
            else None,
        },
    )
    if created:
        jobs.run_now(tasks.notify_alert, alert_id=str(alert.pk))
        if alert.escalate_at is not None:
            jobs.run_at(tasks.escalate_alert, alert.escalate_at, alert_id=str(alert.pk))
    return alert


def _link(alert: Alert) -> str:
    return settings.FASCIA_BASE_URL + reverse("aftercare:alert", args=[alert.pk])


NOTIFY_ATTEMPTS = 6


def notify_alert(*, alert_id, attempt: int = 1) -> str:
    """E-mail the treating therapist that an alert waits (no clinical detail in the e-mail).

    Once: recorded like a check-in's e-mail (aftercare.services.emails), so a
    job run twice or after a killed worker does not tell the therapist twice.
    A therapist without an active login and address is replaced by the
    clinic's managers. A refused e-mail is tried again, up to NOTIFY_ATTEMPTS
    times; the alert is on the clinic's list whatever happens, and an urgent
    one is escalated when nobody acknowledges it.
    """
    alert = (
        Alert.objects.select_related("therapist", "clinic", "check_in").filter(pk=alert_id).first()
    )
    if alert is None:
        return "gone"
    if alert.acknowledged_at is not None:
        return "already acknowledged"
    therapist = alert.therapist
    recipients = (
        [therapist.email]
        if therapist.is_active and therapist.email
        else [user.email for user in managers_of(alert)]
    )
    if not recipients:
        logger.error("alert %s: nobody to tell", alert.pk)
        return "nobody to tell"
    retry_at = timezone.now() + ESCALATION_RETRY
    with emails.one_sender(alert.check_in_id, EmailPurpose.ALERT) as mine:
        if not mine:
            jobs.run_at(tasks.notify_alert, retry_at, alert_id=str(alert.pk), attempt=attempt)
            return "busy: will look again"
        with transaction.atomic():
            if emails.already_accepted(alert.check_in, EmailPurpose.ALERT):
                return "already sent"
            record = emails.begin(alert.check_in, EmailPurpose.ALERT, recipients)
        delivery = emails.deliver(
            record,
            subject=f"[Fascia] {'URGENT: ' if alert.level == AlertLevel.URGENT else ''}"
            f"a patient's check-in at {alert.clinic.name} needs you",
            body=render_to_string(
                "aftercare/email/alert.txt", {"alert": alert, "link": _link(alert)}
            ),
        )
        emails.finish(record, delivery)
    if delivery.accepted:
        return "sent"
    logger.error(
        "alert %s could not be e-mailed (attempt %s): %s", alert.pk, attempt, delivery.error
    )
    if attempt < NOTIFY_ATTEMPTS:
        jobs.run_at(tasks.notify_alert, retry_at, alert_id=str(alert.pk), attempt=attempt + 1)
        return "failed, will retry"
    return "failed"


def _locked(alert: Alert, by, action: str) -> Alert:
    alert = (
        Alert.objects.select_for_update(of=("self",))
        .select_related("clinic", "organization")
        .get(pk=alert.pk)
    )
    if not access.can(by, "view", alert) or not access.can(by, "change", alert):
        raise NotPermitted(f"Your role does not allow you to {action} alerts.")
    return alert


def _note(alert: Alert, kind: NoteKind, by, text: str) -> AlertNote:
    return AlertNote.objects.create(
        organization_id=alert.organization_id, alert=alert, kind=kind, text=text, written_by=by
    )


def _clean_note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_LIMIT:
        raise AftercareInvalid(f"note: at most {NOTE_LIMIT:,} characters.", field="note")
    return note


@transaction.atomic
def acknowledge_alert(*, alert: Alert, by, note: str = "") -> Alert:
    """Say someone is on it: stops the escalation clock. A second click changes nothing.

    Once acknowledged, another person (say, the therapist who sees the patient
    next) acknowledges it too by writing a note: it is kept beside the first,
    and it is what lets that therapist start the patient's next session
    (aftercare.safety).
    """
    alert = _locked(alert, by, "acknowledge")
    note = _clean_note(note)
    if alert.resolved_at is not None:
        if note:
            raise AlertStateRefused(
                f"{alert.resolved_by.get_full_name()} resolved this alert already: "
                "there is nothing left to acknowledge.",
                field="note",
            )
        return alert
    if alert.acknowledged_at is not None:
        if not note:
            if alert.acknowledged_by_id == by.pk:
                return alert  # the same click twice
            local = timezone.localtime(alert.acknowledged_at, alert.clinic.zone)
            raise AlertStateRefused(
                f"note: {alert.acknowledged_by.get_full_name()} acknowledged this alert at "
                f"{local:%H:%M}. To acknowledge it too, write what you have read and will do.",
                field="note",
            )
        already = alert.notes.filter(kind=NoteKind.ACKNOWLEDGED, written_by=by, text=note)
        if not already.exists():
            _note(alert, NoteKind.ACKNOWLEDGED, by, note)
        return alert
    alert.acknowledged_at, alert.acknowledged_by = timezone.now(), by
    alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    _note(alert, NoteKind.ACKNOWLEDGED, by, note)
    return alert


@transaction.atomic
def resolve_alert(*, alert: Alert, by, note: str) -> Alert:
    """Close an alert with what was done (acknowledging it too, if nobody had)."""
    alert = _locked(alert, by, "resolve")
    note = _clean_note(note)
    if not note:
        raise AftercareInvalid(
            "note: say what was done (for example: called the patient, advised rest).",
            field="note",
        )
    if alert.resolved_at is not None:
        last = alert.notes.filter(kind=NoteKind.RESOLVED).first()
        if last is not None and last.text == note and alert.resolved_by_id == by.pk:
            return alert  # the same resolution sent twice
        raise AlertStateRefused(
            f"This alert was already resolved by {alert.resolved_by.get_full_name()}."
        )
    now = timezone.now()
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, by
        _note(alert, NoteKind.ACKNOWLEDGED, by, "")
    alert.resolved_at, alert.resolved_by = now, by
    alert.save(update_fields=["acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by"])
    _note(alert, NoteKind.RESOLVED, by, note)
    return alert


def managers_of(alert: Alert) -> list:
    """Who an escalation goes to: the clinic's managers, or the organisation admins if none."""
    memberships = Membership.objects.filter(
        organization_id=alert.organization_id, user__is_active=True
    ).select_related("user")
    managers = [
        m.user for m in memberships.filter(clinic_id=alert.clinic_id, role=Role.CLINIC_MANAGER)
    ]
    if not managers:
        managers = [m.user for m in memberships.filter(role=Role.ORG_ADMIN)]
    return sorted(
        {user.pk: user for user in managers if user.email}.values(), key=lambda u: u.email
    )


def escalate_alert(*, alert_id) -> str:
    """E-mail the managers about an urgent alert nobody acknowledged in time. Once.

    The e-mail is recorded like a check-in's (aftercare.services.emails); the
    escalation itself (`escalated_at` and its note) is written with its answer.
    """
    check_in_id = Alert.objects.filter(pk=alert_id).values_list("check_in_id", flat=True).first()
    if check_in_id is None:
        return "gone"
    retry_at = timezone.now() + ESCALATION_RETRY
    with emails.one_sender(check_in_id, EmailPurpose.ESCALATION) as mine:
        if not mine:
            jobs.run_at(tasks.escalate_alert, retry_at, alert_id=str(alert_id))
            return "busy: will look again"
        with transaction.atomic():
            alert = (
                Alert.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("clinic", "patient", "check_in")
                .filter(pk=alert_id)
                .first()
            )
            if alert is None:
                jobs.run_at(tasks.escalate_alert, retry_at, alert_id=str(alert_id))
                return "busy: will look again"
            if alert.level != AlertLevel.URGENT or alert.escalated_at is not None:
                return "nothing to escalate"
            if alert.acknowledged_at is not None:
                return "acknowledged in time"
            if timezone.now() < alert.escalate_at:
                jobs.run_at(tasks.escalate_alert, alert.escalate_at, alert_id=str(alert.pk))
                return "not yet"
            managers = managers_of(alert)
            if not managers:
                logger.error("urgent alert %s: nobody to escalate it to", alert.pk)
                return "nobody to tell"
            record = emails.begin(
                alert.check_in, EmailPurpose.ESCALATION, [user.email for user in managers]
            )
        delivery = emails.deliver(
            record,
            subject=f"[Fascia] URGENT alert at {alert.clinic.name} not acknowledged",
            body=render_to_string(
                "aftercare/email/escalation.txt", {"alert": alert, "link": _link(alert)}
            ),
        )
        with transaction.atomic():
            emails.finish(record, delivery)
            if not delivery.accepted:
                logger.error("alert %s could not be escalated: %s", alert.pk, delivery.error)
                jobs.run_at(tasks.escalate_alert, retry_at, alert_id=str(alert.pk))
                return "failed, will retry"
            alert = Alert.objects.select_for_update(of=("self",)).get(pk=alert.pk)
            alert.escalated_at = timezone.now()
            alert.save(update_fields=["escalated_at"])
            told = ", ".join(user.get_full_name() or user.email for user in managers)
            _note(
                alert,
                NoteKind.ESCALATED,
                None,
                f"Not acknowledged in time: e-mailed to {told}."
                + (
                    ""
                    if alert.acknowledged_at is None
                    else " It was acknowledged while the e-mail was being sent."
                ),
            )
            return "escalated"
