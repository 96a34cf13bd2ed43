"""Alerts: raising them from check-in answers, telling the therapist, and what staff do next."""

import logging
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from aftercare import tasks
from aftercare.exceptions import AftercareInvalid, AlertStateRefused, NotPermitted
from aftercare.models import Alert, AlertLevel, AlertNote, CheckIn, NoteKind, Triage
from aftercare.services.plans import settings_of
from clinics import access
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
        tasks.run_now(tasks.notify_alert, alert_id=str(alert.pk))
        if alert.escalate_at is not None:
            tasks.run_at(tasks.escalate_alert, alert.escalate_at, alert_id=str(alert.pk))
    return alert


def _link(alert: Alert) -> str:
    return settings.FASCIA_BASE_URL + reverse("aftercare:alert", args=[alert.pk])


NOTIFY_ATTEMPTS = 6


def notify_alert(*, alert_id, attempt: int = 1) -> str:
    """E-mail the treating therapist that an alert waits (no clinical detail in the e-mail).

    A therapist without an active login and address is replaced by the
    clinic's managers. A refused e-mail is tried again, up to NOTIFY_ATTEMPTS
    times; the alert is on the clinic's list whatever happens, and an urgent
    one is escalated when nobody acknowledges it.
    """
    alert = Alert.objects.select_related("therapist", "clinic").filter(pk=alert_id).first()
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
    try:
        send_mail(
            subject=f"[Fascia] {'URGENT: ' if alert.level == AlertLevel.URGENT else ''}"
            f"a patient's check-in at {alert.clinic.name} needs you",
            message=render_to_string(
                "aftercare/email/alert.txt", {"alert": alert, "link": _link(alert)}
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except (smtplib.SMTPException, OSError):
        logger.exception("alert %s could not be e-mailed (attempt %s)", alert.pk, attempt)
        if attempt < NOTIFY_ATTEMPTS:
            tasks.run_at(
                tasks.notify_alert,
                timezone.now() + ESCALATION_RETRY,
                alert_id=str(alert.pk),
                attempt=attempt + 1,
            )
            return "failed, will retry"
        return "failed"
    return "sent"


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
    """E-mail the managers about an urgent alert nobody acknowledged in time. Once."""
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("clinic", "patient")
            .filter(pk=alert_id)
            .first()
        )
        if alert is None:
            if not Alert.objects.filter(pk=alert_id).exists():
                return "gone"
            tasks.run_at(
                tasks.escalate_alert, timezone.now() + ESCALATION_RETRY, alert_id=str(alert_id)
            )
            return "busy: will look again"
        if alert.level != AlertLevel.URGENT or alert.escalated_at is not None:
            return "nothing to escalate"
        if alert.acknowledged_at is not None:
            return "acknowledged in time"
        now = timezone.now()
        if now < alert.escalate_at:
            tasks.run_at(tasks.escalate_alert, alert.escalate_at, alert_id=str(alert.pk))
            return "not yet"
        managers = managers_of(alert)
        if not managers:
            logger.error("urgent alert %s: nobody to escalate it to", alert.pk)
            return "nobody to tell"
        try:
            send_mail(
                subject=f"[Fascia] URGENT alert at {alert.clinic.name} not acknowledged",
                message=render_to_string(
                    "aftercare/email/escalation.txt", {"alert": alert, "link": _link(alert)}
                ),
                from_email=None,
                recipient_list=[user.email for user in managers],
            )
        except (smtplib.SMTPException, OSError):
            logger.exception("alert %s could not be escalated by e-mail", alert.pk)
            tasks.run_at(tasks.escalate_alert, now + ESCALATION_RETRY, alert_id=str(alert.pk))
            return "failed, will retry"
        alert.escalated_at = now
        alert.save(update_fields=["escalated_at"])
        _note(
            alert,
            NoteKind.ESCALATED,
            None,
            "Not acknowledged in time: e-mailed to "
            + ", ".join(user.get_full_name() or user.email for user in managers)
            + ".",
        )
        return "escalated"
