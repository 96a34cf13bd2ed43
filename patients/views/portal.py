"""The patient portal: what the patient still has to do, their forms, and the invitation link."""

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from accounts.models import User
from clinics import access
from clinics.exceptions import FasciaError
from patients import documents, fhir, selectors, services
from patients.exceptions import InvitationInvalid
from patients.forms import ChoosePasswordForm, HealthChangeForm, show_error
from patients.models import Intake, Patient, ReadVia, RecordPart
from patients.own_record import as_json, for_page, own_record
from patients.panels import render_portal_panels
from patients.record_reads import reads_by_others
from patients.selectors import ConsentState, ScreeningState, portal_records
from patients.views import clinical
from patients.views.scope import PORTAL_RECORD, Place, portal_page

LOGIN_BACKEND = "allauth.account.auth_backends.AuthenticationBackend"


@dataclass(frozen=True)
class Task:
    """Something the patient still has to do before their treatment."""

    title: str
    why: str
    url: str
    button: str


@portal_page
def home(request, patient: Patient):
    if request.method == "POST":
        # The login belongs to patients of several organisations: show the one chosen.
        chosen = request.POST.get("record", "")
        if any(str(record.pk) == chosen for record in portal_records(request.user)):
            request.session[PORTAL_RECORD] = chosen
        return redirect("portal:home")
    place = Place(patient=patient, portal=True)
    status = selectors.clinical_status(patient)
    intake = access.visible_to(request.user, Intake.objects.filter(patient=patient)).first()
    consents = selectors.consent_history(request.user, patient)
    return render(
        request,
        "patients/portal/home.html",
        {
            "patient": patient,
            "clinic": patient.home_clinic,
            "records": list(portal_records(request.user)),
            "tasks": _tasks(place, status, intake),
            "intake": intake,
            "status": status,
            "consents": consents,
            "change_form": HealthChangeForm(),
            "panels": render_portal_panels(request, patient),
            "two_step": is_mfa_enabled(request.user),
        },
    )


def _tasks(place: Place, status: selectors.ClinicalStatus, intake: Intake | None) -> list[Task]:
    tasks = []
    if intake is None:
        tasks.append(
            Task(
                "Fill in your intake",
                "Tell your therapist what brings you in and about your health.",
                place.url("intake"),
                "Fill in the intake",
            )
        )
    screening_why = {
        ScreeningState.MISSING: "A few yes/no questions that make sure dry needling is safe "
        "for you.",
        ScreeningState.EXPIRED: "Your answers are out of date: answer the questions again.",
        ScreeningState.CHANGED: "You told us your health changed: answer the questions again.",
    }.get(status.screening_state)
    if screening_why:
        tasks.append(
            Task(
                "Answer the screening questions",
                screening_why,
                place.url("screening"),
                "Answer the questions",
            )
        )
    consent_why = None
    if status.consent_state == ConsentState.MISSING:
        consent_why = "Read about dry needling and sign your consent."
    elif status.consent_state == ConsentState.WITHDRAWN:
        consent_why = "You withdrew your consent. Sign again only if you want to be treated."
    elif status.consent_state == ConsentState.OUTDATED:
        consent_why = "The consent text was updated since you signed: read and sign the new one."
    if consent_why:
        tasks.append(
            Task("Sign your consent", consent_why, place.url("consent_sign"), "Read and sign")
        )
    return tasks


@portal_page
def intake(request, patient: Patient):
    return clinical.intake(request, Place(patient=patient, portal=True))


@portal_page
def screening(request, patient: Patient):
    return clinical.screening(request, Place(patient=patient, portal=True))


@portal_page
def screening_detail(request, patient: Patient, screening_id):
    return clinical.screening_detail(request, Place(patient=patient, portal=True), screening_id)


@portal_page
def consent_sign(request, patient: Patient):
    return clinical.consent_sign(request, Place(patient=patient, portal=True))


@portal_page
def consent_detail(request, patient: Patient, consent_id):
    return clinical.consent_detail(request, Place(patient=patient, portal=True), consent_id)


@portal_page
def consent_withdraw(request, patient: Patient, consent_id):
    return clinical.consent_withdraw(request, Place(patient=patient, portal=True), consent_id)


@portal_page
@require_POST
def report_change(request, patient: Patient):
    return clinical.report_change(request, Place(patient=patient, portal=True))


