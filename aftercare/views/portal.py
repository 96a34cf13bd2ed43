"""The patient's side: their aftercare plans, check-ins, and the link in the check-in e-mail."""

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_safe

from aftercare import selectors, services, triage
from aftercare.exceptions import CheckInAlreadyAnswered, CheckInIncomplete, CheckInLinkInvalid
from aftercare.forms import CheckInForm, anchor, as_on_the_form, show_problems, show_refusal
from aftercare.models import AftercarePlan, CheckIn, CheckInAnswer, PlanStatus
from aftercare.next_steps import emergency_steps, next_steps
from aftercare.services.check_ins import submit_check_in
from clinics import access
from clinics.exceptions import FasciaError
from patients.views.scope import portal_page


def _invalid_link(request, error: CheckInLinkInvalid):
    return render(
        request, "aftercare/portal/link_invalid.html", {"message": error.message}, status=404
    )


@require_safe
def check_in_link(request, token: str):
    """The link in the check-in e-mail: checked, then a login, then the check-in itself."""
    try:
        services.checked_link(token)
    except CheckInLinkInvalid as error:
        return _invalid_link(request, error)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        check_in = services.check_in_from_link(token, user=request.user)
    except CheckInLinkInvalid as error:
        return _invalid_link(request, error)
    return redirect("aftercare_portal:check_in", check_in.pk)


def _own_check_in(request, check_in_id) -> CheckIn:
    mine = CheckIn.objects.filter(patient__user=request.user).select_related(
        "clinic", "session__therapist"
    )
    return get_object_or_404(access.visible_to(request.user, mine), pk=check_in_id)


@portal_page
def check_in(request, patient, check_in_id):
    check_in = _own_check_in(request, check_in_id)
    answer = selectors.answer_to(request.user, check_in)
    if answer is not None or not check_in.is_open:
        return _outcome(request, check_in, answer)
    reported = check_in.red_flags_reported
    needling = check_in.session.needling
    if request.method != "POST":
        return _form(request, check_in, CheckInForm(reported=reported, needling=needling))
    form = CheckInForm(request.POST, reported=reported, needling=needling)
    form.is_valid()  # the service decides what is filed; the form says what it could read
    given = {
        name: form.cleaned_data.get(name) for name in CheckInAnswer.ANSWERS if name in form.fields
    }
    try:
        submitted = submit_check_in(
            check_in=check_in,
            by=request.user,
            submission_key=form.cleaned_data.get("submission_key"),
            **given,
        )
    except CheckInAlreadyAnswered as error:
        messages.info(request, error.message)
        return redirect("aftercare_portal:check_in", check_in.pk)
    except CheckInIncomplete as error:
        show_problems(form, error.problems)
    except FasciaError as error:
        show_refusal(form, error)
    else:
        if submitted.answer is not None or not submitted.still_to_answer:
            # Answered; or a red flag sent when the check-in was not open: the outcome
            # page shows the emergency advice.
            return redirect("aftercare_portal:check_in", check_in.pk)
        # A red flag with answers missing: filed, and the emergency advice at once. The
        # rest is asked below it, with what was typed.
        rest = CheckInForm(
            reported=submitted.check_in.red_flags_reported,
            needling=needling,
            initial={name: form.data.get(name) for name in CheckInForm.REST},
        )
        # Each question still to answer; what is wrong only with an answer given (a
        # comment too long), not with one left out.
        still = [
            (
                anchor(rest[name]),
                rest[name].label,
                as_on_the_form(problem, name) if given.get(name) is not None else "",
            )
            for name, problem in submitted.still_to_answer.items()
            if name in rest.fields
        ]
        return _form(request, submitted.check_in, rest, still_to_answer=still)
    return _form(request, check_in, form, status=400)


def _form(request, check_in: CheckIn, form: CheckInForm, status: int = 200, still_to_answer=()):
    """The check-in's questions; after a red flag, the emergency advice first."""
    reported = check_in.red_flags_reported
    return render(
        request,
        "aftercare/portal/check_in.html",
        {
            "check_in": check_in,
            "form": form,
            "clinic": check_in.clinic,
            "steps": emergency_steps(check_in) if reported else None,
            "reported": triage.assess_red_flags(reported).reasons,
            "still_to_answer": still_to_answer,
        },
        status=status,
    )


def _outcome(request, check_in: CheckIn, answer):
    """An answered check-in (with the emergency advice if it was urgent), or one not open
    (with the emergency advice if a red flag was reported on it)."""
    if answer is not None:
        steps = next_steps(answer, check_in)
    else:
        steps = emergency_steps(check_in) if check_in.red_flags_reported else None
    return render(
        request,
        "aftercare/portal/check_in_outcome.html",
        {
            "check_in": check_in,
            "clinic": check_in.clinic,
            "answer": answer,
            "steps": steps,
            "answered_at": answer.answered_at if answer else check_in.red_flags_reported_at,
            "reported": triage.assess_red_flags(check_in.red_flags_reported).reasons,
            "not_yet": answer is None and check_in.due_at > timezone.now(),
        },
    )


def _own_plan(request, plan_id) -> AftercarePlan:
    # Issued only: a login that is also staff must not see its own draft here.
    mine = AftercarePlan.objects.filter(
        patient__user=request.user, status=PlanStatus.ISSUED
    ).select_related("session__therapist", "session__clinic", "read")
    return get_object_or_404(access.visible_to(request.user, mine), pk=plan_id)


@portal_page
def plan(request, patient, plan_id):
    plan = _own_plan(request, plan_id)  # before the method: a plan elsewhere is 404 whatever it
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return render(
        request,
        "aftercare/portal/plan.html",
        {"plan": plan, "exercises": list(plan.exercises.all()), "clinic": plan.session.clinic},
    )


@portal_page
def mark_read(request, patient, plan_id):
    plan = _own_plan(request, plan_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        services.mark_plan_read(plan=plan, by=request.user)
    except FasciaError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Thank you: your therapist can see that you have read it.")
    return redirect("aftercare_portal:plan", plan.pk)
