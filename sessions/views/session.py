"""One session's page: the booking, the start gate, the chart and its addenda.

Each form posts to its own URL, which calls one service and comes back to the
page; a refusal shows the page again with the typed form and the message.
"""

import datetime
import uuid
from functools import wraps

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from clinics import access
from clinics.exceptions import FasciaError
from clinics.selectors import therapists_of
from patients import safety
from patients.forms import show_error
from patients.models import ReadVia, RecordPart
from patients.selectors import clinical_status
from patients.services import record_read
from patients.views.scope import staff_page
from sessions import clock, selectors, services
from sessions.body_chart import body_chart
from sessions.exceptions import ChartConflict, SessionStateRefused
from sessions.forms import (
    CLOCK_FORMAT,
    AddendumForm,
    AdverseEventForm,
    ChartForm,
    MoveForm,
    NeedleSiteForm,
    PressurePainThresholdForm,
    RangeOfMotionForm,
    ReasonForm,
    RowForm,
    SignForm,
    StartForm,
    TemplateForm,
)
from sessions.models import (
    WAITING_FOR_THE_NEEDLE,
    AdverseEvent,
    Chart,
    ChartTemplate,
    NeedleSite,
    PressurePainThreshold,
    RangeOfMotion,
    Status,
    TreatmentSession,
)
from sessions.sections import render_sections
from sessions.vocabulary import muscles_by_region

ROWS = {
    "needle-sites": NeedleSite,
    "range-of-motion": RangeOfMotion,
    "pressure-pain-thresholds": PressurePainThreshold,
    "adverse-events": AdverseEvent,
}


ANCHORS = {
    "site_form": "site-form",
    "rom_form": "rom-form",
    "ppt_form": "ppt-form",
    "event_form": "event-form",
}
"""Where the page opens again after a row is added: at its form, ready for the next."""


def _session(request, session_id) -> TreatmentSession:
    sessions = TreatmentSession.objects.select_related(
        "clinic", "organization", "patient", "therapist", "signed_by", "started_by"
    )
    return get_object_or_404(access.visible_to(request.user, sessions), pk=session_id)


def session_page(view):
    """A page of one session: `session_id` becomes `session`, among those the user may see.

    A session elsewhere answers 404 before anything else, even a wrong method.
    """

    @staff_page
    @wraps(view)
    def page(request, session_id, **kwargs):
        return view(request, _session(request, session_id), **kwargs)

    return page


@session_page
@require_safe
def detail(request, session):
    return _page(request, session)


