"""Getting the patient's forms filled in: sent to them, or opened on the clinic's tablet.

Linked from wherever a session is refused for missing or expired screening or
consent: `patients:send_forms` (POST, with an optional `next` to come back to)
and `patients:forms_on_tablet` (GET).
"""

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from clinics.exceptions import FasciaError
from patients import selectors, services
from patients.models import (
    ConsentSignature,
    FormsRequest,
    FormsSentAs,
    Patient,
    PatientForm,
    ReadVia,
    RecordPart,
    ScreeningResponse,
)
from patients.services.forms_request import send_failed
from patients.views.scope import message_of, staff_page


@staff_page
@require_POST
def send_forms(request, patient: Patient):
    """One click: the invitation or a reminder with the forms still to fill in."""
    try:
        sent = services.send_forms(patient=patient, by=request.user)
    except (FasciaError, ValidationError) as error:
        messages.error(request, message_of(error))
    else:
        if send_failed(sent):
            messages.error(
                request,
                f"The e-mail to {sent.email} could not be sent just now. Try again in a few "
                "minutes.",
            )
        else:
            messages.success(request, _sent_message(sent))
    return redirect(_back(request, patient))


def _sent_message(sent: FormsRequest) -> str:
    forms = _in_words(sent.forms)
    if sent.sent_as == FormsSentAs.INVITATION:
        return (
            f"A portal invitation is on its way to {sent.email}: once they have a login, "
            f"the patient fills in {forms} there."
        )
    return f"A reminder to fill in {forms} is on its way to {sent.email}."


def _in_words(forms: list[str]) -> str:
    words = {PatientForm.SCREENING: "the screening questions", PatientForm.CONSENT: "the consent"}
    return " and ".join(words[PatientForm(form)] for form in forms)


def _back(request, patient: Patient) -> str:
    """`next` when it is a page of this site; else the patient's page."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("patients:detail", args=[patient.pk])


@dataclass(frozen=True)
class TabletForm:
    """A form still to fill in, and how it is opened at the clinic (if this user may)."""

    title: str
    why: str
    url: str
    button: str
    instead: str
    """What to do when this user may not open the form at the clinic; empty when they may."""


@staff_page
@require_safe
def forms_on_tablet(request, patient: Patient):
    """The forms still to fill in, each a big button to its form at the clinic."""
    user = request.user
    due = services.forms_due(selectors.clinical_status(patient))
    forms = []
    if PatientForm.SCREENING in due:
        may = selectors.may(user, "add", ScreeningResponse, patient)
        forms.append(
            TabletForm(
                "Screening questions",
                "A few yes/no questions that make sure dry needling is safe for the patient.",
                reverse("patients:screening_new", args=[patient.pk]) if may else "",
                "Open the screening",
                ""
                if may
                else "A therapist opens the screening with the patient, or send the forms "
                "and the patient answers them in the portal.",
            )
        )
    if PatientForm.CONSENT in due:
        may = selectors.may(user, "add", ConsentSignature, patient)
        forms.append(
            TabletForm(
                "Consent to dry needling",
                "The patient reads the consent text and signs it on this device.",
                reverse("patients:consent_sign", args=[patient.pk]) if may else "",
                "Open the consent",
                ""
                if may
                else "Your role does not take consent: a therapist takes it with the patient, "
                "or send the forms and the patient signs in the portal.",
            )
        )
    services.record_read(reader=user, patient=patient, part=RecordPart.DETAILS, via=ReadVia.PAGE)
    return render(
        request,
        "patients/forms_on_tablet.html",
        {
            "patient": patient,
            "forms": forms,
            "may_send": services.may_send_forms(user, patient),
            "here": request.get_full_path(),
        },
    )
