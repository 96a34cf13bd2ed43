"""The patients app's FHIR resources: the Patient, their intake and screening answers (with the
forms they answered), their consents and their contraindications as Flags.

Each function reads only rows `reader` may see (`access.visible_to`), for any number of
patients in a fixed number of queries. docs/fhir.md lists the elements and codes.
"""

import base64
import hashlib
import uuid
from collections.abc import Iterator

from django.db.models import Prefetch
from django.utils import timezone

from clinics import access
from clinics.fhir import (
    CLINICAL_FLAG,
    FASCIA,
    HL7,
    LOINC,
    Referenced,
    Resource,
    answer_options,
    code_system,
    coding,
    concept,
    day,
    extension,
    identifier,
    instant,
    pruned,
    reference,
)
from patients.contraindications import MINIMUM_AGE, Contraindication, Severity, severity_of
from patients.fhir import Section
from patients.models import (
    ConsentSignature,
    Intake,
    Patient,
    RecordPart,
    ScreeningAnswer,
    ScreeningResponse,
    Surgery,
)
from patients.models.records import ActivityLevel, Channel, PainArea

GUARDIAN = coding(f"{HL7}/v3-RoleCode", "GUARD", "guardian")
EMERGENCY_CONTACT = coding(f"{HL7}/v2-0131", "C", "Emergency Contact")


def details(reader, patients: list[Patient], referenced: Referenced) -> Iterator[Resource]:
    """Each patient's details; the list holds only patients `reader` may see. A child under
    12 is flagged here, from the date of birth: the age is never asked in the screening."""
    for patient in patients:
        yield patient_resource(patient)
        if patient.age_on(patient.local_today()) < MINIMUM_AGE:
            yield contraindication_flag(
                patient, Contraindication.UNDER_12, flag_id=uuid.uuid5(patient.pk, "under_12")
            )


def patient_resource(patient: Patient) -> Resource:
    language = patient.get_preferred_language_display() if patient.preferred_language else None
    return pruned(
        {
            "resourceType": "Patient",
            "id": str(patient.pk),
            "identifier": [identifier("patient", patient.pk)],
            "active": True,
            "name": [
                {
                    "use": "official",
                    "text": patient.full_name,
                    "family": patient.last_name,
                    "given": [patient.first_name],
                }
            ],
            "telecom": [
                {"system": "phone", "value": patient.phone} if patient.phone else None,
                {"system": "email", "value": patient.email} if patient.email else None,
            ],
            "birthDate": day(patient.date_of_birth),
            "address": [{"text": patient.address}] if patient.address else [],
            "contact": [
                {
                    "relationship": [
                        concept(EMERGENCY_CONTACT, text=patient.emergency_contact_relationship)
                    ],
                    "name": {"text": patient.emergency_contact_name},
                    "telecom": [{"system": "phone", "value": patient.emergency_contact_phone}],
                }
            ]
            if patient.emergency_contact_name
            else [],
            "communication": [
                {
                    "language": concept(
                        coding("urn:ietf:bcp:47", patient.preferred_language, str(language)),
                        text=str(language),
                    ),
                    "preferred": True,
                }
            ]
            if language
            else [],
            "managingOrganization": reference("Organization", patient.organization_id),
        }
    )


# --- Intake ---------------------------------------------------------------------

INTAKE_URL = f"{FASCIA}/Questionnaire/intake"
INTAKE_VERSION = "1"
INTAKE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{INTAKE_URL}|{INTAKE_VERSION}"))


def intake_questionnaire() -> Resource:
    """The intake form every organisation uses, as the Questionnaire its answers cite."""
    return pruned(
        {
            "resourceType": "Questionnaire",
            "id": INTAKE_ID,
            "url": INTAKE_URL,
            "version": INTAKE_VERSION,
            "name": "FasciaIntake",
            "title": "Intake",
            "status": "active",
            "subjectType": ["Patient"],
            "item": [
                {"linkId": "presenting-complaint", "text": "What brings you in", "type": "text"},
                {
                    "linkId": "pain-areas",
                    "text": "Where it hurts",
                    "type": "choice",
                    "repeats": True,
                    "answerOption": answer_options("pain-area", PainArea),
                },
                {
                    "linkId": "conditions",
                    "text": "Medical conditions",
                    "type": "string",
                    "repeats": True,
                },
                {"linkId": "medications", "text": "Medicines", "type": "string", "repeats": True},
                {"linkId": "allergies", "text": "Allergies", "type": "string", "repeats": True},
                {
                    "linkId": "surgeries",
                    "text": "Operations",
                    "type": "group",
                    "repeats": True,
                    "item": [
                        {"linkId": "surgery", "text": "Operation", "type": "string"},
                        {"linkId": "surgery-date", "text": "When", "type": "date"},
                    ],
                },
                {
                    "linkId": "activity-level",
                    "text": "How active you are",
                    "type": "choice",
                    "answerOption": answer_options("activity-level", ActivityLevel),
                },
                {"linkId": "goals", "text": "What you hope for", "type": "text"},
            ],
        }
    )


