"""The day's sessions at a clinic, and booking one."""

import datetime
import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from clinics import access
from clinics.exceptions import FasciaError
from clinics.models import Role
from clinics.selectors import current_clinic, therapists_of
from patients import safety
from patients import selectors as patient_selectors
from patients.forms import show_error
from patients.models import Patient, ReadVia, RecordPart
from patients.services import record_reads, record_reads_of
from patients.views.scope import refuse, staff_page
from sessions import calendar, selectors, services
from sessions.forms import BookForm
from sessions.models import WAITING_FOR_THE_NEEDLE, AppointmentType, TreatmentSession


def _day(request, clinic) -> datetime.date:
    try:
        return datetime.date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        return timezone.localdate(timezone=clinic.zone)


@staff_page
def day_list(request):
    """The sessions of one day at the current clinic: the therapist's working list."""
    clinic = current_clinic(request)
    if clinic is None:
        return render(request, "sessions/day_list.html", {"clinic": None})
    day = _day(request, clinic)
    mine = request.GET.get("mine") == "1"
    sessions = list(
        selectors.sessions_on(
            request.user, clinic=clinic, day=day, therapist=request.user if mine else None
        )
    )
    waiting = [session.patient for session in sessions if session.status in WAITING_FOR_THE_NEEDLE]
    summaries = safety.summaries_for(request.user, waiting, clinic=clinic)
    record_reads_of(reader=request.user, rows=sessions, part=RecordPart.LIST, via=ReadVia.PAGE)
    return render(
        request,
        "sessions/day_list.html",
        {
            "clinic": clinic,
            "day": day,
            "today": timezone.localdate(timezone=clinic.zone),
            "previous_day": day - datetime.timedelta(days=1),
            "next_day": day + datetime.timedelta(days=1),
            "mine": mine,
            "rows": [
                (
                    session,
                    summaries[session.patient_id].for_session(session).marks
                    if session.patient_id in summaries
                    else None,
                )
                for session in sessions
            ],
            "may_book": _may_book(request.user, clinic),
        },
    )


