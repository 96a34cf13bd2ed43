"""Aftercare written through the services, as a therapist, a patient and a manager would."""

import datetime
from dataclasses import dataclass

import time_machine

from aftercare import services
from aftercare.models import (
    AftercarePlan,
    AftercareSettings,
    AftercareTemplate,
    Alert,
    AlertNote,
    CheckIn,
    CheckInAnswer,
    EmailAttempt,
    PlanExercise,
    PlanRead,
)
from sessions.models import TreatmentSession

CALM = {
    "soreness": 3,
    "pain": 2,
    "bruising": "none",
    "fatigue": "none",
    "trend": "better",
    "chest_pain": False,
    "short_of_breath": False,
    "infection_signs": False,
    "nerve_symptoms": False,
}
"""Check-in answers that raise nothing: filed on the session."""


def answers(**changes) -> dict:
    return {**CALM, **changes}


def draft_plan(session: TreatmentSession, *, therapist) -> PlanExercise:
    """The therapist's additions to a started session's plan, with one exercise."""
    services.save_plan(
        session=session,
        by=therapist,
        heat_or_ice="heat",
        activity_limits="No overhead lifting until Friday.",
        next_visit="In one week",
        other_advice="Keep the monitor at eye level.",
    )
    return services.add_exercise(
        session=session,
        by=therapist,
        name="Upper trapezius stretch",
        sets=3,
        hold_seconds=30,
        frequency="Twice a day",
    )


def plan_of(session: TreatmentSession) -> AftercarePlan:
    return AftercarePlan.objects.get(session=session)


def first_check_in(session: TreatmentSession) -> CheckIn:
    return CheckIn.objects.filter(session=session).order_by("due_at").first()


def answer_when_due(check_in: CheckIn, *, by, after=datetime.timedelta(hours=1), **changes):
    """Answer `check_in` `after` it fell due (the clock moved there and held)."""
    with time_machine.travel(check_in.due_at + after, tick=False):
        return services.answer_check_in(check_in=check_in, by=by, **answers(**changes))


@dataclass
class AftercareRecord:
    template: AftercareTemplate
    settings: AftercareSettings
    plan: AftercarePlan
    exercise: PlanExercise
    read: PlanRead
    check_in: CheckIn
    email: EmailAttempt
    answer: CheckInAnswer
    alert: Alert
    note: AlertNote


def aftercare_record(
    session: TreatmentSession, *, exercise: PlanExercise, therapist, admin, login
) -> AftercareRecord:
    """After signing: the patient reads the plan, is e-mailed the 24 h check-in and
    reports chest pain in it; the therapist acknowledges the urgent alert."""
    settings = services.save_settings(
        organization=session.organization,
        by=admin,
        check_in_hours=[24, 48, 72],
        escalate_after_minutes=30,
    )
    plan = plan_of(session)
    read = services.mark_plan_read(plan=plan, by=login)
    check_in = first_check_in(session)
    with time_machine.travel(check_in.due_at, tick=False):
        services.send_check_in(check_in_id=check_in.pk)
    answer = answer_when_due(
        check_in, by=login, chest_pain=True, comments="Sharp pain when breathing in"
    )
    alert = services.acknowledge_alert(
        alert=Alert.objects.get(check_in=check_in), by=therapist, note="Called: sent to ER."
    )
    return AftercareRecord(
        template=plan.template,
        settings=settings,
        plan=plan,
        exercise=exercise,
        read=read,
        check_in=check_in,
        email=EmailAttempt.objects.get(check_in=check_in),
        answer=answer,
        alert=alert,
        note=alert.notes.get(),
    )


def signed_session(patient, *, therapist, starts_at=None, with_plan: bool = True):
    """A session of `patient` needled in the upper trapezius (2 needles) and signed at once.

    Booked for this minute, started, charted and signed now: its check-ins count
    from the signature. With `starts_at`, all of it happens with the clock moved
    to that minute (and ticking), as on that day. With `with_plan`, the therapist
    wrote additions to the plan first.
    """
    from sessions import services as session_services
    from sessions.models import Chart
    from tests.sessions.factories import RISK_MUSCLE, ready_to_needle, site_fields, started_session

    if starts_at is not None:
        with time_machine.travel(starts_at):
            return signed_session(patient, therapist=therapist, with_plan=with_plan)
    ready_to_needle(patient, by=therapist)
    session = started_session(patient=patient, therapist=therapist)
    if with_plan:
        draft_plan(session, therapist=therapist)
    session_services.add_needle_site(
        session=session, by=therapist, risk_acknowledged=True, **site_fields(muscle=RISK_MUSCLE)
    )
    session_services.save_chart(
        session=session,
        by=therapist,
        expected_version=Chart.objects.get(session=session).version,
        needles_inserted=2,
        needles_removed=2,
    )
    return session_services.sign_session(session=session, by=therapist)
