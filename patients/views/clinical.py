"""The pages a patient fills, in the clinic (on a tablet) or in the portal: the same forms.

Each takes a `Place`; the staff and portal URL confs wrap them (patients.views.staff,
patients.views.portal).
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from accounts import client
from clinics import access
from clinics.exceptions import FasciaError
from patients import selectors, services
from patients.contraindications import AGE_OF_CONSENT, Contraindication, Severity, severity_of
from patients.forms import (
    ConsentForm,
    HealthChangeForm,
    IntakeForm,
    ScreeningForm,
    SurgeryFormSet,
    WithdrawConsentForm,
    show_error,
)
from patients.models import (
    ConsentSignature,
    ConsentWithdrawal,
    Intake,
    ReadVia,
    RecordPart,
    ScreeningAnswer,
    ScreeningResponse,
    Surgery,
)
from patients.services.intake import INTAKE_FIELDS
from patients.views.scope import Place, message_of, refuse


def intake(request, place: Place):
    user, patient = request.user, place.patient
    saved = access.visible_to(user, Intake.objects.filter(patient=patient)).first()
    if not place.may(user, "view", Intake) or not place.may(
        user, "change" if saved else "add", Intake
    ):
        return refuse(
            request, "Your role does not allow you to read or record intake answers.", place=place
        )
    if request.method == "POST":
        form = IntakeForm(request.POST)
        surgeries = SurgeryFormSet(request.POST, prefix="surgeries")
        if form.is_valid() and surgeries.is_valid():
            try:
                services.save_intake(
                    patient=patient,
                    by=user,
                    surgeries=surgeries.surgeries(),
                    expected_version=form.cleaned_data["version"],
                    **form.fields_for_service(),
                )
            except (FasciaError, ValidationError) as error:
                show_error(form, error)
            else:
                messages.success(request, "The intake is saved.")
                return redirect(place.done_url)
    else:
        initial = {name: getattr(saved, name) for name in INTAKE_FIELDS} if saved else {}
        # Version 0: there was no intake when the form was opened, so one saved
        # by someone else meanwhile is a conflict too, not silently replaced.
        initial["version"] = saved.version if saved else 0
        form = IntakeForm(initial=initial)
        operations = access.visible_to(user, Surgery.objects.filter(patient=patient))
        surgeries = SurgeryFormSet(
            prefix="surgeries",
            initial=[
                {"description": row.description, "performed_on": row.performed_on}
                for row in operations
            ],
        )
        if saved is not None:
            services.record_read(
                reader=user, patient=patient, part=RecordPart.INTAKE, via=ReadVia.PAGE
            )
    return render(
        request,
        "patients/intake_form.html",
        {"place": place, "patient": patient, "form": form, "surgeries": surgeries},
    )


def screening(request, place: Place):
    user, patient = request.user, place.patient
    if not place.may(user, "add", ScreeningResponse):
        return refuse(
            request, "Your role does not allow you to record screening answers.", place=place
        )
    questionnaire = services.current_questionnaire(patient.organization)
    notice = None
    form = ScreeningForm(questionnaire=questionnaire)
    if request.method == "POST":
        if request.POST.get("questionnaire") != str(questionnaire.pk):
            # New questions were published while the form was open: ask them.
            notice = (
                f"The screening questions changed while this form was open; version "
                f"{questionnaire.version} is shown now. Answer the questions below again."
            )
        else:
            form = ScreeningForm(request.POST, questionnaire=questionnaire)
            if form.is_valid():
                try:
                    response = services.submit_screening(
                        patient=patient,
                        by=user,
                        answers=form.answers(),
                        questionnaire=questionnaire,
                        submission_key=form.cleaned_data["submission_key"],
                    )
                except (FasciaError, ValidationError) as error:
                    show_error(form, error)
                else:
                    messages.success(request, "The screening answers are saved.")
                    if place.portal:
                        return redirect(place.done_url)
                    return redirect(
                        "patients:screening_detail",
                        patient_id=patient.pk,
                        screening_id=response.pk,
                    )
    return render(
        request,
        "patients/screening_form.html",
        {
            "place": place,
            "patient": patient,
            "form": form,
            "questionnaire": questionnaire,
            "notice": notice,
        },
    )


def screening_detail(request, place: Place, screening_id):
    """One screening's answers and the flags they raised (the patient's own, in the portal)."""
    patient = place.patient
    responses = ScreeningResponse.objects.filter(patient=patient).select_related(
        "questionnaire", "submitted_by", "change_reported_by"
    )
    response = get_object_or_404(access.visible_to(request.user, responses), pk=screening_id)
    answers = access.visible_to(
        request.user, ScreeningAnswer.objects.filter(response=response).select_related("question")
    ).order_by("question__position")
    flags = [
        (Contraindication(flag).label, severity_of(flag) == Severity.ABSOLUTE)
        for flag in response.flags
    ]
    status = selectors.clinical_status(patient)
    current = status.screening is not None and status.screening.pk == response.pk
    services.record_read(
        reader=request.user, patient=patient, part=RecordPart.SCREENING, via=ReadVia.PAGE
    )
    return render(
        request,
        "patients/screening_detail.html",
        {
            "place": place,
            "patient": patient,
            "response": response,
            "answers": answers,
            "flags": flags,
            "valid_until": status.screening_valid_until if current else None,
        },
    )


def consent_sign(request, place: Place):
    user, patient = request.user, place.patient
    if not place.may(user, "add", ConsentSignature):
        return refuse(request, "Your role does not allow you to record consent.", place=place)
    template = services.current_consent_template(patient.organization)
    age = patient.age_on(timezone.localdate(timezone=patient.home_clinic.zone))
    standing = selectors.standing_consent(patient)
    if standing is not None and standing.template_id != template.pk:
        standing = None  # signed, but on an older text: this one is still to sign
    shape = {"template": template, "patient": patient, "age": age, "age_of_consent": AGE_OF_CONSENT}
    notice = None
    form = ConsentForm(**shape)
    if request.method == "POST":
        if request.POST.get("template") != str(template.pk):
            # A new text was published while the form was open: it must be read first.
            notice = (
                f"The consent text changed while this form was open; version "
                f"{template.version} is shown now. Read it, then sign again."
            )
            form = ConsentForm(
                initial={
                    "signer_name": request.POST.get("signer_name", ""),
                    "guardian_relationship": request.POST.get("guardian_relationship", ""),
                },
                **shape,
            )
        else:
            form = ConsentForm(request.POST, **shape)
            if form.is_valid():
                try:
                    signature = services.sign_consent(
                        patient=patient,
                        by=user,
                        template=template,
                        signer_name=form.cleaned_data["signer_name"],
                        guardian_relationship=form.cleaned_data["guardian_relationship"],
                        ip_address=client.client_ip(request),
                        user_agent=client.user_agent(request),
                        submission_key=form.cleaned_data["submission_key"],
                    )
                except (FasciaError, ValidationError) as error:
                    show_error(form, error)
                else:
                    messages.success(request, "The consent is signed.")
                    return redirect(place.url("consent_detail", consent_id=signature.pk))
    return render(
        request,
        "patients/consent_form.html",
        {
            "place": place,
            "patient": patient,
            "form": form,
            "template": template,
            "standing": standing,
            "standing_url": place.url("consent_detail", consent_id=standing.pk)
            if standing
            else None,
            "notice": notice,
        },
    )


def _signature(request, place: Place, consent_id):
    signatures = ConsentSignature.objects.filter(patient=place.patient).select_related(
        "template", "recorded_by", "withdrawal", "withdrawal__recorded_by"
    )
    return get_object_or_404(access.visible_to(request.user, signatures), pk=consent_id)


def consent_detail(request, place: Place, consent_id):
    """The printable copy: the exact text signed, its hash, who signed, when and how."""
    signature = _signature(request, place, consent_id)
    withdrawal = getattr(signature, "withdrawal", None)
    standing = selectors.standing_consent(place.patient)
    state = selectors.signature_states([signature])[signature.pk]
    services.record_read(
        reader=request.user, patient=place.patient, part=RecordPart.CONSENT, via=ReadVia.PAGE
    )
    return render(
        request,
        "patients/consent_detail.html",
        {
            "place": place,
            "patient": place.patient,
            "signature": signature,
            "withdrawal": withdrawal,
            "state": state,
            "may_withdraw": standing is not None
            and standing.pk == signature.pk
            and place.may(request.user, "add", ConsentWithdrawal),
            "withdraw_url": place.url("consent_withdraw", consent_id=signature.pk),
        },
    )


def consent_withdraw(request, place: Place, consent_id):
    signature = _signature(request, place, consent_id)
    detail_url = place.url("consent_detail", consent_id=signature.pk)
    if not place.may(request.user, "add", ConsentWithdrawal):
        return refuse(
            request,
            "Your role does not allow you to record a withdrawal of consent: the patient "
            "withdraws it in the portal, or a therapist records what the patient said.",
            place=place,
        )
    if hasattr(signature, "withdrawal"):
        messages.info(request, "This consent was already withdrawn.")
        return redirect(detail_url)
    standing = selectors.standing_consent(place.patient)
    if standing is None or standing.pk != signature.pk:
        messages.info(request, "This signature is no longer in force: nothing to withdraw.")
        return redirect(detail_url)
    form = WithdrawConsentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.withdraw_consent(
                signature=signature, by=request.user, reason=form.cleaned_data["reason"]
            )
        except (FasciaError, ValidationError) as error:
            show_error(form, error)
        else:
            messages.success(
                request, "The consent is withdrawn: no needling until it is signed again."
            )
            return redirect(detail_url)
    return render(
        request,
        "patients/consent_withdraw.html",
        {
            "place": place,
            "patient": place.patient,
            "signature": signature,
            "form": form,
            "detail_url": detail_url,
        },
    )


def report_change(request, place: Place):
    """POST: the patient's health changed, so their screening must be answered again."""
    form = HealthChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("note", [])))
        return redirect(place.done_url)
    try:
        changed = services.report_health_change(
            patient=place.patient, by=request.user, note=form.cleaned_data["note"]
        )
    except (FasciaError, ValidationError) as error:
        messages.error(request, message_of(error))
        return redirect(place.done_url)
    if changed:
        messages.success(
            request, "The change is recorded: the screening must be answered again before needling."
        )
    else:
        messages.info(request, "The change is noted; there was no screening to mark as outdated.")
    return redirect(place.done_url)
