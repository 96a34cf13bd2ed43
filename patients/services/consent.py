"""Consent: signing the current text, and withdrawing it."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.client import USER_AGENT_LENGTH
from clinics import access
from patients import selectors
from patients.contraindications import AGE_OF_CONSENT
from patients.exceptions import ConsentRefused, NotPermitted, SubmissionKeyReused
from patients.models import (
    Channel,
    ConsentSignature,
    ConsentTemplate,
    ConsentWithdrawal,
    Patient,
    sha256_of,
)
from patients.services.forms import current_consent_template, hold_published_versions


@transaction.atomic
def sign_consent(
    *,
    patient: Patient,
    by,
    template: ConsentTemplate,
    signer_name: str,
    guardian_relationship: str = "",
    ip_address: str | None = None,
    user_agent: str = "",
    submission_key=None,
) -> ConsentSignature:
    """Record a signature of `template`, which must be the current version.

    Keeps the exact text and its SHA-256. A patient under 18 is signed for by
    a guardian, who types their own name and their relationship. Signing the
    same version again while that signature stands returns it unchanged (a
    double click), as does a repeated `submission_key`.
    """
    # Signing locks the patient: a second click waits, then finds the first signature.
    patient = (
        Patient.objects.select_for_update(of=("self",))
        .select_related("home_clinic")
        .get(pk=patient.pk)
    )
    if not selectors.may(by, "add", ConsentSignature, patient):
        raise NotPermitted("Your role does not allow you to record consent for this patient.")
    if submission_key is not None:
        earlier = ConsentSignature.objects.filter(
            organization_id=patient.organization_id, submission_key=submission_key
        ).first()
        if earlier is not None:
            if earlier.patient_id != patient.pk:
                raise SubmissionKeyReused()
            return earlier
    if template.organization_id != patient.organization_id:
        raise ConsentRefused("This consent text belongs to another organisation.", field="template")
    # Version 1 is created on first use before the shared hold: creating it
    # needs the organisation row exclusively.
    current_consent_template(patient.organization)
    hold_published_versions(patient.organization)
    current = current_consent_template(patient.organization)
    if template.pk != current.pk:
        raise ConsentRefused(
            f"Version {template.version} of the consent is no longer current: version "
            f"{current.version} replaced it. Read the current text and sign that.",
            field="template",
        )
    standing = selectors.standing_consent(patient)
    if standing is not None and standing.template_id == template.pk:
        return standing
    signer_name = " ".join(signer_name.split())
    guardian_relationship = " ".join(guardian_relationship.split())
    if not signer_name:
        raise ConsentRefused("Type the signer's full name to sign.", field="signer_name")
    age = patient.age_on(timezone.localdate(timezone=patient.home_clinic.zone))
    if age < AGE_OF_CONSENT and not guardian_relationship:
        raise ConsentRefused(
            f"{patient.full_name} is {age}: a parent or guardian signs, typing their own "
            "name and their relationship to the patient.",
            field="guardian_relationship",
        )
    signature = ConsentSignature(
        organization_id=patient.organization_id,
        patient=patient,
        template=template,
        template_version=template.version,
        text=template.body,
        text_sha256=sha256_of(template.body),
        signer_name=signer_name,
        guardian_relationship=guardian_relationship,
        ip_address=ip_address or None,
        user_agent=(user_agent or "")[:USER_AGENT_LENGTH],
        channel=Channel.PORTAL if patient.user_id == by.pk else Channel.CLINIC,
        recorded_by=by,
        submission_key=submission_key,
    )
    signature.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            signature.save()
    except IntegrityError:  # the same submission, committed a moment ago
        return ConsentSignature.objects.get(
            organization_id=patient.organization_id, submission_key=submission_key
        )
    return signature


@transaction.atomic
def withdraw_consent(*, signature: ConsentSignature, by, reason: str = "") -> ConsentWithdrawal:
    """The patient withdraws the consent in force; no session may start until they sign again.

    Withdrawing it twice returns the first record; a signature a later one
    replaced, or one already withdrawn with consent, is not in force.
    """
    # Lock the patient, as signing does: a withdrawal and a signature queue up.
    Patient.objects.select_for_update(of=("self",)).get(pk=signature.patient_id)
    signature = ConsentSignature.objects.select_related("patient", "patient__home_clinic").get(
        pk=signature.pk
    )
    patient = signature.patient
    if not access.can(by, "view", signature) or not selectors.may(
        by, "add", ConsentWithdrawal, patient
    ):
        raise NotPermitted("Your role does not allow you to record a withdrawal of consent.")
    earlier = ConsentWithdrawal.objects.filter(signature=signature).first()
    if earlier is not None:
        return earlier
    standing = selectors.standing_consent(patient)
    if standing is None or standing.pk != signature.pk:
        raise ConsentRefused(
            "This signature is no longer in force (a later one replaced it, or consent was "
            "withdrawn already): there is nothing to withdraw on it.",
            field="signature",
        )
    withdrawal = ConsentWithdrawal(
        organization_id=signature.organization_id,
        signature=signature,
        patient=patient,
        reason=reason.strip(),
        channel=Channel.PORTAL if patient.user_id == by.pk else Channel.CLINIC,
        recorded_by=by,
    )
    withdrawal.full_clean(validate_unique=False)
    withdrawal.save()
    return withdrawal