def _answered(link_id: str, text: str, *answers: dict) -> dict | None:
    answers = [answer for answer in answers if answer]
    return {"linkId": link_id, "text": text, "answer": answers} if answers else None


def _author(referenced: Referenced, user, patient: Patient) -> dict | None:
    """Who filled a form: the patient through the portal, else the member of staff."""
    if user is None:
        return None
    if user.pk == patient.user_id:
        return reference("Patient", patient.pk)
    return referenced.practitioner(user)


def intakes(reader, patients: list[Patient], referenced: Referenced) -> Iterator[Resource]:
    by_id = {patient.pk: patient for patient in patients}
    found = list(
        access.visible_to(reader, Intake.objects.filter(patient__in=list(by_id)))
        .select_related("updated_by")
        .prefetch_related(
            Prefetch(
                "patient__surgeries",
                queryset=access.visible_to(reader, Surgery.objects.order_by("performed_on")),
            )
        )
    )
    if found:
        yield intake_questionnaire()
    for intake in found:
        patient = by_id[intake.patient_id]
        surgeries = intake.patient.surgeries.all()
        yield pruned(
            {
                "resourceType": "QuestionnaireResponse",
                "id": str(intake.pk),
                "identifier": identifier("intake", intake.pk),
                "questionnaire": f"{INTAKE_URL}|{INTAKE_VERSION}",
                "status": "completed",
                "subject": reference("Patient", patient.pk),
                "authored": instant(intake.updated_at),
                "author": _author(referenced, intake.updated_by, patient),
                "source": reference("Patient", patient.pk),
                "item": [
                    _answered(
                        "presenting-complaint",
                        "What brings you in",
                        {"valueString": intake.presenting_complaint},
                    ),
                    _answered(
                        "pain-areas",
                        "Where it hurts",
                        *(
                            {
                                "valueCoding": coding(
                                    code_system("pain-area"), area, PainArea(area).label
                                )
                            }
                            for area in intake.pain_areas
                        ),
                    ),
                    _answered(
                        "conditions",
                        "Medical conditions",
                        *({"valueString": text} for text in intake.conditions),
                    ),
                    _answered(
                        "medications",
                        "Medicines",
                        *({"valueString": text} for text in intake.medications),
                    ),
                    _answered(
                        "allergies",
                        "Allergies",
                        *({"valueString": text} for text in intake.allergies),
                    ),
                    *(
                        {
                            "linkId": "surgeries",
                            "text": "Operations",
                            "item": [
                                _answered(
                                    "surgery", "Operation", {"valueString": surgery.description}
                                ),
                                _answered(
                                    "surgery-date",
                                    "When",
                                    {"valueDate": day(surgery.performed_on)},
                                ),
                            ],
                        }
                        for surgery in surgeries
                    ),
                    _answered(
                        "activity-level",
                        "How active you are",
                        {
                            "valueCoding": coding(
                                code_system("activity-level"),
                                intake.activity_level,
                                intake.get_activity_level_display(),
                            )
                        }
                        if intake.activity_level
                        else None,
                    ),
                    _answered("goals", "What you hope for", {"valueString": intake.goals}),
                ],
            }
        )


# --- Screening --------------------------------------------------------------------


def screening_url(organization_id) -> str:
    """One canonical URL per organisation's screening form; each version is its own resource."""
    return f"{FASCIA}/Questionnaire/screening/{organization_id}"