@staff_page
def book(request):
    """Book a session: find the patient first (the patient list's search), then the rest.
    Only the patients shown are read, never the whole directory."""
    user = request.user
    clinic = current_clinic(request)
    if clinic is None or not access.can_add(
        user, TreatmentSession, organization=clinic.organization, clinic=clinic
    ):
        return refuse(request, "Your role does not allow you to book sessions at this clinic.")
    patients = access.visible_to(user, Patient.objects.filter(organization=clinic.organization))
    patient = _chosen(patients, request.POST.get("patient") or request.GET.get("patient"))
    query = " ".join(request.GET.get("q", "").split())
    # What the calendar's free slot chose (day, time, therapist), kept through the search.
    carried = {
        key: request.GET[key] for key in ("date", "time", "therapist") if request.GET.get(key)
    }
    context = {
        "clinic": clinic,
        "patient": patient,
        "query": query,
        "day": _day(request, clinic),
        "carried": carried,
        "carried_query": urlencode(carried),
        # Registering a new patient comes back here with them, the chosen time kept.
        "register_query": urlencode(
            {"then": reverse("sessions:book") + (f"?{urlencode(carried)}" if carried else "")}
        ),
    }
    if patient is None:
        found = (
            [
                match
                for match in patient_selectors.search_patients(user, query)
                if match.organization_id == clinic.organization_id
            ]
            if query
            else []
        )
        record_reads(reader=user, patients=found, part=RecordPart.LIST, via=ReadVia.PAGE)
        return render(request, "sessions/book.html", {**context, "found": found})
    therapists = therapists_of(clinic=clinic).order_by("full_name")
    initial = {"day": context["day"], "patient": str(patient.pk)}
    if access.holds_role(user, [Role.THERAPIST]):
        initial["therapist"] = str(user.pk)
    if "therapist" in carried:
        initial["therapist"] = carried["therapist"]
    if "time" in carried:
        initial["time"] = carried["time"]
    appointment_types = access.visible_to(
        user, AppointmentType.objects.filter(organization=clinic.organization, is_active=True)
    )
    form = BookForm(
        request.POST or None,
        initial=initial,
        therapists=therapists,
        appointment_types=appointment_types,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        chosen = data["appointment_type"]
        booking = {
            "clinic": clinic,
            "therapist": therapists.get(pk=data["therapist"]),
            "patient": patient,
            "starts_at": form.starts_at(clinic.zone),
            "length": datetime.timedelta(minutes=data["length_minutes"]),
            "needling": data["needling"],
            "appointment_type": appointment_types.get(pk=chosen) if chosen else None,
            "outside_hours_reason": data["outside_hours_reason"],
            "by": user,
        }
        try:
            if (data["weeks"] or 1) > 1:
                sessions = services.book_weekly(weeks=data["weeks"], **booking)
            else:
                sessions = [services.book_session(submission_key=data["key"], **booking)]
        except (FasciaError, ValidationError) as error:
            show_error(form, error)
        else:
            first = sessions[0]
            weekly = f" every week for {len(sessions)} weeks" if len(sessions) > 1 else ""
            messages.success(request, f"Booked: {first.patient.full_name}{weekly}.")
            return redirect("sessions:detail", session_id=first.pk)
    record_reads(reader=user, patients=[patient], part=RecordPart.LIST, via=ReadVia.PAGE)
    return render(request, "sessions/book.html", {**context, "form": form})


def _chosen(patients, value) -> Patient | None:
    """The patient a booking is for, when the id given is one the booker may book."""
    try:
        patient_id = uuid.UUID(str(value))
    except ValueError:
        return None
    return patients.select_related("home_clinic").filter(pk=patient_id).first()


@staff_page
# One transaction for the page's twenty-odd queries: row-level security's scope is set
# once, not in a transaction of its own around each (25 of the week's 175 ms).
@transaction.atomic
def calendar_week(request):
    """The clinic's week as a calendar: therapists as columns, days as rows, each cell the
    therapist's day of bookings and free times (each a link to book it)."""
    clinic = current_clinic(request)
    if clinic is None:
        return render(request, "sessions/calendar_week.html", {"clinic": None})
    day = _day(request, clinic)
    monday = day - datetime.timedelta(days=day.weekday())
    shown = calendar.week_of(request.user, clinic=clinic, monday=monday)
    record_reads_of(
        reader=request.user, rows=shown.sessions, part=RecordPart.LIST, via=ReadVia.PAGE
    )
    return render(
        request,
        "sessions/calendar_week.html",
        {
            "clinic": clinic,
            "calendar": shown,
            "monday": monday,
            "sunday": monday + datetime.timedelta(days=6),
            "today": timezone.localdate(timezone=clinic.zone),
            "previous_week": monday - datetime.timedelta(days=7),
            "next_week": monday + datetime.timedelta(days=7),
            "types": {session.appointment_type for session in shown.sessions} - {None},
            "may_book": _may_book(request.user, clinic),
        },
    )


def _may_book(user, clinic) -> bool:
    return access.can_add(user, TreatmentSession, organization=clinic.organization, clinic=clinic)


@staff_page
@transaction.atomic  # as the week's
def calendar_day(request):
    """The clinic's day as a calendar: therapists as columns, each free quarter hour of their
    working time a link to book it."""
    clinic = current_clinic(request)
    if clinic is None:
        return render(request, "sessions/calendar_day.html", {"clinic": None})
    day = _day(request, clinic)
    shown = calendar.day_of(request.user, clinic=clinic, day=day)
    record_reads_of(
        reader=request.user, rows=shown.sessions, part=RecordPart.LIST, via=ReadVia.PAGE
    )
    return render(
        request,
        "sessions/calendar_day.html",
        {
            "clinic": clinic,
            "calendar": shown,
            "day": day,
            "today": timezone.localdate(timezone=clinic.zone),
            "previous_day": day - datetime.timedelta(days=1),
            "next_day": day + datetime.timedelta(days=1),
            "types": {session.appointment_type for session in shown.sessions} - {None},
            "treats": access.holds_role(request.user, [Role.THERAPIST]),
            "may_book": _may_book(request.user, clinic),
        },
    )
