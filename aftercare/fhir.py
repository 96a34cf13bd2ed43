"""The aftercare app's FHIR resources: each aftercare plan as a CarePlan (advice, limits and
exercises as its activities), each answered check-in as a QuestionnaireResponse with its
pain and soreness as Observations, and each alert a check-in raised as a Flag."""

import uuid
from collections.abc import Iterator

from django.db.models import Prefetch

from aftercare.models import (
    AftercarePlan,
    Alert,
    CheckInAnswer,
    PlanExercise,
    PlanStatus,
)
from aftercare.models.check_ins import Bruising, Fatigue, Trend
from clinics import access
from clinics.fhir import (
    CLINICAL_FLAG,
    FASCIA,
    Referenced,
    Resource,
    answer_options,
    code_system,
    coding,
    concept,
    extension,
    identifier,
    instant,
    pruned,
    reference,
)
from patients.fhir import Section
from patients.models import Patient, RecordPart
from sessions.fhir import PAIN_SCORE, SURVEY

CHECK_IN_URL = f"{FASCIA}/Questionnaire/check-in"
CHECK_IN_VERSION = "1"
CHECK_IN_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{CHECK_IN_URL}|{CHECK_IN_VERSION}"))

YES_NO_QUESTIONS = (
    ("chest_pain", "Chest pain"),
    ("short_of_breath", "Short of breath, or pain on breathing"),
    ("infection_signs", "Redness, warmth, swelling or pus at a needle site, or a fever"),
    ("nerve_symptoms", "Tingling, numbness or burning that does not pass"),
)
CHOICE_QUESTIONS = (
    ("trend", "Since the session", Trend),
    ("bruising", "Bruising", Bruising),
    ("fatigue", "Tiredness", Fatigue),
)


def _link(field: str) -> str:
    return field.replace("_", "-")


def plans(reader, patients: list[Patient], referenced: Referenced) -> Iterator[Resource]:
    """Every plan `reader` may see: a patient's own login sees issued plans only."""
    for plan in (
        access.visible_to(reader, AftercarePlan.objects.filter(patient__in=patients))
        .select_related("issued_by", "updated_by")
        .prefetch_related(
            Prefetch(
                "exercises",
                queryset=access.visible_to(reader, PlanExercise.objects.order_by("position")),
            )
        )
        .order_by("session__starts_at", "pk")
    ):
        yield care_plan(plan, referenced)


def care_plan(plan: AftercarePlan, referenced: Referenced) -> Resource:
    issued = plan.status == PlanStatus.ISSUED
    advice = [
        ("heat-or-ice", plan.get_heat_or_ice_display() if plan.heat_or_ice else ""),
        ("activity-limits", plan.activity_limits),
        ("next-visit", plan.next_visit),
    ]
    return pruned(
        {
            "resourceType": "CarePlan",
            "id": str(plan.pk),
            "identifier": [identifier("aftercare-plan", plan.pk)],
            "status": "active" if issued else "draft",
            "intent": "plan",
            "category": [
                concept(coding(code_system("care-plan"), "aftercare", "Aftercare after needling"))
            ],
            "title": plan.title,
            "description": plan.advice,
            "subject": reference("Patient", plan.patient_id),
            "encounter": reference("Encounter", plan.session_id),
            "created": instant(plan.issued_at or plan.updated_at),
            "author": referenced.practitioner(plan.issued_by or plan.updated_by),
            "activity": [
                *(
                    {
                        "detail": {
                            "code": concept(coding(code_system("aftercare-advice"), key)),
                            "status": "not-started",
                            "description": text,
                        }
                    }
                    for key, text in advice
                    if text
                ),
                *(exercise_activity(exercise) for exercise in plan.exercises.all()),
            ],
            "note": [{"text": plan.other_advice}] if plan.other_advice else [],
            "extension": [
                extension("muscles-needled", valueString=", ".join(plan.needled_muscles)),
            ],
        }
    )


def exercise_activity(exercise: PlanExercise) -> dict:
    dose = ", ".join(
        part
        for part in (
            f"{exercise.sets} sets" if exercise.sets else "",
            f"{exercise.reps} repetitions" if exercise.reps else "",
            f"hold {exercise.hold_seconds} s" if exercise.hold_seconds else "",
            exercise.frequency,
        )
        if part
    )
    return {
        "detail": {
            "kind": "ServiceRequest",
            "code": concept(
                coding(code_system("aftercare-advice"), "exercise", "Exercise"),
                text=exercise.name,
            ),
            "status": "not-started",
            "scheduledString": exercise.frequency or None,
            "description": f"{exercise.name}: {dose}"
            + (f". {exercise.notes}" if exercise.notes else ""),
        }
    }


def check_in_questionnaire() -> Resource:
    """The check-in form, as the Questionnaire the answers cite."""
    return pruned(
        {
            "resourceType": "Questionnaire",
            "id": CHECK_IN_ID,
            "url": CHECK_IN_URL,
            "version": CHECK_IN_VERSION,
            "name": "FasciaCheckIn",
            "title": "How are you after your session?",
            "status": "active",
            "subjectType": ["Patient"],
            "item": [
                *(
                    {"linkId": _link(key), "text": text, "type": "boolean", "required": True}
                    for key, text in YES_NO_QUESTIONS
                ),
                {"linkId": "soreness", "text": "Soreness (0-10)", "type": "integer"},
                {"linkId": "pain", "text": "Pain (0-10)", "type": "integer"},
                *(
                    {
                        "linkId": key,
                        "text": text,
                        "type": "choice",
                        "answerOption": answer_options(f"check-in-{key}", choices),
                    }
                    for key, text, choices in CHOICE_QUESTIONS
                ),
                {"linkId": "comments", "text": "Anything else", "type": "text"},
            ],
        }
    )


