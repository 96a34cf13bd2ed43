"""Aftercare templates, the organisation's settings, and each session's plan."""

import uuid

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from aftercare import defaults
from aftercare.exceptions import AftercareInvalid, NotPermitted, PlanIssued, SubmissionKeyReused
from aftercare.models import (
    AftercarePlan,
    AftercareSettings,
    AftercareTemplate,
    HeatOrIce,
    PlanExercise,
    PlanRead,
    PlanStatus,
)
from clinics import access
from clinics.models import Organization
from sessions.exceptions import SessionStateRefused
from sessions.models import NeedleSite, Status, TreatmentSession

TEXT_LIMIT = 10_000
"""The longest free text a plan field takes; a paste of a whole document is a mistake."""

PLAN_FIELDS = ("heat_or_ice", "activity_limits", "next_visit", "other_advice")


def _versions(organization: Organization, needling: bool):
    return AftercareTemplate.objects.filter(organization=organization, needling=needling)


def current_template(organization: Organization, *, needling: bool = True) -> AftercareTemplate:
    """The newest version of the advice for sessions with dry needling (`needling=False`:
    without); an organisation's first use creates version 1 from the defaults."""
    latest = _versions(organization, needling).order_by("-version").first()
    if latest is not None:
        return latest
    title, body = (
        (defaults.ADVICE_TITLE, defaults.ADVICE_BODY)
        if needling
        else (defaults.WITHOUT_NEEDLING_TITLE, defaults.WITHOUT_NEEDLING_BODY)
    )
    try:
        with transaction.atomic():
            return _publish(
                organization=organization, by=None, title=title, body=body, needling=needling
            )
    except IntegrityError:  # another request created version 1 a moment ago
        return _versions(organization, needling).get(version=1)


@transaction.atomic
def publish_template(
    *, organization: Organization, by, title: str, body: str, needling: bool = True
) -> AftercareTemplate:
    """A new version of the advice for sessions with dry needling (`needling=False`: of those
    without). Plans already issued keep the text they were issued with."""
    if not access.can_add(by, AftercareTemplate, organization=organization):
        raise NotPermitted("Only an organisation admin can publish aftercare advice.")
    return _publish(organization=organization, by=by, title=title, body=body, needling=needling)


def _publish(*, organization, by, title: str, body: str, needling: bool) -> AftercareTemplate:
    # Browsers send a textarea's lines with CRLF: the same text is the same version.
    title, body = (title or "").strip(), (body or "").replace("\r\n", "\n").strip()
    if not title:
        raise AftercareInvalid("title: give the advice a title.", field="title")
    if len(title) > 200:
        raise AftercareInvalid("title: at most 200 characters.", field="title")
    if not body:
        raise AftercareInvalid("body: write the advice.", field="body")
    _check_length("body", body)
    # Publishing locks the organisation's row, so two versions never get one number.
    Organization.objects.select_for_update().get(pk=organization.pk)
    latest = _versions(organization, needling).order_by("-version").first()
    if latest is not None and (latest.title, latest.body) == (title, body):
        return latest  # the same text again (a double click) is the same version
    return AftercareTemplate.objects.create(
        organization=organization,
        needling=needling,
        version=(latest.version + 1) if latest else 1,
        title=title,
        body=body,
        published_by=by,
    )


def settings_of(organization: Organization) -> AftercareSettings:
    """The organisation's settings; the defaults (unsaved) until an admin saves them."""
    saved = AftercareSettings.objects.filter(organization=organization).first()
    return saved or AftercareSettings(organization=organization)


