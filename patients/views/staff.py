"""The clinic's patient pages: list and search, registration, the patient page, details."""

import copy
import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from clinics import access
from clinics.exceptions import FasciaError
from clinics.models import Organization
from clinics.selectors import current_clinic
from patients import panels, safety, selectors, services
from patients.contraindications import Contraindication
from patients.exceptions import EditConflict, LikelyDuplicate, SubmissionKeyReused
from patients.forms import EditPatientForm, HealthChangeForm, RegisterPatientForm, show_error
from patients.messages import messages_of
from patients.models import (
    ConsentSignature,
    ConsentWithdrawal,
    Intake,
    Patient,
    PatientInvitation,
    ReadVia,
    RecordPart,
    ScreeningResponse,
    Surgery,
)
from patients.models.records import PainArea
from patients.services import import_files
from patients.views import clinical
from patients.views.scope import Place, message_of, refuse, staff_page

PAGE_SIZE = 50


@staff_page
def patient_list(request):
    """The current clinic's patients, or everyone the user may see who matches the search."""
    query = " ".join(request.GET.get("q", "").split())
    clinic = current_clinic(request)
    page = None
    if query:
        patients = selectors.search_patients(request.user, query)
    else:
        everyone = access.visible_to(request.user, Patient.objects.select_related("home_clinic"))
        if clinic is not None:
            everyone = everyone.filter(home_clinic=clinic)
        page = Paginator(everyone, PAGE_SIZE).get_page(request.GET.get("page"))
        patients = list(page)
    summaries = safety.summaries_for(request.user, patients)
    services.record_reads(
        reader=request.user, patients=patients, part=RecordPart.LIST, via=ReadVia.PAGE
    )
    return render(
        request,
        "patients/patient_list.html",
        {
            "query": query,
            "clinic": clinic,
            "page": page,
            "rows": [(patient, summaries[patient.pk].marks) for patient in patients],
            "may_register": access.clinics_for(request.user, Patient, "add").exists(),
            "may_import": import_files.may_import(request.user),
            # Read only when there is a search (a lazy queryset).
            "other_sites_of": Organization.objects.filter(
                pk__in=access.emergency_organizations(request.user)
            ).order_by("name"),
        },
    )


@staff_page
def register(request):
    user = request.user
    clinics = access.clinics_for(user, Patient, "add").filter(is_active=True)
    if not clinics.exists():
        return refuse(request, "Your role does not allow you to register patients.")
    matches = []
    then = _then(request)
    if request.method == "POST":
        form = RegisterPatientForm(request.POST, clinics=clinics)
        if form.is_valid():
            try:
                patient = services.register_patient(
                    by=user,
                    allow_duplicate=form.cleaned_data["different_person"],
                    submission_key=form.cleaned_data["submission_key"],
                    **form.details(),
                )
            except LikelyDuplicate as duplicate:
                form.add_error(None, duplicate.message)
                matches = _as_seen_by(duplicate)
            except SubmissionKeyReused:
                # The page was sent back after registering someone, then changed:
                # a fresh form key lets this one be registered as a new patient.
                data = request.POST.copy()
                data["submission_key"] = str(uuid.uuid4())
                form = RegisterPatientForm(data, clinics=clinics)
                form.is_valid()
                form.add_error(
                    None,
                    "This form already registered a patient before it was changed. Check the "
                    "details below and press Register again to register this one too.",
                )
            except (FasciaError, ValidationError) as error:
                show_error(form, error)
            else:
                messages.success(request, f"{patient.full_name} is registered.")
                if then:  # registered from another page (booking): back to it, with the patient
                    joiner = "&" if "?" in then else "?"
                    return redirect(f"{then}{joiner}{urlencode({'patient': patient.pk})}")
                return redirect("patients:detail", patient_id=patient.pk)
    else:
        here = current_clinic(request)
        form = RegisterPatientForm(
            clinics=clinics,
            initial={"home_clinic": here if here in clinics else clinics.first()},
        )
    return render(
        request,
        "patients/patient_register.html",
        {"form": form, "matches": matches, "then": then},
    )


