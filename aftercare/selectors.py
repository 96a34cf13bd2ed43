"""Reads of aftercare that several pages and the API share, scoped by clinics.access."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone

from aftercare import triage
from aftercare.models import (
    AftercarePlan,
    Alert,
    AlertNote,
    CheckIn,
    CheckInAnswer,
    PlanExercise,
    PlanStatus,
    Triage,
)
from clinics import access
from clinics.models import Clinic

RESOLVED_SHOWN_FOR = timedelta(days=14)
"""How long a resolved alert stays on the clinic's list."""


def plans_of(user, patient) -> QuerySet:
    """The patient's issued plans, newest first, with their exercises and read receipts."""
    return (
        access.visible_to(user, AftercarePlan.objects.filter(patient=patient))
        .filter(status=PlanStatus.ISSUED)
        .select_related("session__therapist", "session__clinic", "read")
        .prefetch_related(
            Prefetch("exercises", queryset=access.visible_to(user, PlanExercise.objects.all()))
        )
        .order_by("-issued_at")
    )


def plan_dates_of(user, patient) -> QuerySet:
    """The patient's issued plans, newest first, as their ids and the start of their sessions
    only: the portal links the earlier ones by date and builds only the current one."""
    return (
        access.visible_to(user, AftercarePlan.objects.filter(patient=patient))
        .filter(status=PlanStatus.ISSUED)
        .order_by("-issued_at")
        .values("pk", starts_at=F("session__starts_at"))
    )


def check_ins_of(user, patient) -> QuerySet:
    """The patient's check-ins, soonest due last, with their answers where `user` reads them."""
    return (
        access.visible_to(user, CheckIn.objects.filter(patient=patient))
        .select_related("session", "clinic")
        .prefetch_related(
            Prefetch("answer", queryset=access.visible_to(user, CheckInAnswer.objects.all()))
        )
        .order_by("-due_at")
    )


EMERGENCY_SHOWN_FOR = timedelta(days=3)
"""How long the portal's home repeats the emergency advice after an urgent answer."""


@dataclass(frozen=True)
class Emergency:
    """An urgent answer, or red flags reported before the rest: what the portal repeats."""

    check_in: CheckIn
    answered_at: datetime
    """When the patient told us."""
    triage_reasons: list[str]

    @property
    def check_in_id(self):
        return self.check_in.pk


def recent_emergencies(user, patient) -> list[Emergency]:
    """The patient's urgent answers and red flags of the last days, newest first: the portal
    repeats the emergency advice until then. Two queries, however many."""
    since = timezone.now() - EMERGENCY_SHOWN_FOR
    answers = access.visible_to(user, CheckInAnswer.objects.filter(triage=Triage.URGENT))
    check_ins = (
        access.visible_to(user, CheckIn.objects.filter(patient=patient))
        .filter(
            Q(red_flags_reported_at__gte=since)
            | Q(answer__triage=Triage.URGENT, answer__answered_at__gte=since)
        )
        .select_related("clinic")
        .prefetch_related(Prefetch("answer", queryset=answers))
    )
    shown = []
    for check_in in check_ins:
        answer = getattr(check_in, "answer", None)
        if answer is not None and answer.answered_at >= since:
            shown.append(Emergency(check_in, answer.answered_at, answer.triage_reasons))
        elif check_in.red_flags_reported_at is not None:
            reasons = triage.assess_red_flags(check_in.red_flags_reported).reasons
            shown.append(Emergency(check_in, check_in.red_flags_reported_at, list(reasons)))
    return sorted(shown, key=lambda emergency: emergency.answered_at, reverse=True)


def answer_to(user, check_in: CheckIn) -> CheckInAnswer | None:
    return access.visible_to(user, CheckInAnswer.objects.filter(check_in=check_in)).first()


def open_check_ins(user, patient) -> list[CheckIn]:
    """Check-ins the patient can answer now, oldest first."""
    now = timezone.now()
    return list(
        access.visible_to(user, CheckIn.objects.filter(patient=patient))
        .filter(due_at__lte=now, closes_at__gt=now, answer__isnull=True)
        .select_related("clinic", "session")
        .order_by("due_at")
    )


def alerts_of(user, clinic: Clinic | None = None) -> QuerySet:
    """The alerts of every site `user` may see (of `clinic` only, when given): open ones
    (urgent first, newest first), then those resolved lately. One query, with their sites."""
    alerts = Alert.objects.all() if clinic is None else Alert.objects.filter(clinic=clinic)
    return (
        access.visible_to(user, alerts)
        .exclude(resolved_at__lt=timezone.now() - RESOLVED_SHOWN_FOR)
        .select_related("clinic", "patient", "therapist", "acknowledged_by", "resolved_by")
    )


def alerts_at(user, clinic: Clinic) -> QuerySet:
    """The clinic's alerts, as alerts_of lists them."""
    return alerts_of(user, clinic)


