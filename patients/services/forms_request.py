"""Sending a patient the forms they still have to fill in before needling.

From a refusal for missing or expired screening or consent, one click: a
patient without a portal login gets the portal invitation (their forms are
waiting there), one with a login a reminder e-mail with a link to each form.
The reminder names the forms only: never an answer, a flag or why a form is
due (an e-mail may be read by someone else).
"""

import datetime
import logging
import smtplib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from clinics import access
from patients import selectors
from patients.exceptions import Conflict, NotPermitted
from patients.models import FormsRequest, FormsSentAs, Patient, PatientForm
from patients.selectors import ClinicalStatus
from patients.services.records import invite_patient

logger = logging.getLogger(__name__)

DOUBLE_CLICK = datetime.timedelta(minutes=10)
"""The same forms sent again within this time are the first request again: nothing is e-mailed."""

NOTHING_TO_SEND = "Screening and consent are in order: nothing to send."

# Where the patient fills in each form in the portal.
PORTAL_PAGES = {
    PatientForm.SCREENING: "portal:screening",
    PatientForm.CONSENT: "portal:consent_sign",
}


def forms_due(status: ClinicalStatus) -> list[PatientForm]:
    """The forms the patient must fill in before needling, in the order they are filled.

    Screening when there is none, it expired or the patient reported a change
    in health; consent when there is none, it was withdrawn, or it was signed
    on an older version that the organisation does not let count.
    """
    due = []
    if not status.screening_valid:
        due.append(PatientForm.SCREENING)
    if not status.consent_valid:
        due.append(PatientForm.CONSENT)
    return due


def form_links(forms: list[str]) -> list[tuple[str, str]]:
    """Each form's name and the address of its page in the portal (for any e-mail sending
    them: this reminder, and sessions' appointment reminders). The pages ask for the
    patient's portal login."""
    return [
        (PatientForm(form).label, settings.FASCIA_BASE_URL + reverse(PORTAL_PAGES[form]))
        for form in forms
    ]


def may_send_forms(user, patient: Patient) -> bool:
    """May `user` send `patient` their forms (any staff role at the patient's home clinic)?"""
    return access.can(user, "view", patient) and access.can_add(
        user, FormsRequest, organization=patient.organization, clinic=patient.home_clinic
    )


@transaction.atomic
def send_forms(*, patient: Patient, by) -> FormsRequest:
    """E-mail the patient the forms they still have to fill in, once the transaction commits.

    Without a portal login: the portal invitation (services.invite_patient),
    where the forms wait for them. With one: a reminder with a link to each
    form in the portal. Refused (Conflict) when screening and consent are in
    order, and naming `email` when the record has no e-mail address. The same
    forms to the same address again within DOUBLE_CLICK return the first
    request and send nothing, unless its e-mail could not be sent.
    """
    # Two clicks queue up here; the second finds the first one's request.
    patient = (
        Patient.objects.select_for_update(of=("self",))
        .select_related("home_clinic", "organization", "user")
        .get(pk=patient.pk)
    )
    if not may_send_forms(by, patient):
        raise NotPermitted("Your role does not allow you to send this patient their forms.")
    forms = forms_due(selectors.clinical_status(patient))
    if not forms:
        raise Conflict(NOTHING_TO_SEND)
    if not patient.email:
        raise ValidationError(
            {"email": "Record the patient's e-mail address first: the forms are sent there."}
        )
    sent_as = FormsSentAs.REMINDER if patient.user_id is not None else FormsSentAs.INVITATION
    now = timezone.now()
    earlier = (
        FormsRequest.objects.filter(
            patient=patient,
            sent_as=sent_as,
            email=patient.email,
            forms=forms,
            sent_at__gte=now - DOUBLE_CLICK,
            send_failed_at__isnull=True,
        )
        .exclude(invitation__send_failed_at__isnull=False)
        .select_related("invitation")
        .first()
    )
    if earlier is not None:
        return earlier
    request = FormsRequest(
        organization=patient.organization,
        patient=patient,
        forms=forms,
        sent_as=sent_as,
        email=patient.email,
        sent_at=now,
        sent_by=by,
    )
    if sent_as == FormsSentAs.INVITATION:
        request.invitation = invite_patient(patient=patient, by=by)
    request.full_clean(exclude=["sent_by", "invitation"])
    request.save()
    if sent_as == FormsSentAs.REMINDER:
        transaction.on_commit(lambda: _send_reminder(request))
    return request


def _send_reminder(request: FormsRequest) -> None:
    patient = request.patient
    clinic = patient.home_clinic
    context = {
        "patient": patient,
        "clinic": clinic,
        "organization": patient.organization,
        "forms": form_links(request.forms),
        "portal": settings.FASCIA_BASE_URL + reverse("portal:home"),
    }
    try:
        send_mail(
            subject=f"[Fascia] {clinic.name}: your forms before your visit",
            message=render_to_string("patients/email/forms_reminder.txt", context),
            from_email=None,
            recipient_list=[request.email],
        )
    except (smtplib.SMTPException, OSError):
        # The page says so, and the next click sends again.
        logger.exception("forms reminder %s could not be e-mailed", request.pk)
        request.send_failed_at = timezone.now()
        FormsRequest.objects.filter(pk=request.pk).update(send_failed_at=request.send_failed_at)


def send_failed(request: FormsRequest) -> bool:
    """Could the e-mail of `request` (its reminder, or its invitation) not be sent?"""
    if request.invitation is not None:
        return request.invitation.send_failed_at is not None
    return request.send_failed_at is not None