def screenings(reader, patients: list[Patient], referenced: Referenced) -> Iterator[Resource]:
    """The answers to each screening, the forms they answered, and the contraindications the
    latest screening raised as Flags."""
    by_id = {patient.pk: patient for patient in patients}
    responses = list(
        access.visible_to(reader, ScreeningResponse.objects.filter(patient__in=list(by_id)))
        .select_related("questionnaire", "submitted_by")
        .prefetch_related(
            Prefetch(
                "answers",
                queryset=access.visible_to(
                    reader, ScreeningAnswer.objects.select_related("question")
                ).order_by("question__position"),
            )
        )
        .order_by("submitted_at", "pk")
    )
    forms: dict = {}
    for response in responses:
        form = forms.setdefault(response.questionnaire_id, (response.questionnaire, {}))
        for answer in response.answers.all():
            form[1].setdefault(answer.question_id, answer.question)
    for questionnaire, questions in forms.values():
        yield screening_questionnaire(questionnaire, questions.values())
    latest: dict = {}
    for response in responses:
        latest[response.patient_id] = response
        yield screening_response(response, by_id[response.patient_id], referenced)
    now = timezone.now()
    for patient_id, response in latest.items():
        current = response.change_reported_at is None and response.valid_until > now
        ended = response.change_reported_at or response.valid_until
        for flag in response.flags:
            yield contraindication_flag(
                by_id[patient_id],
                flag,
                flag_id=uuid.uuid5(response.pk, flag),
                start=response.submitted_at,
                end=None if current else ended,
            )


def screening_questionnaire(questionnaire, questions) -> Resource:
    return pruned(
        {
            "resourceType": "Questionnaire",
            "id": str(questionnaire.pk),
            "url": screening_url(questionnaire.organization_id),
            "version": str(questionnaire.version),
            "title": questionnaire.title,
            "status": "active",
            "date": instant(questionnaire.published_at),
            "subjectType": ["Patient"],
            "item": [
                {
                    "linkId": question.key,
                    "text": question.text,
                    "type": "boolean",
                    "required": True,
                    "code": [
                        coding(
                            code_system("contraindication"),
                            question.contraindication,
                            Contraindication(question.contraindication).label,
                        )
                    ]
                    if question.contraindication
                    else [],
                    "item": [
                        {"linkId": f"{question.key}-detail", "text": "Details", "type": "string"}
                    ],
                }
                for question in sorted(questions, key=lambda question: question.position)
            ],
        }
    )


def screening_response(response, patient: Patient, referenced: Referenced) -> Resource:
    questionnaire = response.questionnaire
    return pruned(
        {
            "resourceType": "QuestionnaireResponse",
            "id": str(response.pk),
            "identifier": identifier("screening", response.pk),
            "questionnaire": f"{screening_url(questionnaire.organization_id)}|"
            f"{questionnaire.version}",
            "status": "completed",
            "subject": reference("Patient", patient.pk),
            "authored": instant(response.submitted_at),
            "author": _author(referenced, response.submitted_by, patient),
            "source": reference("Patient", patient.pk),
            "item": [
                {
                    "linkId": answer.question.key,
                    "text": answer.question.text,
                    "answer": [
                        {
                            "valueBoolean": answer.answer,
                            "item": [
                                {
                                    "linkId": f"{answer.question.key}-detail",
                                    "text": "Details",
                                    "answer": [{"valueString": answer.detail}],
                                }
                            ]
                            if answer.detail
                            else [],
                        }
                    ],
                }
                for answer in response.answers.all()
            ],
        }
    )


def contraindication_flag(
    patient: Patient, contraindication: str, *, flag_id, start=None, end=None
) -> Resource:
    """A contraindication to dry needling; "inactive" once its screening is out of date."""
    label = Contraindication(contraindication).label
    severity = severity_of(contraindication)
    absolute = severity == Severity.ABSOLUTE
    return pruned(
        {
            "resourceType": "Flag",
            "id": str(flag_id),
            "status": "active" if end is None else "inactive",
            "category": [CLINICAL_FLAG],
            "code": concept(
                coding(code_system("contraindication"), contraindication, label),
                text=f"{'Absolute' if absolute else 'Relative'} contraindication to dry "
                f"needling: {label}",
            ),
            "subject": reference("Patient", patient.pk),
            "period": {"start": instant(start) or day(patient.date_of_birth), "end": instant(end)},
            "extension": [extension("contraindication-severity", valueCode=severity.value)],
        }
    )