def _page(request, session: TreatmentSession, status: int = 200, theirs=None, **bound):
    """The session page; `bound` holds the form that was just sent back with its errors.

    `theirs` is the ChartConflict of a save refused: what the other person saved.
    """
    user = request.user
    view = selectors.chart_view(user, session)
    organization = session.organization
    may = selectors.session_actions(user, session, view)
    context = {
        "session": session,
        "view": view,
        "zone": session.clinic.timezone,
        "may_change_booking": may.change_booking,
        "may_start": may.start,
        "not_today": may.not_today,
        "may_chart": may.chart,
        "may_sign": may.sign,
        "may_add_addendum": may.add_addendum,
        "is_past_start": session.starts_at <= timezone.now(),
        "reminder": selectors.reminder_of(user, session),
        "reminder_hours": services.booking_settings_of(organization).reminder_hours,
        "theirs": [
            (str(Chart._meta.get_field(name).verbose_name).capitalize(), value)
            for name, value in _shown(theirs.changed, session.clinic.zone).items()
        ]
        if theirs is not None
        else None,
    }
    if session.status in WAITING_FOR_THE_NEEDLE:
        patient_status = clinical_status(session.patient)
        summary = safety.summary_of(
            user, session.patient, status=patient_status, clinic=session.clinic
        )
        context["safety"] = summary.for_session(session)
    if context["may_start"]:
        context["status"] = patient_status
        context["refusals"] = [
            refusal.returning_to(request.path)
            for refusal in services.start_refusals(session, status=patient_status)
        ]
        context["forms_missing"] = any(refusal.forms for refusal in context["refusals"])
        # What can be done instead: the same session without needling, when only the
        # needling stands in the way (manual therapy, exercise, education).
        context["may_start_without_needling"] = session.needling and not services.start_refusals(
            session, status=patient_status, needling=False
        )
        context["start_form"] = bound.get("start_form") or StartForm()
    if context["may_change_booking"]:
        context["cancel_form"] = bound.get("cancel_form") or ReasonForm(prefix="cancel")
        context["no_show_form"] = bound.get("no_show_form") or ReasonForm(prefix="no_show")
        if session.status == Status.BOOKED:
            local = timezone.localtime(session.starts_at, session.clinic.zone)
            context["move_form"] = bound.get("move_form") or MoveForm(
                prefix="move",
                initial={
                    "day": local.date(),
                    "time": local.time(),
                    "therapist": str(session.therapist_id),
                },
                therapists=_therapists_of(session),
            )
    if context["may_chart"]:
        chart = view.chart
        regions = muscles_by_region(session.organization_id)
        site_initial = {
            "muscle": request.GET.get("muscle", ""),
            "side": request.GET.get("side", ""),
            "lot_number": _last_lot(view),
        }
        context.update(
            # Who saves: this page load (the script replaces it with one of its own, which a
            # duplicated tab or a page from the cache never shares).
            chart_client=uuid.uuid4().hex,
            chart_saved={
                name: _as_typed(getattr(chart, name), session.clinic.zone) for name in Chart.FIELDS
            },
            chart_form=bound.get("chart_form")
            or ChartForm(
                initial={
                    "version": chart.version,
                    **{name: getattr(chart, name) for name in Chart.FIELDS},
                },
                zone=session.clinic.zone,
                needling=session.needling,
            ),
            templates=access.visible_to(
                user, ChartTemplate.objects.filter(organization=organization, is_active=True)
            ),
            site_form=bound.get("site_form")
            or NeedleSiteForm(initial=site_initial, regions=regions),
            rom_form=bound.get("rom_form") or RangeOfMotionForm(prefix="rom"),
            ppt_form=bound.get("ppt_form") or PressurePainThresholdForm(prefix="ppt"),
            event_form=bound.get("event_form") or AdverseEventForm(prefix="event"),
            body_chart=body_chart(regions, view.needle_sites),
        )
        context["template_form"] = bound.get("template_form") or TemplateForm(
            initial={"version": chart.version}, templates=context["templates"], prefix="template"
        )
        context["risky_muscles"] = " ".join(sorted(context["site_form"].risky))
    if context["may_sign"]:
        context["sign_form"] = bound.get("sign_form") or SignForm(
            initial={"version": view.chart.version}, prefix="sign"
        )
    if context["may_add_addendum"]:
        context["addendum_form"] = bound.get("addendum_form") or AddendumForm()
    if view is not None:
        record_read(
            reader=user,
            patient=session.patient,
            part=RecordPart.CHART,
            via=ReadVia.PAGE,
            item=session,
        )
    context["sections"] = render_sections(request, session)
    return render(request, "sessions/session_detail.html", context, status=status)


def _as_typed(value, zone) -> str:
    """A saved value as its field shows it, for the page's script to tell typed from saved."""
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value, zone).strftime(CLOCK_FORMAT)
    return "" if value is None else str(value)


def _shown(changed: dict, zone) -> dict:
    """What someone else saved, for a person: times on the clinic's clock."""
    return {
        name: clock.as_read(value, zone) if isinstance(value, datetime.datetime) else value
        for name, value in changed.items()
    }


def _last_lot(view) -> str:
    """The lot of the last site charted: most sessions use one box of needles."""
    return view.needle_sites[-1].lot_number if view.needle_sites else ""


def _refused(request, session, error: FasciaError | ValidationError, name: str, form):
    status = getattr(error, "status", 400)
    if isinstance(error, SessionStateRefused):
        # The session moved on (signed, cancelled): its form is gone from the page.
        messages.error(request, error.message)
        return _page(request, session, status=status)
    if isinstance(error, ChartConflict):
        # Shown again at the version now saved, so that saving again is possible.
        messages.error(request, error.message)
        if name != "chart_form":
            return _page(request, session, status=status)
        data = form.data.copy()
        data["version"] = str(error.version)
        return _page(
            request,
            session,
            status=status,
            chart_form=ChartForm(data, zone=session.clinic.zone, needling=session.needling),
            theirs=error,
        )
    if isinstance(error, FasciaError):
        error.message = readable(error, form)
    show_error(form, error)
    return _page(request, session, status=status, **{name: form})