def check_ins(reader, patients: list[Patient], referenced: Referenced) -> Iterator[Resource]:
    """Each answered check-in: the answers, and the pain and soreness as Observations."""
    answered = list(
        access.visible_to(reader, CheckInAnswer.objects.filter(patient__in=patients))
        .select_related("check_in")
        .order_by("answered_at", "pk")
    )
    if answered:
        yield check_in_questionnaire()
    for answer in answered:
        yield check_in_response(answer)
        for key, label, score, code in (
            ("pain", "Pain", answer.pain, PAIN_SCORE),
            ("soreness", "Soreness", answer.soreness, None),
        ):
            if score is None:
                continue
            check_in = answer.check_in
            yield pruned(
                {
                    "resourceType": "Observation",
                    "id": str(uuid.uuid5(answer.pk, key)),
                    "status": "final",
                    "category": [SURVEY],
                    "code": concept(
                        code,
                        coding(
                            code_system("observation"), f"check-in-{key}", f"{label} at check-in"
                        ),
                        text=f"{label} {check_in.hours_after} h after the session (0-10)",
                    ),
                    "subject": reference("Patient", answer.patient_id),
                    "encounter": reference("Encounter", check_in.session_id),
                    "effectiveDateTime": instant(answer.answered_at),
                    "performer": [reference("Patient", answer.patient_id)],
                    "valueInteger": score,
                    "derivedFrom": [reference("QuestionnaireResponse", answer.pk)],
                }
            )


def check_in_response(answer: CheckInAnswer) -> Resource:
    check_in = answer.check_in
    return pruned(
        {
            "resourceType": "QuestionnaireResponse",
            "id": str(answer.pk),
            "identifier": identifier("check-in", check_in.pk),
            "questionnaire": f"{CHECK_IN_URL}|{CHECK_IN_VERSION}",
            "status": "completed",
            "subject": reference("Patient", answer.patient_id),
            "encounter": reference("Encounter", check_in.session_id),
            "authored": instant(answer.answered_at),
            "source": reference("Patient", answer.patient_id),
            "item": [
                *(
                    {
                        "linkId": _link(key),
                        "text": text,
                        "answer": [{"valueBoolean": getattr(answer, key)}],
                    }
                    for key, text in YES_NO_QUESTIONS
                ),
                *(
                    {"linkId": key, "text": text, "answer": [{"valueInteger": value}]}
                    for key, text, value in (
                        ("soreness", "Soreness (0-10)", answer.soreness),
                        ("pain", "Pain (0-10)", answer.pain),
                    )
                    if value is not None
                ),
                *(
                    {
                        "linkId": key,
                        "text": text,
                        "answer": [
                            {
                                "valueCoding": coding(
                                    code_system(f"check-in-{key}"),
                                    getattr(answer, key),
                                    choices(getattr(answer, key)).label,
                                )
                            }
                        ],
                    }
                    for key, text, choices in CHOICE_QUESTIONS
                    if getattr(answer, key)
                ),
                {
                    "linkId": "comments",
                    "text": "Anything else",
                    "answer": [{"valueString": answer.comments}],
                }
                if answer.comments
                else None,
            ],
            "extension": [
                extension(
                    "check-in-triage",
                    valueCoding=coding(
                        code_system("check-in-triage"), answer.triage, answer.get_triage_display()
                    ),
                ),
                *(
                    extension("triage-reason", valueString=reason)
                    for reason in answer.triage_reasons
                ),
                extension("check-in-hours-after", valueInteger=check_in.hours_after),
            ],
        }
    )


def alerts(reader, patients: list[Patient], referenced: Referenced) -> Iterator[Resource]:
    """Each alert a check-in raised, as a Flag: "active" until a therapist resolves it."""
    raised = list(
        access.visible_to(reader, Alert.objects.filter(patient__in=patients))
        .select_related("check_in")
        .order_by("raised_at", "pk")
    )
    # Why it was raised is the patient's answers: only for those who may read them.
    answers = {
        answer.check_in_id: answer
        for answer in access.visible_to(
            reader,
            CheckInAnswer.objects.filter(check_in__in=[alert.check_in_id for alert in raised]),
        )
    }
    for alert in raised:
        answer = answers.get(alert.check_in_id)
        reasons = answer.triage_reasons if answer else []
        level = alert.get_level_display()
        yield pruned(
            {
                "resourceType": "Flag",
                "id": str(alert.pk),
                "identifier": [identifier("alert", alert.pk)],
                "status": "inactive" if alert.resolved_at else "active",
                "category": [CLINICAL_FLAG],
                "code": concept(
                    coding(code_system("check-in-alert"), alert.level, level),
                    text=f"{level} from the check-in {alert.check_in.hours_after} h after the "
                    f"session" + (f": {'; '.join(reasons)}" if reasons else ""),
                ),
                "subject": reference("Patient", alert.patient_id),
                "encounter": reference("Encounter", alert.session_id),
                "period": {"start": instant(alert.raised_at), "end": instant(alert.resolved_at)},
            }
        )


SECTIONS = (
    Section(key="aftercare", parts=(RecordPart.AFTERCARE,), types=("CarePlan",), resources=plans),
    Section(
        key="check_ins",
        parts=(RecordPart.CHECK_IN,),
        types=("Questionnaire", "QuestionnaireResponse", "Observation"),
        resources=check_ins,
    ),
    Section(key="alerts", parts=(RecordPart.DETAILS,), types=("Flag",), resources=alerts),
)
