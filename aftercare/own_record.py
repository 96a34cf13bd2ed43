"""The aftercare app's parts of a patient's own record: the plans issued to them, and their
check-ins with their answers. Never a draft plan, never the staff's notes on an alert."""

from django.db.models import Prefetch

from aftercare import triage
from aftercare.models import (
    AftercarePlan,
    CheckIn,
    CheckInAnswer,
    PlanExercise,
    PlanRead,
    PlanStatus,
)
from clinics import access
from patients.own_record import Item, Part


def plans(user, patient) -> list[Item]:
    """Every plan issued to the patient, newest first, with its exercises and when it was read."""
    issued = (
        access.visible_to(
            user, AftercarePlan.objects.filter(patient=patient, status=PlanStatus.ISSUED)
        )
        .select_related("session")
        .prefetch_related(
            Prefetch("exercises", queryset=access.visible_to(user, PlanExercise.objects.all())),
            Prefetch("read", queryset=access.visible_to(user, PlanRead.objects.all())),
        )
        .order_by("-issued_at")
    )
    items = []
    for plan in issued:
        read = getattr(plan, "read", None)
        items.append(
            {
                "session_starts_at": plan.session.starts_at,
                "issued_at": plan.issued_at,
                "title": plan.title,
                "advice": plan.advice,
                "muscles_needled": list(plan.needled_muscles),
                "heat_or_ice": plan.get_heat_or_ice_display(),
                "activity_limits": plan.activity_limits,
                "next_visit": plan.next_visit,
                "other_advice": plan.other_advice,
                "exercises": [
                    {
                        "name": exercise.name,
                        "sets": exercise.sets,
                        "reps": exercise.reps,
                        "hold_seconds": exercise.hold_seconds,
                        "frequency": exercise.frequency,
                        "notes": exercise.notes,
                    }
                    for exercise in plan.exercises.all()
                ],
                "read_at": read.read_at if read else None,
            }
        )
    return items


def check_ins(user, patient) -> list[Item]:
    """Every check-in, newest first, with the patient's answers and how they were triaged.

    `answers` holds one entry once the patient answered, none before.
    """
    asked = (
        access.visible_to(user, CheckIn.objects.filter(patient=patient))
        .select_related("session")
        .prefetch_related(
            Prefetch("answer", queryset=access.visible_to(user, CheckInAnswer.objects.all()))
        )
        .order_by("-due_at")
    )
    items = []
    for check_in in asked:
        answer = getattr(check_in, "answer", None)
        items.append(
            {
                "session_starts_at": check_in.session.starts_at,
                "hours_after": check_in.hours_after,
                "due_at": check_in.due_at,
                "closes_at": check_in.closes_at,
                "answered_at": answer.answered_at if answer else None,
                "answers": [_answers(answer)] if answer else [],
                # Chest pain or shortness of breath told before the rest (or without it).
                "red_flags_reported": triage.assess_red_flags(check_in.red_flags_reported).reasons,
                "red_flags_reported_at": check_in.red_flags_reported_at,
            }
        )
    return items


def _answers(answer: CheckInAnswer) -> Item:
    """What the patient answered, in the order the form asks it, and the triage level."""
    return {
        "chest_pain": answer.chest_pain,
        "short_of_breath": answer.short_of_breath,
        "infection_signs": answer.infection_signs,
        "nerve_symptoms": answer.nerve_symptoms,
        "soreness": answer.soreness,
        "pain": answer.pain,
        "symptoms": answer.get_trend_display(),
        "bruising": answer.get_bruising_display(),
        "tiredness": answer.get_fatigue_display(),
        "comments": answer.comments,
        "triage": answer.get_triage_display(),
    }


PARTS = (
    Part(key="aftercare", title="Your aftercare plans", items=plans),
    Part(key="check_ins", title="Your check-ins", items=check_ins),
)