def readable(error: FasciaError, form=None) -> str:
    """The service's message for a page: "pain_before: ..." reads "Pain before (0 to 10): ..."."""
    prefix = f"{error.field}: "
    if not error.field or not error.message.startswith(prefix):
        return error.message
    rest = error.message.removeprefix(prefix)
    field = form.fields.get(error.field) if form is not None else None
    if field is not None and not field.widget.is_hidden:
        return rest[:1].upper() + rest[1:]  # shown under the field itself
    label = field.label if field is not None else LABELS.get(error.field, error.field)
    return f"{label}: {rest}"


LABELS = {
    "needles_inserted": "Needles inserted",
    "needles_removed": "Needles removed",
    "client": "This page's client id",
}
"""Fields a refusal may name that the form sending it does not have (signing, the client id
the page sends with a save)."""


@session_page
@require_POST
def start(request, session):
    form = StartForm(request.POST)
    form.is_valid()
    try:
        services.start_session(
            session=session,
            by=request.user,
            override_reason=form.cleaned_data["override_reason"],
            # The button "Start without needling" (manual therapy, exercise, education).
            without_needling=request.POST.get("without_needling") == "yes",
        )
    except FasciaError as error:
        return _refused(request, session, error, "start_form", form)
    messages.success(request, "Session started: chart as you go, it saves itself.")
    return redirect("sessions:detail", session_id=session.pk)


@session_page
@require_POST
def cancel(request, session):
    return _with_reason(request, session, "cancel", services.cancel_session, "Cancelled.")


@session_page
@require_POST
def move(request, session):
    """Another day, time or therapist for a booked session (sessions.services.reschedule)."""
    form = MoveForm(request.POST, prefix="move", therapists=_therapists_of(session))
    if not form.is_valid():
        return _page(request, session, status=400, move_form=form)
    data = form.cleaned_data
    therapist = next(t for t in _therapists_of(session) if str(t.pk) == data["therapist"])
    try:
        services.reschedule_session(
            session=session,
            by=request.user,
            starts_at=form.starts_at(session.clinic.zone),
            therapist=therapist,
            outside_hours_reason=data["outside_hours_reason"],
        )
    except FasciaError as error:
        return _refused(request, session, error, "move_form", form)
    moved = timezone.localtime(form.starts_at(session.clinic.zone), session.clinic.zone)
    messages.success(
        request,
        f"Moved {session.patient.full_name} to {dateformat.format(moved, 'l j F, H:i')} "
        f"with {therapist.get_full_name()}.",
    )
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)  # the calendar it was moved in
    return redirect("sessions:detail", session_id=session.pk)


def _therapists_of(session) -> list:
    """The therapists of the session's clinic, its own first, for moving it."""
    others = therapists_of(clinic=session.clinic_id).exclude(pk=session.therapist_id)
    return [session.therapist, *others.order_by("full_name")]


@session_page
@require_POST
def no_show(request, session):
    return _with_reason(request, session, "no_show", services.mark_no_show, "Marked as a no-show.")


def _with_reason(request, session, prefix, service, done):
    form = ReasonForm(request.POST, prefix=prefix)
    form.is_valid()
    try:
        service(session=session, by=request.user, reason=form.cleaned_data["reason"])
    except FasciaError as error:
        return _refused(request, session, error, f"{prefix}_form", form)
    messages.success(request, done)
    return redirect("sessions:detail", session_id=session.pk)


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@session_page
@require_POST
def save_chart(request, session):
    """The chart form's Save, and its autosave (which asks for JSON)."""
    form = ChartForm(request.POST, zone=session.clinic.zone, needling=session.needling)
    if not form.is_valid():
        if _wants_json(request):
            return JsonResponse(
                {"detail": "Not saved: check the marked fields.", "fields": form.errors},
                status=400,
            )
        return _page(request, session, status=400, chart_form=form)
    try:
        chart = services.save_chart(
            session=session,
            by=request.user,
            expected_version=form.cleaned_data["version"],
            client=request.POST.get("client", ""),
            **form.changes(),
        )
    except ChartConflict as conflict:
        if _wants_json(request):
            return JsonResponse(_conflict_json(conflict, session.clinic.zone), status=409)
        return _refused(request, session, conflict, "chart_form", form)
    except FasciaError as error:
        if _wants_json(request):
            return JsonResponse(
                {"detail": readable(error, form), "field": error.field}, status=error.status
            )
        return _refused(request, session, error, "chart_form", form)
    if _wants_json(request):
        saved_at = timezone.localtime(chart.updated_at, session.clinic.zone)
        return JsonResponse(
            {
                "version": chart.version,
                "saved_at": saved_at.isoformat(),
                "saved_at_text": f"{saved_at:%H:%M}",
            }
        )
    messages.success(request, "Chart saved.")
    return redirect("sessions:detail", session_id=session.pk)


