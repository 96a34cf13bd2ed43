"""Break-glass: a clinician opens the record of a patient of another site, for a few hours."""

import datetime
import logging
import smtplib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from clinics import access, security_log
from clinics.models import Membership, Role, SecurityEventKind
from patients.exceptions import Conflict, NotPermitted
from patients.models import EmergencyAccess, Patient
from patients.models.emergency import REASON_MIN_LENGTH

logger = logging.getLogger(__name__)


@transaction.atomic
def grant_emergency_access(*, patient: Patient, by: User, reason: str) -> EmergencyAccess:
    """Let `by` read `patient`'s record for FASCIA_BREAK_GLASS_HOURS, for `reason`.

    Refused to anyone without a clinical role in the patient's organisation
    (the front desk, another organisation's staff) and to someone who sees the
    patient already. A second request while an access holds (a double click,
    the form sent twice) gets that access back, unchanged: one row, one event.
    The access is written to the security log and the organisation admins are
    told by e-mail once it is committed.
    """
    if access.can(by, "view", patient, emergency=False):
        raise Conflict(
            f"You already see {patient.full_name}'s record: no emergency access is needed.",
            field="patient",
        )
    organizations = access.emergency_organizations(by)
    if not organizations:
        raise NotPermitted(
            "Your role does not allow emergency access to patients: only clinical staff "
            "(therapists, clinic managers) of another site may open a record this way."
        )
    if patient.organization_id not in organizations:
        raise NotPermitted("No such patient.", field="patient")
    reason = " ".join(reason.split())
    if len(reason) < REASON_MIN_LENGTH:
        raise ValidationError(
            {
                "reason": f"Say why you must see this record, in at least {REASON_MIN_LENGTH} "
                f"characters (you wrote {len(reason)})."
            },
            code="reason_too_short",
        )
    # Requests for one patient wait for each other here, so a double click finds the
    # access the first click made. NO KEY UPDATE: bookings of the patient do not wait.
    patient = (
        Patient.objects.select_for_update(no_key=True, of=("self",))
        .select_related("home_clinic", "organization")
        .get(pk=patient.pk)
    )
    held = (
        access.active_emergency_access(by, organization_id=patient.organization_id)
        .filter(patient=patient)
        .order_by("-expires_at")
        .first()
    )
    if held is not None:
        return held
    now = timezone.now()
    granted = EmergencyAccess.objects.create(
        organization=patient.organization,
        patient=patient,
        user=by,
        reason=reason,
        granted_at=now,
        expires_at=now + datetime.timedelta(hours=settings.FASCIA_BREAK_GLASS_HOURS),
    )
    security_log.record(
        SecurityEventKind.BREAK_GLASS,
        user=by,
        organizations={patient.organization_id},
        detail=_event_detail(granted),
    )
    transaction.on_commit(lambda: _tell_the_admins(granted))
    return granted


def _event_detail(granted: EmergencyAccess) -> str:
    """What the security log says: the access, its home clinic and its end, never the patient
    or the reason (clinical words, often). The log is no patient's record and its reads are
    not in the access log; the emergency accesses' page names both, and logs who read it."""
    clinic = granted.patient.home_clinic
    until = timezone.localtime(granted.expires_at, clinic.zone)
    return (
        f"Emergency access {granted.pk} to a patient of {clinic.name}, "
        f"until {until:%Y-%m-%d %H:%M} {clinic.timezone}"
    )


def _tell_the_admins(granted: EmergencyAccess) -> None:
    """E-mail the organisation admins. No patient's name: mail leaves Fascia, and the link
    leads to the list behind the login, where they read who and why."""
    admins = (
        Membership.objects.filter(
            organization_id=granted.organization_id, role=Role.ORG_ADMIN, user__is_active=True
        )
        .values_list("user__email", flat=True)
        .distinct()
    )
    recipients = sorted(set(admins))
    if not recipients:
        return
    clinic = granted.patient.home_clinic
    until = timezone.localtime(granted.expires_at, clinic.zone)
    link = settings.FASCIA_BASE_URL + reverse("patients:emergency_access_list")
    try:
        send_mail(
            subject="[Fascia] Emergency access to a patient's record",
            message=(
                f"{granted.user.get_full_name() or granted.user.email} opened the record of a "
                f"patient of {clinic.name} in an emergency, until {until:%H:%M} "
                f"({clinic.timezone}).\n\nWho, which patient and why: {link}\n"
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except (smtplib.SMTPException, OSError):
        # The access and its security event are written; the list shows it all the same.
        logger.exception("emergency access %s could not be e-mailed to the admins", granted.pk)
