"""A session's aftercare plan on the clinic's side: written and previewed before signing,
then the plan as issued, whether the patient read it, and the check-ins."""

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from aftercare import selectors, services
from aftercare.forms import ExerciseForm, PlanForm, show_refusal
from aftercare.models import AftercarePlan, PlanExercise
from clinics import access
from clinics.exceptions import FasciaError, NotPermitted
from patients.models import ReadVia, RecordPart
from patients.services import record_read
from patients.views.scope import refuse
from sessions.models import Status, TreatmentSession
from sessions.views.session import session_page


def _may_read(request, session: TreatmentSession) -> bool:
    return access.can_at(
        request.user,
        "view",
        AftercarePlan,
        organization=session.organization,
        clinic=session.clinic,
        patient=session.patient,
    )


@session_page
def plan(request, session: TreatmentSession):
    if not _may_read(request, session):
        return refuse(request, "A session's aftercare is read by clinical staff.")
    if request.method == "POST":
        return _save(request, session)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "POST"])
    return _show(request, session)


def _show(request, session, *, plan_form=None, exercise_form=None, status=200):
    user = request.user
    saved = selectors.plan_of(user, session)
    editable = selectors.may_write_plan(user, session)
    shown = saved if saved is not None and saved.is_issued else selectors.preview(session, saved)
    context = {
        "session": session,
        "plan": shown,
        "issued": saved is not None and saved.is_issued,
        "read": getattr(saved, "read", None) if saved is not None else None,
        "exercises": selectors.exercises_of(user, saved),
        "check_ins": selectors.check_ins_of_session(user, session),
        "editable": editable,
        "signed": session.status == Status.SIGNED,
    }
    if editable:
        context["plan_form"] = plan_form or PlanForm(instance=saved)
        context["exercise_form"] = exercise_form or ExerciseForm()
    if saved is not None:
        record_read(
            reader=user,
            patient=session.patient,
            part=RecordPart.AFTERCARE,
            via=ReadVia.PAGE,
            item=saved,
        )
    return render(request, "aftercare/plan.html", context, status=status)


def _save(request, session):
    form = PlanForm(request.POST)
    if _saved_additions(request, session, form):
        messages.success(request, "Aftercare saved: the preview below is what signing issues.")
        return redirect("aftercare:plan", session.pk)
    return _show(request, session, plan_form=form, status=400)


def _saved_additions(request, session, form: PlanForm) -> bool:
    """Save what the additions form holds; the exercise buttons send it too, so that nothing
    typed there is lost. False (with the errors on `form`) when it cannot be saved."""
    if not form.is_valid():
        return False
    try:
        services.save_plan(session=session, by=request.user, **form.cleaned_data)
    except FasciaError as error:
        show_refusal(form, error)
        return False
    return True


@session_page
def add_exercise(request, session: TreatmentSession):
    if not _may_read(request, session):
        return refuse(request, "A session's aftercare is written by clinical staff.")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    plan_form = PlanForm(request.POST)
    if "activity_limits" in request.POST and not _saved_additions(request, session, plan_form):
        return _show(
            request,
            session,
            plan_form=plan_form,
            exercise_form=ExerciseForm(request.POST),
            status=400,
        )
    form = ExerciseForm(request.POST)
    if form.is_valid():
        try:
            services.add_exercise(session=session, by=request.user, **form.cleaned_data)
        except FasciaError as error:
            show_refusal(form, error)
        else:
            messages.success(request, f"Added: {form.cleaned_data['name']}.")
            return redirect(_exercises_anchor(session))
    return _show(request, session, exercise_form=form, status=400)


@session_page
def remove_exercise(request, session: TreatmentSession, exercise_id):
    exercise = get_object_or_404(
        access.visible_to(request.user, PlanExercise.objects.filter(plan__session=session)),
        pk=exercise_id,
    )
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    plan_form = PlanForm(request.POST)
    if "activity_limits" in request.POST and not _saved_additions(request, session, plan_form):
        return _show(request, session, plan_form=plan_form, status=400)
    try:
        services.remove_exercise(exercise=exercise, by=request.user)
    except NotPermitted as error:
        return refuse(request, error.message)
    except FasciaError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Removed: {exercise.name}.")
    return redirect(_exercises_anchor(session))


def _exercises_anchor(session) -> str:
    return reverse("aftercare:plan", args=[session.pk]) + "#exercises"