def _conflict_json(conflict: ChartConflict, zone) -> dict:
    return {
        "detail": conflict.message,
        "version": conflict.version,
        "saved_by": conflict.saved_by,
        "changed": {
            str(Chart._meta.get_field(name).verbose_name).capitalize(): value
            for name, value in _shown(conflict.changed, zone).items()
        },
    }


@session_page
@require_POST
def apply_template(request, session):
    templates = access.visible_to(
        request.user, ChartTemplate.objects.filter(organization=session.organization)
    )
    form = TemplateForm(request.POST, templates=templates, prefix="template")
    if form.is_valid():
        try:
            services.apply_template(
                session=session,
                by=request.user,
                template=templates.get(pk=form.cleaned_data["template"]),
                expected_version=form.cleaned_data["version"],
                client=request.POST.get("client", ""),
            )
        except FasciaError as error:
            return _refused(request, session, error, "template_form", form)
        messages.success(request, "Template applied to the empty fields.")
        return redirect("sessions:detail", session_id=session.pk)
    return _page(request, session, status=400, template_form=form)


def _add_row(request, session, form_class, name, service, kwargs_of, prefix=None, **extra):
    form = form_class(request.POST, prefix=prefix, **extra)
    if form.is_valid():
        try:
            service(session=session, by=request.user, **kwargs_of(form))
        except FasciaError as error:
            return _refused(request, session, error, name, form)
        return redirect(f"{session_url(session)}#{ANCHORS[name]}")
    return _page(request, session, status=400, **{name: form})


def session_url(session) -> str:
    return reverse("sessions:detail", kwargs={"session_id": session.pk})


@session_page
@require_POST
def add_needle_site(request, session):
    return _add_row(
        request,
        session,
        NeedleSiteForm,
        "site_form",
        services.add_needle_site,
        NeedleSiteForm.row,
        regions=muscles_by_region(session.organization_id),
    )


@session_page
@require_POST
def add_range_of_motion(request, session):
    return _add_row(
        request,
        session,
        RangeOfMotionForm,
        "rom_form",
        services.add_range_of_motion,
        RowForm.row,
        prefix="rom",
    )


@session_page
@require_POST
def add_pressure_pain_threshold(request, session):
    return _add_row(
        request,
        session,
        PressurePainThresholdForm,
        "ppt_form",
        services.add_pressure_pain_threshold,
        RowForm.row,
        prefix="ppt",
    )


@session_page
@require_POST
def add_adverse_event(request, session):
    return _add_row(
        request,
        session,
        AdverseEventForm,
        "event_form",
        services.add_adverse_event,
        RowForm.row,
        prefix="event",
    )


@session_page
@require_POST
def remove_row(request, session, kind, row_id):
    model = ROWS.get(kind)
    if model is None:
        raise Http404("No such part of a chart.")
    row = (
        access.visible_to(request.user, model.objects.filter(session=session))
        .filter(pk=row_id)
        .first()
    )
    if row is not None:
        try:
            services.remove_chart_row(row=row, by=request.user)
        except FasciaError as error:
            messages.error(request, error.message)
    return redirect(f"{session_url(session)}#{kind}")


@session_page
@require_POST
def sign(request, session):
    form = SignForm(request.POST, prefix="sign")
    form.is_valid()
    try:
        services.sign_session(
            session=session, by=request.user, expected_version=form.cleaned_data.get("version")
        )
    except FasciaError as error:
        return _refused(request, session, error, "sign_form", form)
    messages.success(request, "Signed. The chart is locked; corrections are addenda.")
    return redirect("sessions:detail", session_id=session.pk)


@session_page
@require_POST
def add_addendum(request, session):
    form = AddendumForm(request.POST)
    if form.is_valid():
        try:
            services.add_addendum(
                session=session,
                by=request.user,
                text=form.cleaned_data["text"],
                submission_key=form.cleaned_data["key"],
            )
        except FasciaError as error:
            return _refused(request, session, error, "addendum_form", form)
        return redirect(f"{session_url(session)}#addenda")
    return _page(request, session, status=400, addendum_form=form)
