"""Aftercare's parts of other apps' pages: the session page and its confirmation before
signing, the staff patient page and the portal's home. Each says nothing to a user who may
read none of it."""

from django.template.loader import render_to_string

from aftercare import selectors
from aftercare.models import AftercarePlan, Alert
from aftercare.services import settings_of
from clinics import access
from patients.models import ReadVia, RecordPart
from patients.services import record_read
from sessions.models import Status


def session_section(request, session) -> str:
    """On a session's page: the aftercare being written, or the plan issued and its check-ins."""
    user = request.user
    if session.status not in (Status.IN_PROGRESS, Status.SIGNED) or not access.can_at(
        user,
        "view",
        AftercarePlan,
        organization=session.organization,
        clinic=session.clinic,
        patient=session.patient,
    ):
        return ""
    plan = selectors.plan_of(user, session)
    check_ins = (
        selectors.check_ins_of_session(user, session) if session.status == Status.SIGNED else []
    )
    if any(
        getattr(check_in, "answer", None) or check_in.red_flags_reported for check_in in check_ins
    ):
        record_read(
            reader=user, patient=session.patient, part=RecordPart.CHECK_IN, via=ReadVia.PAGE
        )
    return render_to_string(
        "aftercare/includes/session_section.html",
        {
            "session": session,
            "plan": plan,
            "exercises": selectors.exercises_of(user, plan),
            "check_ins": check_ins,
            "may_write": selectors.may_write_plan(user, session),
        },
        request=request,
    )


def signing_summary(request, session) -> str:
    """On the confirmation before signing: what signing issues to the patient, in a few lines
    (the plan's advice, muscles, the therapist's additions and exercises, the check-ins)."""
    user = request.user
    if session.status != Status.IN_PROGRESS or not access.can_at(
        user, "view", AftercarePlan, organization=session.organization, clinic=session.clinic
    ):
        return ""
    saved = selectors.plan_of(user, session)
    if saved is not None:  # the therapist's additions are part of the record, as on its page
        record_read(
            reader=user,
            patient=session.patient,
            part=RecordPart.AFTERCARE,
            via=ReadVia.PAGE,
            item=saved,
        )
    return render_to_string(
        "aftercare/includes/signing_summary.html",
        {
            "session": session,
            "plan": selectors.preview(session, saved),
            "exercises": selectors.exercises_of(user, saved),
            "check_in_hours": _spoken(settings_of(session.organization).check_in_hours),
            "may_write": selectors.may_write_plan(user, session),
        },
        request=request,
    )


def _spoken(numbers) -> str:
    """[24, 48, 72] reads "24, 48 and 72"."""
    words = [str(number) for number in numbers]
    return " and ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)


def patient_panel(request, patient) -> str:
    """On the staff patient page: the plans issued, whether they were read, and open alerts."""
    user = request.user
    if not access.may_use(user, Alert, "view"):
        return ""
    alerts = list(
        access.visible_to(user, Alert.objects.filter(patient=patient, resolved_at__isnull=True))
    )
    plans = (
        list(selectors.plans_of(user, patient)[:10])
        if access.may_use(user, AftercarePlan, "view")
        else []
    )
    if not alerts and not plans:
        return ""
    return render_to_string(
        "aftercare/includes/patient_panel.html",
        {"patient": patient, "alerts": alerts, "plans": plans},
        request=request,
    )


def portal_section(request, patient) -> str:
    """On the portal's home, first: check-ins to answer, then the current and earlier plans."""
    user = request.user
    current = selectors.plans_of(user, patient).first()
    earlier = list(selectors.plan_dates_of(user, patient)[1:]) if current else []
    check_ins = selectors.open_check_ins(user, patient)
    emergencies = selectors.recent_emergencies(user, patient)
    if current is None and not check_ins and not emergencies:
        return ""
    return render_to_string(
        "aftercare/includes/portal_section.html",
        {
            "patient": patient,
            "current": current,
            "earlier": earlier,
            "check_ins": check_ins,
            "emergency": emergencies[0] if emergencies else None,
        },
        request=request,
    )