# What the download holds, for the access log: everything but the chart.
RECORD_PARTS = (
    RecordPart.DETAILS,
    RecordPart.INTAKE,
    RecordPart.SCREENING,
    RecordPart.CONSENT,
    RecordPart.AFTERCARE,
    RecordPart.CHECK_IN,
)


def _own_record(request, patient: Patient) -> dict:
    own = own_record(request.user, patient)
    for part in RECORD_PARTS:
        services.record_read(reader=request.user, patient=patient, part=part, via=ReadVia.PAGE)
    return own


@portal_page
@require_safe
@never_cache
def record(request, patient: Patient):
    """The patient's own record on one printable page, with the JSON to download."""
    clinic = patient.home_clinic
    own = _own_record(request, patient)
    return render(
        request,
        "patients/portal/record.html",
        {
            "patient": patient,
            "clinic": clinic,
            "record": own,
            "parts": for_page(own, clinic.zone),
        },
    )


@portal_page
@require_safe
def record_json(request, patient: Patient):
    """The patient's own record as a JSON file: dates ISO 8601, times in UTC."""
    response = HttpResponse(
        as_json(_own_record(request, patient)), content_type="application/json; charset=utf-8"
    )
    filename = f"fascia-record-{patient.local_today():%Y-%m-%d}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@portal_page
@require_safe
def record_pdf(request, patient: Patient):
    """The patient's own record as a PDF document: what the printable page shows, paged."""
    clinic = patient.home_clinic
    own = _own_record(request, patient)
    try:
        document = documents.pdf(
            "patients/documents/record.html",
            {
                "patient": patient,
                "clinic": clinic,
                "record": own,
                "parts": for_page(own, clinic.zone),
            },
        )
    except documents.DocumentsUnavailable as error:
        return HttpResponse(error.message, status=error.status, content_type="text/plain")
    response = HttpResponse(document, content_type="application/pdf")
    filename = f"fascia-record-{patient.local_today():%Y-%m-%d}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@portal_page
@require_safe
def record_fhir(request, patient: Patient):
    """The patient's own record as FHIR R4 (a Bundle), for another clinic or a hospital."""
    bundle = fhir.patient_bundle(request.user, patient, via=ReadVia.PAGE)
    response = HttpResponse(
        json.dumps(bundle, indent=2, ensure_ascii=False),
        content_type="application/fhir+json; charset=utf-8",
    )
    filename = f"fascia-record-{patient.local_today():%Y-%m-%d}.fhir.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def invitation(request, token: str):
    """The link in the invitation e-mail: make a login, or connect the one already in use."""
    user = request.user if request.user.is_authenticated else None
    try:
        invited = services.invitation_for(token, user=user)
    except InvitationInvalid as error:
        return render(
            request,
            "patients/portal/invitation_invalid.html",
            {"message": error.message},
            status=404,
        )
    context = {
        "invitation": invited,
        "patient": invited.patient,
        "clinic": invited.patient.home_clinic,
    }
    if request.user.is_authenticated:
        if invited.patient.user_id == request.user.pk:
            return redirect("portal:home")
        if request.method == "POST":
            try:
                services.accept_invitation(token=token, user=request.user)
            except InvitationInvalid as error:
                context["error"] = error.message
            else:
                messages.success(request, "Your login is now connected to your patient record.")
                return redirect("portal:home")
        return render(request, "patients/portal/invitation_accept.html", context)
    if User.objects.filter(email=invited.email).exists():
        context["login_url"] = (
            f"{reverse('account_login')}?{urlencode({'next': request.get_full_path()})}"
        )
        return render(request, "patients/portal/invitation_login.html", context)
    form = ChoosePasswordForm(
        request.POST or None, initial={"full_name": invited.patient.full_name}
    )
    if request.method == "POST" and form.is_valid():
        try:
            user = services.create_login_from_invitation(
                token=token,
                password=form.cleaned_data["password"],
                full_name=form.cleaned_data["full_name"],
            )
        except (FasciaError, ValidationError) as error:
            show_error(form, error)
        else:
            login(request, user, backend=LOGIN_BACKEND)
            messages.success(request, "Welcome to your patient portal.")
            return redirect("portal:home")
    context["form"] = form
    return render(request, "patients/portal/invitation_password.html", context)


@portal_page
@require_safe
def record_reads(request, patient: Patient):
    """Who at the clinic opened the patient's record, and when."""
    return render(
        request,
        "patients/portal/record_reads.html",
        {
            "patient": patient,
            "clinic": patient.home_clinic,
            "page": reads_by_others(patient, page_number=request.GET.get("page")),
        },
    )