# --- Consent ---------------------------------------------------------------------


def consents(reader, patients: list[Patient], referenced: Referenced) -> Iterator[Resource]:
    """Each signed consent with the exact text signed; withdrawn ones are "inactive"."""
    signed = (
        access.visible_to(reader, ConsentSignature.objects.filter(patient__in=patients))
        .select_related("template", "withdrawal", "recorded_by")
        .order_by("signed_at", "pk")
    )
    for signature in signed:
        withdrawal = getattr(signature, "withdrawal", None)
        guardian = bool(signature.guardian_relationship)
        if guardian:
            yield pruned(
                {
                    "resourceType": "RelatedPerson",
                    "id": str(guardian_id(signature)),
                    "active": True,
                    "patient": reference("Patient", signature.patient_id),
                    "relationship": [
                        concept(GUARDIAN, text=signature.guardian_relationship),
                    ],
                    "name": [{"text": signature.signer_name}],
                }
            )
        yield consent(signature, withdrawal, guardian=guardian, referenced=referenced)


def guardian_id(signature) -> uuid.UUID:
    """The guardian who signed, as a RelatedPerson: an id of their own, made from the
    signature's (a bundle's full URLs must differ)."""
    return uuid.uuid5(signature.pk, "guardian")


def consent(signature, withdrawal, *, guardian: bool, referenced: Referenced) -> Resource:
    text = signature.text.encode()
    signer = (
        reference("RelatedPerson", guardian_id(signature), signature.signer_name)
        if guardian
        else reference("Patient", signature.patient_id, signature.signer_name)
    )
    return pruned(
        {
            "resourceType": "Consent",
            "id": str(signature.pk),
            "identifier": [identifier("consent", signature.pk)],
            "status": "inactive" if withdrawal else "active",
            "scope": concept(coding(f"{HL7}/consentscope", "treatment", "Treatment")),
            "category": [
                concept(
                    coding(LOINC, "59284-0", "Consent Document"), text="Consent to dry needling"
                )
            ],
            "patient": reference("Patient", signature.patient_id),
            "dateTime": instant(signature.signed_at),
            "performer": [signer],
            "organization": [reference("Organization", signature.organization_id)],
            "sourceAttachment": {
                "contentType": "text/plain; charset=utf-8",
                "data": base64.b64encode(text).decode(),
                # FHIR's attachment hash is SHA-1; the SHA-256 Fascia keeps is an extension.
                "hash": base64.b64encode(hashlib.sha1(text).digest()).decode(),  # noqa: S324
                "title": f"{signature.template.title} (version {signature.template_version})",
                "creation": instant(signature.signed_at),
            },
            "policyRule": concept(coding(f"{HL7}/v3-ActCode", "OPTIN", "opt-in")),
            "provision": {
                "type": "permit",
                "period": {
                    "start": instant(signature.signed_at),
                    "end": instant(withdrawal.withdrawn_at) if withdrawal else None,
                },
                "actor": [{"role": concept(GUARDIAN), "reference": signer}] if guardian else [],
            },
            "extension": [
                extension("text-sha256", valueString=signature.text_sha256),
                extension("template-version", valueInteger=signature.template_version),
                extension(
                    "capture-channel",
                    valueCoding=coding(
                        code_system("channel"),
                        signature.channel,
                        Channel(signature.channel).label,
                    ),
                ),
                extension(
                    "recorded-by", valueReference=referenced.practitioner(signature.recorded_by)
                )
                if signature.recorded_by_id and signature.channel == Channel.CLINIC
                else None,
                extension(
                    "withdrawal-reason",
                    valueString=withdrawal.reason if withdrawal else None,
                ),
            ],
        }
    )


SECTIONS = (
    Section(
        key="patient", parts=(RecordPart.DETAILS,), types=("Patient", "Flag"), resources=details
    ),
    Section(
        key="intake",
        parts=(RecordPart.INTAKE,),
        types=("Questionnaire", "QuestionnaireResponse"),
        resources=intakes,
    ),
    Section(
        key="screening",
        parts=(RecordPart.SCREENING,),
        types=("Questionnaire", "QuestionnaireResponse", "Flag"),
        resources=screenings,
    ),
    Section(
        key="consent",
        parts=(RecordPart.CONSENT,),
        types=("Consent", "RelatedPerson"),
        resources=consents,
    ),
)