@transaction.atomic
def save_settings(
    *, organization: Organization, by, check_in_hours: list[int], escalate_after_minutes: int
) -> AftercareSettings:
    """Check-in times apply to sessions signed from now on; those already scheduled keep theirs."""
    if not access.can_at(by, "change", AftercareSettings, organization=organization):
        raise NotPermitted("Only an organisation admin can change the aftercare settings.")
    try:
        hours = sorted({int(hour) for hour in check_in_hours})
    except (TypeError, ValueError):
        raise AftercareInvalid(
            "check_in_hours: give whole hours, such as 24, 48, 72.", field="check_in_hours"
        ) from None
    if not 1 <= len(hours) <= 6:
        raise AftercareInvalid(
            "check_in_hours: ask between one and six check-ins.", field="check_in_hours"
        )
    if hours[0] < 1 or hours[-1] > 14 * 24:
        raise AftercareInvalid(
            "check_in_hours: each check-in is 1 to 336 hours (14 days) after the session.",
            field="check_in_hours",
        )
    settings, _ = AftercareSettings.objects.select_for_update().get_or_create(
        organization=organization
    )
    settings.check_in_hours = hours
    settings.escalate_after_minutes = escalate_after_minutes
    try:
        settings.full_clean(exclude=["organization"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise AftercareInvalid(f"{field}: {messages[0]}", field=field) from None
    settings.save()
    return settings


def _check_length(field: str, text: str) -> None:
    if len(text) > TEXT_LIMIT:
        raise AftercareInvalid(
            f"{field}: at most {TEXT_LIMIT:,} characters; this is {len(text):,}.", field=field
        )


def _draft_for_change(session: TreatmentSession, by) -> AftercarePlan:
    """The session's draft plan, locked, for a user allowed to change it."""
    session = (
        TreatmentSession.objects.select_for_update(of=("self",))
        .select_related("clinic", "organization")
        .get(pk=session.pk)
    )
    if not access.can(by, "view", session) or not access.can_at(
        by, "change", AftercarePlan, organization=session.organization, clinic=session.clinic
    ):
        raise NotPermitted("Your role does not allow you to write this session's aftercare.")
    if session.status == Status.SIGNED:
        raise PlanIssued(
            "The session is signed and its aftercare plan was issued to the patient: "
            "it cannot change."
        )
    if session.status != Status.IN_PROGRESS:
        raise SessionStateRefused(
            "Aftercare is written while the session is charted: start the session first."
        )
    plan, _ = AftercarePlan.objects.get_or_create(
        session=session,
        defaults={
            "organization_id": session.organization_id,
            "clinic_id": session.clinic_id,
            "patient_id": session.patient_id,
        },
    )
    return AftercarePlan.objects.select_for_update().get(pk=plan.pk)


@transaction.atomic
def save_plan(*, session: TreatmentSession, by, **changes) -> AftercarePlan:
    """Save the therapist's additions to the session's plan, before the session is signed."""
    unknown = set(changes) - set(PLAN_FIELDS)
    if unknown:
        raise TypeError(f"unexpected fields: {', '.join(sorted(unknown))}")
    plan = _draft_for_change(session, by)
    for field, value in changes.items():
        value = (value or "").strip()
        if field == "heat_or_ice" and value not in HeatOrIce.values:
            raise AftercareInvalid(
                f"heat_or_ice: choose one of {', '.join(v for v in HeatOrIce.values if v)}, "
                "or leave it empty.",
                field=field,
            )
        if field == "next_visit" and len(value) > 200:
            raise AftercareInvalid("next_visit: at most 200 characters.", field=field)
        _check_length(field, value)
        setattr(plan, field, value)
    plan.updated_at, plan.updated_by = timezone.now(), by
    plan.save()
    return plan


@transaction.atomic
def add_exercise(
    *,
    session: TreatmentSession,
    by,
    name: str,
    frequency: str,
    sets: int | None = None,
    reps: int | None = None,
    hold_seconds: int | None = None,
    notes: str = "",
    submission_key: uuid.UUID | None = None,
) -> PlanExercise:
    """Add a home stretch or exercise to the plan. The same submission key again is one row."""
    plan = _draft_for_change(session, by)
    exercise = PlanExercise(
        organization_id=plan.organization_id,
        plan=plan,
        name=(name or "").strip(),
        frequency=(frequency or "").strip(),
        sets=sets,
        reps=reps,
        hold_seconds=hold_seconds,
        notes=(notes or "").strip(),
        submission_key=submission_key,
    )
    if submission_key is not None:
        earlier = PlanExercise.objects.filter(
            organization_id=plan.organization_id, submission_key=submission_key
        ).first()
        if earlier is not None:
            if _exercise_details(earlier) != _exercise_details(exercise):
                raise SubmissionKeyReused()
            return earlier
    try:
        exercise.full_clean(exclude=["organization", "plan", "submission_key"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise AftercareInvalid(f"{field}: {messages[0]}", field=field) from None
    _check_length("notes", exercise.notes)
    last = plan.exercises.aggregate(last=Max("position"))["last"]
    exercise.position = 0 if last is None else last + 1
    exercise.save()
    plan.updated_at, plan.updated_by = timezone.now(), by
    plan.save(update_fields=["updated_at", "updated_by"])
    return exercise


def _exercise_details(exercise: PlanExercise) -> tuple:
    return (
        exercise.plan_id,
        exercise.name,
        exercise.frequency,
        exercise.sets,
        exercise.reps,
        exercise.hold_seconds,
        exercise.notes,
    )


@transaction.atomic
def remove_exercise(*, exercise: PlanExercise, by) -> None:
    """Take an exercise off a draft plan. Removing one already gone changes nothing."""
    plan = exercise.plan
    _draft_for_change(plan.session, by)
    PlanExercise.objects.filter(pk=exercise.pk).delete()


def needled_muscles(session: TreatmentSession) -> list[str]:
    """The muscles needled in the session, as charted, each once, in the order charted."""
    seen: dict[str, None] = {}
    for site in NeedleSite.objects.filter(session=session).order_by("recorded_at", "id"):
        seen.setdefault(str(site), None)
    return list(seen)


def issue_plan(*, session: TreatmentSession, by) -> AftercarePlan:
    """Issue the session's plan to the patient: called in the signing transaction.

    Freezes the organisation's current advice and the muscles needled beside
    the therapist's additions, and schedules the check-ins. A session without
    needling gets the advice for sessions without needling: nothing about
    needle sites or a pneumothorax. Issuing again returns the plan already
    issued.
    """
    from aftercare.services.check_ins import schedule_check_ins

    plan, _ = AftercarePlan.objects.get_or_create(
        session=session,
        defaults={
            "organization_id": session.organization_id,
            "clinic_id": session.clinic_id,
            "patient_id": session.patient_id,
        },
    )
    plan = AftercarePlan.objects.select_for_update().get(pk=plan.pk)
    if plan.is_issued:
        return plan
    template = current_template(session.organization, needling=session.needling)
    plan.template, plan.template_version = template, template.version
    plan.title, plan.advice = template.title, template.body
    plan.needled_muscles = needled_muscles(session)
    plan.status = PlanStatus.ISSUED
    plan.issued_at, plan.issued_by = session.signed_at or timezone.now(), by
    plan.save()
    schedule_check_ins(session=session, signed_at=plan.issued_at)
    return plan


@transaction.atomic
def mark_plan_read(*, plan: AftercarePlan, by) -> PlanRead:
    """The patient says they have read the plan. Only the first time is kept."""
    plan = AftercarePlan.objects.select_related("patient").get(pk=plan.pk)
    if (
        plan.patient.user_id != by.pk
        or not access.can(by, "view", plan)
        or not access.can_at(
            by, "add", PlanRead, organization=plan.organization, owner=plan.patient.user
        )
    ):
        raise NotPermitted("Only the patient marks their aftercare plan as read.")
    if not plan.is_issued:
        raise PlanIssued("This plan has not been issued yet.")
    receipt, _ = PlanRead.objects.get_or_create(
        plan=plan, defaults={"organization_id": plan.organization_id, "read_by": by}
    )
    return receipt
