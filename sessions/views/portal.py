"""The patient's own bookings in the portal: book a free time online, move it, cancel it.

The rules are sessions.services.online's; these pages parse what was chosen, ask
it, and show the answer. Every page is the login's own record (patients'
`portal_page`); a session that is not theirs answers 404.
"""

import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import dateformat, timezone
from django.views.decorators.http import require_http_methods, require_safe

from clinics.exceptions import FasciaError
from patients.views.scope import portal_page
from sessions.forms import OnlineCancelForm, OnlineTimeForm
from sessions.services import online


def _chosen(options, value, default=None):
    return next((option for option in options if str(option.pk) == value), default)


def _day(value: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(value or "")
    except ValueError:
        return None


def _when(moment: datetime.datetime, clinic) -> str:
    return dateformat.format(timezone.localtime(moment, clinic.zone), "l j F \\a\\t H:i")


def _times(request, patient, *, search: dict, picked: dict, confirm_url: str, moving=None):
    """The day picker and the day's free times as buttons, each leading to `confirm_url`;
    a fixed number of queries whatever the bookings. `search` is what the slots are for,
    `picked` what the page's form sends back (its hidden fields and links keep it)."""
    clinic = search["clinic"]
    offered = online.day_offered(
        _day(request.GET.get("day")), patient=patient, moving=moving, **search
    )
    day, later = offered.day, offered.later
    keep = {key: value for key, value in picked.items() if value}
    times = [
        (
            slot,
            f"{confirm_url}?"
            + urlencode(
                {**keep, "therapist": slot.therapist.pk, "starts_at": slot.starts_at.isoformat()}
            ),
        )
        for slot in offered.slots
    ]

    def day_url(other: datetime.date) -> str:
        return "?" + urlencode({**keep, "day": other.isoformat()})

    return {
        "clinic": clinic,
        "window": offered.window,
        "day": day,
        "first_day": offered.first_day,
        "last_day": offered.last_day,
        "previous_url": day_url(day - datetime.timedelta(days=1))
        if day > offered.first_day
        else "",
        "next_url": day_url(day + datetime.timedelta(days=1)) if day < offered.last_day else "",
        "later": later,
        "later_url": day_url(timezone.localdate(later.starts_at, clinic.zone)) if later else "",
        "blockers": offered.blockers,
        "times": times,
        "picked": keep,
    }


def _search(request, patient):
    """What the patient chose on the booking page: the type, the clinic, the therapist (any)."""
    types = online.online_types(patient.organization)
    kind = _chosen(types, request.GET.get("appointment_type"))
    if kind is None and len(types) == 1:
        kind = types[0]
    clinics = online.online_clinics(patient)
    clinic = _chosen(clinics, request.GET.get("clinic"), clinics[0] if clinics else None)
    therapists = online.online_therapists(clinic, kind) if kind and clinic else []
    therapist = _chosen(therapists, request.GET.get("therapist"))
    return types, kind, clinics, clinic, therapists, therapist


@portal_page
@require_safe
def book(request, patient):
    """Book a session: what for, where, with whom (or anyone), then a free time of a day."""
    types, kind, clinics, clinic, therapists, therapist = _search(request, patient)
    context = {
        "patient": patient,
        "types": types,
        "kind": kind,
        "clinics": clinics,
        "clinic": clinic or patient.home_clinic,
        "therapists": therapists,
        "therapist": therapist,
    }
    if kind is not None and clinic is not None:
        context |= _times(
            request,
            patient,
            search={"clinic": clinic, "appointment_type": kind, "therapist": therapist},
            picked={
                "appointment_type": kind.pk,
                "clinic": clinic.pk,
                "therapist": getattr(therapist, "pk", ""),
            },
            confirm_url=reverse("sessions_portal:book_confirm"),
        )
    return render(request, "sessions/portal/book.html", context)


def _time_chosen(request, patient, data, *, clinic=None, kind=None):
    """The clinic, type, therapist and time a confirm form names (the patient's organisation's;
    the service says when they are not booked online); None when it names none of them."""
    form = OnlineTimeForm(data)
    if not form.is_valid():
        return None
    chosen = form.cleaned_data
    clinic = clinic or _chosen(online.online_clinics(patient), str(chosen["clinic"]))
    kind = kind or online.type_of(patient.organization, chosen["appointment_type"])
    if clinic is None or kind is None:
        return None
    therapist = online.therapist_at(clinic, chosen["therapist"])
    if therapist is None:
        return None
    return {
        "clinic": clinic,
        "appointment_type": kind,
        "therapist": therapist,
        "starts_at": chosen["starts_at"],
        "key": chosen["key"],
    }


@portal_page
@require_http_methods(["GET", "HEAD", "POST"])
def book_confirm(request, patient):
    """The chosen time with its details and a Book button; booking it."""
    data = request.POST if request.method == "POST" else request.GET
    chosen = _time_chosen(request, patient, data)
    if chosen is None:
        messages.error(request, "Choose one of the free times.")
        return redirect("sessions_portal:book")
    key = chosen.pop("key")
    back = (
        reverse("sessions_portal:book")
        + "?"
        + urlencode(
            {
                "appointment_type": chosen["appointment_type"].pk,
                "clinic": chosen["clinic"].pk,
                "day": timezone.localdate(chosen["starts_at"], chosen["clinic"].zone).isoformat(),
            }
        )
    )
    if request.method == "POST":
        try:
            session = online.book_online(
                user=request.user, patient=patient, submission_key=key, **chosen
            )
        except online.SlotTaken as taken:
            return _taken_again(request, taken, back)
        except FasciaError as error:
            return _confirm_page(request, patient, chosen, back=back, refusal=error)
        messages.success(
            request,
            f"Booked: {session.appointment_type.name}, {_when(session.starts_at, session.clinic)}"
            f" with {session.therapist.get_full_name()} at {session.clinic.name}.",
        )
        return redirect("portal:home")
    return _confirm_page(request, patient, chosen, back=back)


def _taken_again(request, taken, back: str):
    """The time was taken between the list and the button: say so, and show the day's free
    times now."""
    messages.error(request, taken.message)
    return redirect(back)


def _confirm_page(request, patient, chosen, *, back: str, session=None, refusal=None):
    if refusal is None:
        try:
            online.check_time(patient=patient, **chosen)
        except FasciaError as error:
            refusal = error
    form = OnlineTimeForm(
        initial={
            "appointment_type": chosen["appointment_type"].pk,
            "clinic": chosen["clinic"].pk,
            "therapist": chosen["therapist"].pk,
            "starts_at": chosen["starts_at"].isoformat(),
        }
    )
    return render(
        request,
        "sessions/portal/confirm.html",
        {
            **chosen,
            "ends_at": chosen["starts_at"]
            + datetime.timedelta(minutes=chosen["appointment_type"].minutes),
            "form": form,
            "session": session,
            "refusal": refusal,
            "blockers": getattr(refusal, "blockers", []),
            "back_url": back,
        },
        status=refusal.status if refusal is not None and request.method == "POST" else 200,
    )


def _own(request, patient, session_id):
    return get_object_or_404(online.own_sessions(request.user, patient), pk=session_id)


@portal_page
def move(request, patient, session_id):
    """Another free time for an own booking: the day picker and the day's free times."""
    session = _own(request, patient, session_id)  # another's is not found, whatever the method
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    context = {"session": session, "refusal": online.move_refusal(session)}
    if not context["refusal"]:
        therapists = online.online_therapists(session.clinic, session.appointment_type)
        therapist = _chosen(therapists, request.GET.get("therapist"))
        context |= {"therapists": therapists, "therapist": therapist}
        context |= _times(
            request,
            patient,
            search={
                "clinic": session.clinic,
                "appointment_type": session.appointment_type,
                "therapist": therapist,
            },
            picked={"therapist": getattr(therapist, "pk", "")},
            confirm_url=reverse("sessions_portal:move_confirm", args=[session.pk]),
            moving=session,
        )
    return render(request, "sessions/portal/move.html", context)


@portal_page
@require_http_methods(["GET", "HEAD", "POST"])
def move_confirm(request, patient, session_id):
    session = _own(request, patient, session_id)
    back = reverse("sessions_portal:move", args=[session.pk])
    refusal = online.move_refusal(session)
    if refusal:
        messages.error(request, refusal)
        return redirect(back)
    data = request.POST if request.method == "POST" else request.GET
    chosen = _time_chosen(
        request, patient, data, clinic=session.clinic, kind=session.appointment_type
    )
    if chosen is None:
        messages.error(request, "Choose one of the free times.")
        return redirect(back)
    chosen.pop("key")
    day = timezone.localdate(chosen["starts_at"], session.clinic.zone).isoformat()
    back = f"{back}?{urlencode({'day': day})}"
    if request.method == "POST":
        try:
            moved = online.move_online(
                user=request.user,
                session=session,
                starts_at=chosen["starts_at"],
                therapist=chosen["therapist"],
            )
        except online.SlotTaken as taken:
            return _taken_again(request, taken, back)
        except FasciaError as error:
            return _confirm_page(
                request, patient, chosen, back=back, session=session, refusal=error
            )
        messages.success(
            request,
            f"Moved: {moved.appointment_type.name} is now {_when(moved.starts_at, moved.clinic)}"
            f" with {moved.therapist.get_full_name()} at {moved.clinic.name}.",
        )
        return redirect("portal:home")
    return _confirm_page(request, patient, chosen, back=back, session=session)


@portal_page
@require_http_methods(["GET", "HEAD", "POST"])
def cancel(request, patient, session_id):
    """Cancel an own booking, after a page that says whether it will be recorded as late."""
    session = _own(request, patient, session_id)
    form = OnlineCancelForm(request.POST or None)
    refusal = None
    if request.method == "POST" and form.is_valid():
        try:
            cancelled = online.cancel_online(
                user=request.user, session=session, reason=form.cleaned_data["reason"]
            )
        except FasciaError as error:
            refusal = error
        else:
            late = " It is recorded as a late cancellation." if cancelled.cancelled_late else ""
            messages.success(
                request,
                f"Cancelled: your session {_when(cancelled.starts_at, cancelled.clinic)} with "
                f"{cancelled.therapist.get_full_name()}.{late}",
            )
            return redirect("portal:home")
    return render(
        request,
        "sessions/portal/cancel.html",
        {
            "session": session,
            "form": form,
            "late": online.cancel_is_late(session),
            "notice_hours": online.window_of(session.organization).notice_hours,
            "started": session.starts_at <= timezone.now(),
            "refusal": refusal,
        },
        status=refusal.status if refusal is not None else 200,
    )