def _then(request) -> str:
    """The page to return to once registered (`?then=`), if it is one of this site's."""
    then = request.POST.get("then") or request.GET.get("then") or ""
    if then.startswith("/") and url_has_allowed_host_and_scheme(
        then, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return then
    return ""


def _as_seen_by(duplicate: LikelyDuplicate) -> list[tuple[Patient, bool]]:
    """Each likely duplicate, and whether the user may open its record (else: name and site)."""
    return [(match, match.pk in duplicate.visible) for match in duplicate.matches]


@staff_page
def detail(request, patient: Patient):
    user = request.user
    place = Place(patient=patient, portal=False)
    status = selectors.clinical_status(patient)
    reads_clinical = place.may(user, "view", Intake)
    reads_screening = place.may(user, "view", ScreeningResponse)
    consents = selectors.consent_history(user, patient)
    invitation = access.visible_to(
        user, PatientInvitation.objects.filter(patient=patient).order_by("-created_at")
    ).first()
    context = {
        "patient": patient,
        "status": status,
        "safety": safety.summary_of(user, patient, status=status),
        "reads_clinical": reads_clinical,
        "reads_screening": reads_screening,
        "consents": consents,
        "invitation": invitation,
        "invitation_expired": invitation is not None
        and invitation.accepted_at is None
        and invitation.expires_at <= timezone.now(),
        "may_change": access.can(user, "change", patient),
        "may_invite": patient.user_id is None and place.may(user, "add", PatientInvitation),
        "may_sign": place.may(user, "add", ConsentSignature),
        "may_withdraw": place.may(user, "add", ConsentWithdrawal),
        "may_screen": place.may(user, "add", ScreeningResponse),
        "may_report_change": place.may(user, "change", ScreeningResponse),
        "change_form": HealthChangeForm(),
        "panels": panels.render_panels(request, patient),
        "messages_sent": messages_of(user, patient),
    }
    if reads_clinical:
        intake = access.visible_to(user, Intake.objects.filter(patient=patient)).first()
        context["intake"] = intake
        context["pain_areas"] = (
            [PainArea(area).label for area in intake.pain_areas] if intake else []
        )
        context["surgeries"] = access.visible_to(user, Surgery.objects.filter(patient=patient))
    if reads_screening:
        screenings = access.visible_to(
            user, ScreeningResponse.objects.filter(patient=patient).select_related("questionnaire")
        )
        context["screenings"] = [
            (response, [Contraindication(flag).label for flag in response.flags])
            for response in screenings
        ]
    services.record_read(reader=user, patient=patient, part=RecordPart.DETAILS, via=ReadVia.PAGE)
    if context.get("intake") is not None:
        services.record_read(reader=user, patient=patient, part=RecordPart.INTAKE, via=ReadVia.PAGE)
    return render(request, "patients/patient_detail.html", context)


@staff_page
def edit(request, patient: Patient):
    user = request.user
    if not access.can(user, "change", patient):
        return refuse(
            request,
            "Your role does not allow you to change this patient's details.",
            place=Place(patient=patient, portal=False),
        )
    clinics = access.clinics_for(user, Patient, "add").filter(is_active=True)
    # The form works on a copy, so the page's heading keeps the saved name.
    form = EditPatientForm(request.POST or None, instance=copy.copy(patient), clinics=clinics)
    differences, matches = [], []
    if request.method == "POST" and form.is_valid():
        details = form.details()
        try:
            services.update_patient(
                patient=patient,
                by=user,
                expected_version=form.cleaned_data["version"],
                allow_duplicate=form.cleaned_data["different_person"],
                **details,
            )
        except LikelyDuplicate as duplicate:
            form.add_error(None, duplicate.message)
            matches = _as_seen_by(duplicate)
        except EditConflict as conflict:
            form.add_error(None, conflict.message)
            differences = _differences(form, Patient.objects.get(pk=patient.pk), details)
        except (FasciaError, ValidationError) as error:
            show_error(form, error)
        else:
            messages.success(request, f"{patient.full_name}'s details are saved.")
            return redirect("patients:detail", patient_id=patient.pk)
    services.record_read(reader=user, patient=patient, part=RecordPart.DETAILS, via=ReadVia.PAGE)
    return render(
        request,
        "patients/patient_edit.html",
        {"patient": patient, "form": form, "differences": differences, "matches": matches},
    )


def _differences(form, saved: Patient, typed: dict) -> list[tuple[str, object, object]]:
    """What the other person saved that differs from what this user typed (label, saved, typed)."""
    return [
        (form[name].label, getattr(saved, name), value)
        for name, value in typed.items()
        if getattr(saved, name) != value
    ]


@staff_page
@require_POST
def invite(request, patient: Patient):
    try:
        invitation = services.invite_patient(patient=patient, by=request.user)
    except (FasciaError, ValidationError) as error:
        messages.error(request, message_of(error))
    else:
        if invitation.send_failed_at is not None:
            messages.error(
                request,
                f"The invitation could not be e-mailed to {invitation.email} just now. "
                "Try again in a few minutes.",
            )
            return redirect("patients:detail", patient_id=patient.pk)
        messages.success(
            request,
            f"A portal invitation is on its way to {invitation.email}; the link works until "
            f"{invitation.expires_at:%d %B %Y}.",
        )
    return redirect("patients:detail", patient_id=patient.pk)


@staff_page
@require_POST
def report_change(request, patient: Patient):
    return clinical.report_change(request, Place(patient=patient, portal=False))


@staff_page
def screening_detail(request, patient: Patient, screening_id):
    return clinical.screening_detail(request, Place(patient=patient, portal=False), screening_id)


# The pages the patient fills, used at the clinic.


@staff_page
def intake(request, patient: Patient):
    return clinical.intake(request, Place(patient=patient, portal=False))


@staff_page
def screening_new(request, patient: Patient):
    return _with_details_read(
        request, patient, clinical.screening(request, Place(patient=patient, portal=False))
    )


@staff_page
def consent_sign(request, patient: Patient):
    return _with_details_read(
        request, patient, clinical.consent_sign(request, Place(patient=patient, portal=False))
    )


def _with_details_read(request, patient: Patient, response):
    """A form page about the patient (their name, date of birth) shown is a read of the record."""
    if response.status_code == 200:
        services.record_read(
            reader=request.user, patient=patient, part=RecordPart.DETAILS, via=ReadVia.PAGE
        )
    return response


@staff_page
def consent_detail(request, patient: Patient, consent_id):
    return clinical.consent_detail(request, Place(patient=patient, portal=False), consent_id)


@staff_page
def consent_withdraw(request, patient: Patient, consent_id):
    return clinical.consent_withdraw(request, Place(patient=patient, portal=False), consent_id)