def alert_sites(user) -> list[Clinic]:
    """The sites whose alerts `user` sees: what the alert list filters by."""
    return list(access.clinics_for(user, Alert, "view").order_by("organization__name", "name"))


def open_alert_count(user, clinic: Clinic | None = None) -> dict[str, int]:
    """Open alerts the user can see (at `clinic`, or at every site of theirs), by level,
    urgent ones counted until acknowledged: the header's reminder of what needs someone
    now, as the alert list (all their sites) shows it."""
    counts = {"urgent": 0, "alert": 0}
    rows = Alert.objects.filter(resolved_at__isnull=True)
    if clinic is not None:
        rows = rows.filter(clinic=clinic)
    rows = access.visible_to(user, rows)
    for level, acknowledged in rows.values_list("level", "acknowledged_at").order_by():
        if level == "alert" or acknowledged is None:
            counts[level] += 1
    return counts


@dataclass(frozen=True)
class AlertView:
    """An alert as one user may see it: the answers and notes only for clinical roles."""

    alert: Alert
    answer: CheckInAnswer | None
    notes: list[AlertNote]
    may_act: bool
    red_flags: list[str]
    """Red flags the patient reported before the rest of the answers; empty for the front
    desk, and when none were."""
    red_flags_reported_at: datetime | None


def alert_view(user, alert: Alert) -> AlertView:
    answer = (
        access.visible_to(user, CheckInAnswer.objects.filter(check_in_id=alert.check_in_id))
        .select_related("check_in")
        .first()
    )
    notes = list(
        access.visible_to(user, AlertNote.objects.filter(alert=alert)).select_related("written_by")
    )
    check_in = (
        access.visible_to(user, CheckIn.objects.filter(pk=alert.check_in_id))
        .only("red_flags_reported_at", "chest_pain_reported", "short_of_breath_reported")
        .first()
    )
    reported = check_in.red_flags_reported if check_in is not None else []
    return AlertView(
        alert=alert,
        answer=answer,
        notes=notes,
        may_act=access.can(user, "change", alert),
        red_flags=list(triage.assess_red_flags(reported).reasons),
        red_flags_reported_at=check_in.red_flags_reported_at if reported else None,
    )


def plan_of(user, session) -> AftercarePlan | None:
    """The session's plan (draft or issued) if `user` may read it."""
    return (
        access.visible_to(user, AftercarePlan.objects.filter(session=session))
        .select_related("read", "issued_by")
        .first()
    )


def preview(session, draft: AftercarePlan | None) -> AftercarePlan:
    """What signing would issue now: the draft's additions with today's advice and muscles.

    An unsaved copy, for showing only.
    """
    from aftercare.services import current_template, needled_muscles

    template = current_template(session.organization, needling=session.needling)
    shown = AftercarePlan(
        organization_id=session.organization_id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        session=session,
    )
    if draft is not None:
        for field in ("heat_or_ice", "activity_limits", "next_visit", "other_advice"):
            setattr(shown, field, getattr(draft, field))
        shown.pk = draft.pk
    shown.title, shown.advice = template.title, template.body
    shown.template_version = template.version
    shown.needled_muscles = needled_muscles(session)
    return shown


def may_write_plan(user, session) -> bool:
    """Does the session's page offer `user` the plan's form? The same rule as
    services.save_plan, which refuses anyone else: the session in progress, and
    a clinical role at its clinic."""
    from sessions.models import Status

    return session.status == Status.IN_PROGRESS and access.can_at(
        user, "change", AftercarePlan, organization=session.organization, clinic=session.clinic
    )


def exercises_of(user, plan: AftercarePlan | None) -> list[PlanExercise]:
    if plan is None:
        return []
    return list(access.visible_to(user, PlanExercise.objects.filter(plan=plan)))


def check_ins_of_session(user, session) -> list[CheckIn]:
    """The session's check-ins in order, with their answers where `user` reads them."""
    return list(
        access.visible_to(user, CheckIn.objects.filter(session=session))
        .prefetch_related(
            Prefetch("answer", queryset=access.visible_to(user, CheckInAnswer.objects.all()))
        )
        .order_by("due_at")
    )


OUTCOME_HOURS = 48
"""The check-in whose pain score is the session's outcome on the progress chart."""
OUTCOME_WINDOW = (36, 60)
"""Only a check-in between these hours counts as "2 days after"; none, no point."""


def pain_after_check_in(user, sessions) -> dict:
    """{session id: the pain the patient reported at the check-in nearest 48 h} (one query)."""
    answers = access.visible_to(
        user,
        CheckInAnswer.objects.filter(
            check_in__session__in=list(sessions),
            check_in__hours_after__range=OUTCOME_WINDOW,
        ),
    ).values_list("check_in__session_id", "check_in__hours_after", "pain")
    nearest: dict = {}
    for session_id, hours, pain in answers:
        distance = abs(hours - OUTCOME_HOURS)
        if session_id not in nearest or distance < nearest[session_id][0]:
            nearest[session_id] = (distance, pain)
    return {session_id: pain for session_id, (_, pain) in nearest.items()}
