"""Online booking: a patient books, moves and cancels their own sessions in the portal.

Who: the login of a patient record (`Patient.user`), for that record only, as
clinics.access shows a login its own rows (`patients.selectors.portal_records`,
and the booking's own rule: `own="patient__user"`). What: the organisation's
active types open online, at its active clinics, in the free slots
sessions.availability offers (working hours, never outside them), no sooner
than the notice period from now and no later than the online window. A type
with needling also needs the patient ready for it on the session's day: no
absolute contraindication, a screening still valid then and a consent that
counts; the refusal says what to do.

The booking's own rules (a clash, a credential, the submission key) are
sessions.services.booking's: `save_booking`, `record_move` and
`record_cancellation` do the writing once this module has checked the patient
may. The exclusion constraints stay the last word: a slot taken between the
search and the booking is refused as `SlotTaken`, with the free slots now.
"""

import dataclasses
import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import dateformat, timezone

from accounts.models import User
from clinics import access
from clinics.models import Clinic
from patients.safety import Blocker
from patients.selectors import ConsentState, ScreeningState, clinical_status, portal_records
from sessions import availability
from sessions.exceptions import (
    BookingRefused,
    DoubleBooked,
    NotPermitted,
    SessionStateRefused,
)
from sessions.models import (
    HOLDS_THE_SLOT,
    AppointmentType,
    Status,
    TreatmentSession,
    WorkingHours,
)
from sessions.services.booking import (
    is_late,
    record_cancellation,
    record_move,
    save_booking,
)
from sessions.services.schedule import booking_settings_of

CANCELLED_ONLINE = "Cancelled by the patient online"
"""The reason kept when the patient gives none."""
NEXT_SLOTS = 5
"""Free slots a refusal of a taken slot offers instead."""
DAY_LIMIT = 200
"""More free slots than one day holds (a quarter hour each, a few therapists)."""


class NeedlingNotOnline(BookingRefused):
    """A type with needling, for a patient not ready for it on the day: `blockers` say what to
    do, each with its link (the portal's forms, or the clinic's phone)."""

    code = "needling_not_online"

    def __init__(self, message: str, *, blockers=()):
        super().__init__(message, field="appointment_type")
        self.blockers = list(blockers)

    def details(self) -> dict:
        return {"blockers": [blocker.as_dict() for blocker in self.blockers]}


class SlotTaken(DoubleBooked):
    """The time was free when the patient saw it and is not now; `next_slots` are free now."""

    code = "slot_taken"


@dataclasses.dataclass(frozen=True)
class Window:
    """When a patient may book online: from `opens` (now plus the notice period) to `closes`
    (now plus the online window), and the settings they come from."""

    opens: datetime.datetime
    closes: datetime.datetime
    notice_hours: int
    days_ahead: int


def window_of(organization) -> Window:
    settings = booking_settings_of(organization)
    now = timezone.now()
    return Window(
        opens=now + datetime.timedelta(hours=settings.notice_hours),
        closes=now + datetime.timedelta(days=settings.online_days_ahead),
        notice_hours=settings.notice_hours,
        days_ahead=settings.online_days_ahead,
    )


# --- Who and what ------------------------------------------------------------


def own_record(user, patient) -> None:
    """Refuse unless `patient` is the record of `user`'s own login (a portal login)."""
    if patient.user_id is None or patient.user_id != getattr(user, "pk", None):
        raise NotPermitted("No such patient record of yours.", field="patient")
    if not portal_records(user).filter(pk=patient.pk).exists():
        raise NotPermitted("No such patient record of yours.", field="patient")


def own_sessions(user, patient) -> QuerySet:
    """The sessions of `patient` that are `user`'s own (their login's), as the access module
    shows them: another patient's session is not among them (404)."""
    return access.visible_to(
        user, TreatmentSession.objects.filter(patient=patient, patient__user=user)
    ).select_related("clinic", "therapist", "appointment_type", "patient")


def online_types(organization) -> list[AppointmentType]:
    """The organisation's active types open to online booking, by name."""
    return list(
        AppointmentType.objects.filter(
            organization=organization, is_active=True, bookable_online=True
        ).order_by("name")
    )


def type_of(organization, type_id) -> AppointmentType | None:
    """The organisation's appointment type with this id, open online or not: the rules of the
    booking refuse one that is not, saying so."""
    return AppointmentType.objects.filter(organization=organization, pk=type_id).first()


def therapist_at(clinic: Clinic, therapist_id) -> User | None:
    """The clinic's therapist with this id, offered online or not (the rules say why not)."""
    return next(
        (
            user
            for user, _ in availability.therapists_at(clinic, needling=False)
            if str(user.pk) == str(therapist_id)
        ),
        None,
    )


def online_clinics(patient) -> list[Clinic]:
    """The organisation's open clinics, the patient's home clinic first."""
    clinics = Clinic.objects.filter(
        organization_id=patient.organization_id, is_active=True
    ).order_by("name")
    return sorted(clinics, key=lambda clinic: clinic.pk != patient.home_clinic_id)


def online_therapists(clinic: Clinic, appointment_type: AppointmentType) -> list[User]:
    """The therapists offered online at `clinic` for the type: those whose working hours there
    are recorded (no hours, no slots online) and, for needling, whose credential is current."""
    with_hours = set(
        WorkingHours.objects.filter(
            organization_id=clinic.organization_id, clinic=clinic
        ).values_list("therapist_id", flat=True)
    )
    today = timezone.localdate(timezone=clinic.zone)
    return [
        therapist
        for therapist, _ in availability.therapists_at(
            clinic, needling=appointment_type.needling, on=today
        )
        if therapist.pk in with_hours
    ]


def _call(clinic: Clinic) -> str:
    return f"call {clinic.name} at {clinic.phone}" if clinic.phone else f"call {clinic.name}"


SCREENING_TO_DO = {
    ScreeningState.MISSING: "You have not answered the screening questions yet",
    ScreeningState.EXPIRED: "Your screening answers will be out of date by then",
    ScreeningState.CHANGED: "You told us your health changed since your screening",
}
CONSENT_TO_DO = {
    ConsentState.MISSING: "You have not signed your consent to dry needling yet",
    ConsentState.WITHDRAWN: "You withdrew your consent to dry needling",
    ConsentState.OUTDATED: "The consent to dry needling changed since you signed it",
}


def needling_blockers(patient, *, clinic: Clinic, on: datetime.datetime) -> list[Blocker]:
    """What keeps `patient` from booking a type with needling online for `on`, each with what
    to do: an absolute contraindication (call the clinic), the screening (missing, out of
    date by then, a change in health since) and the consent (patients.selectors'
    clinical status, as the start gate reads it, on that day)."""
    status = clinical_status(patient, now=on)
    call = _call(clinic)
    if status.absolute_flags:
        return [
            Blocker(
                f"Dry needling is not offered online for you: please {call} to book.",
                f"tel:{clinic.phone}" if clinic.phone else "",
                f"Call {clinic.phone}" if clinic.phone else "",
            )
        ]
    blockers = []
    if not status.screening_valid:
        blockers.append(
            Blocker(
                f"{SCREENING_TO_DO[status.screening_state]}: answer them here and then book, "
                f"or {call}.",
                reverse("portal:screening"),
                "Answer the screening questions",
                forms=True,
            )
        )
    if not status.consent_valid:
        blockers.append(
            Blocker(
                f"{CONSENT_TO_DO[status.consent_state]}: read and sign it here and then book, "
                f"or {call}.",
                reverse("portal:consent_sign"),
                "Read and sign the consent",
                forms=True,
            )
        )
    return blockers


def _ready_for(patient, appointment_type: AppointmentType, clinic: Clinic, on) -> None:
    if not appointment_type.needling:
        return
    blockers = needling_blockers(patient, clinic=clinic, on=on)
    if blockers:
        raise NeedlingNotOnline(" ".join(b.text for b in blockers), blockers=blockers)


# --- Free slots --------------------------------------------------------------


def _day_bounds(day: datetime.date, clinic: Clinic):
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=clinic.zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), clinic.zone)
    return start, end


def free_slots(
    *,
    patient,
    clinic: Clinic,
    appointment_type: AppointmentType,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    therapist: User | None = None,
    moving: TreatmentSession | None = None,
    window: Window | None = None,
    limit: int = DAY_LIMIT,
) -> list[availability.Slot]:
    """The slots offered online between `starts_at` and `ends_at`: sessions.availability's,
    inside the online window, never meeting the patient's other bookings (the session
    `moving` aside). Five queries, however many bookings."""
    window = window or window_of(clinic.organization)
    starts_at, ends_at = max(starts_at, window.opens), min(ends_at, window.closes)
    if ends_at <= starts_at:
        return []
    slots = availability.free_slots(
        clinic,
        appointment_type=appointment_type,
        starts_at=starts_at,
        ends_at=ends_at + datetime.timedelta(minutes=appointment_type.minutes),
        therapist=therapist,
        patient_id=patient.pk,
        limit=limit,
        ignoring_session=moving,
    )
    return [slot for slot in slots if slot.starts_at <= ends_at]


def free_on(day: datetime.date, **search) -> list[availability.Slot]:
    """The slots offered online on `day`, on the clinic's clock."""
    starts_at, ends_at = _day_bounds(day, search["clinic"])
    return free_slots(
        starts_at=starts_at, ends_at=ends_at - datetime.timedelta(seconds=1), **search
    )


def first_free_after(moment: datetime.datetime, **search) -> availability.Slot | None:
    """The first slot offered online from `moment` to the end of the window."""
    window = search.pop("window", None) or window_of(search["clinic"].organization)
    slots = free_slots(starts_at=moment, ends_at=window.closes, window=window, limit=1, **search)
    return slots[0] if slots else None


def first_day(window: Window, clinic: Clinic) -> datetime.date:
    """The first day online booking may reach, on the clinic's clock."""
    return timezone.localdate(window.opens, timezone=clinic.zone)


def last_day(window: Window, clinic: Clinic) -> datetime.date:
    return timezone.localdate(window.closes, timezone=clinic.zone)


@dataclasses.dataclass(frozen=True)
class DayOffered:
    """What the portal offers for one day: the day (within the window), the window's first
    and last days, what stops a needling type (then no times), the day's free times, and
    when there are none, the next free time after it."""

    window: Window
    day: datetime.date
    first_day: datetime.date
    last_day: datetime.date
    blockers: list[Blocker]
    slots: list[availability.Slot]
    later: availability.Slot | None


def day_offered(
    wanted: datetime.date | None,
    *,
    patient,
    clinic: Clinic,
    appointment_type: AppointmentType,
    therapist: User | None = None,
    moving: TreatmentSession | None = None,
) -> DayOffered:
    """The free times of the day `wanted` (kept within the window; without one, the first
    day with a free time). A type with needling the patient is not ready for offers no
    time: the blockers say what to do. A fixed number of queries whatever the bookings."""
    window = window_of(clinic.organization)
    first, last = first_day(window, clinic), last_day(window, clinic)
    search = {
        "patient": patient,
        "clinic": clinic,
        "appointment_type": appointment_type,
        "therapist": therapist,
        "moving": moving,
        "window": window,
    }
    if wanted is not None:
        day = min(max(wanted, first), last)
    else:
        soonest = first_free_after(window.opens, **search)
        day = timezone.localdate(soonest.starts_at, clinic.zone) if soonest else first
    day_start = _day_bounds(day, clinic)[0]
    blockers = (
        needling_blockers(patient, clinic=clinic, on=max(day_start, window.opens))
        if appointment_type.needling
        else []
    )
    slots, later = [], None
    if not blockers:
        slots = free_on(day, **search)
        if not slots:
            later = first_free_after(day_start + datetime.timedelta(days=1), **search)
    return DayOffered(window, day, first, last, blockers, slots, later)


# --- The rules of a time -----------------------------------------------------


def _offered(
    *,
    patient,
    clinic: Clinic,
    appointment_type: AppointmentType,
    therapist: User,
    starts_at: datetime.datetime,
) -> datetime.datetime:
    """Refuse a time that online booking does not offer, naming the rule; the time in UTC."""
    if starts_at is None or timezone.is_naive(starts_at):
        raise BookingRefused("Choose one of the free times.", field="starts_at")
    if clinic.organization_id != patient.organization_id or not clinic.is_active:
        raise BookingRefused("No such clinic to book online.", field="clinic")
    if appointment_type.organization_id != clinic.organization_id or not (
        appointment_type.is_active and appointment_type.bookable_online
    ):
        raise BookingRefused(
            f"{appointment_type.name} is not booked online: {_call(clinic)} to book it.",
            field="appointment_type",
        )
    window = window_of(clinic.organization)
    if starts_at < window.opens:
        raise BookingRefused(
            f"Sessions are booked online at least {window.notice_hours} hours ahead: for a "
            f"sooner time, {_call(clinic)}.",
            field="starts_at",
        )
    if starts_at > window.closes:
        raise BookingRefused(
            f"Sessions are booked online up to {window.days_ahead} days ahead: for a later "
            f"time, {_call(clinic)}.",
            field="starts_at",
        )
    length = datetime.timedelta(minutes=appointment_type.minutes)
    offered = {t.pk for t, _ in availability.therapists_at(clinic, needling=False)}
    quarter = timezone.localtime(starts_at, clinic.zone)
    within = therapist.pk in offered and availability.within_working_hours(
        availability.Slot(starts_at, starts_at + length, therapist), clinic=clinic
    )
    if not within or (quarter.minute % 15, quarter.second, quarter.microsecond) != (0, 0, 0):
        raise BookingRefused(
            f"{therapist.get_full_name()} is not booked online then "
            f"({dateformat.format(quarter, 'D j M H:i')}): choose one of the free times.",
            field="starts_at",
        )
    return starts_at.astimezone(datetime.UTC)


def check_time(
    *,
    patient,
    clinic: Clinic,
    appointment_type: AppointmentType,
    therapist: User,
    starts_at: datetime.datetime,
) -> datetime.datetime:
    """Refuse a time the patient may not book online, naming the rule (a time not offered,
    outside the window, a type with needling they are not ready for then); else the time in
    UTC. The confirm page asks it before the Book button; booking and moving ask it again."""
    starts_at = _offered(
        patient=patient,
        clinic=clinic,
        appointment_type=appointment_type,
        therapist=therapist,
        starts_at=starts_at,
    )
    _ready_for(patient, appointment_type, clinic, starts_at)
    return starts_at


def _taken(*, patient, clinic, appointment_type, starts_at, moving=None):
    """A clash at the last moment, said to the patient, with the slots free now."""
    length = datetime.timedelta(minutes=appointment_type.minutes)
    theirs = (
        TreatmentSession.objects.filter(
            patient=patient,
            status__in=HOLDS_THE_SLOT,
            starts_at__lt=starts_at + length,
            ends_at__gt=starts_at,
        )
        .exclude(pk=getattr(moving, "pk", None))
        .exists()
    )
    when = dateformat.format(timezone.localtime(starts_at, clinic.zone), "l j F, H:i")
    if theirs:
        message = f"You already have a session at {when}: choose another time."
    else:
        message = f"{when} was booked by someone else a moment ago: choose another time."
    slots = free_slots(
        patient=patient,
        clinic=clinic,
        appointment_type=appointment_type,
        starts_at=starts_at - datetime.timedelta(hours=12),
        ends_at=starts_at + datetime.timedelta(days=14),
        moving=moving,
        limit=NEXT_SLOTS,
    )
    return SlotTaken(message, field="starts_at", next_slots=slots)


# --- Writes ------------------------------------------------------------------


@transaction.atomic
def book_online(
    *,
    user,
    patient,
    clinic: Clinic,
    appointment_type: AppointmentType,
    therapist: User,
    starts_at: datetime.datetime,
    submission_key=None,
) -> TreatmentSession:
    """Book `patient`'s own session in a free slot offered online, booked by their login and
    marked as booked online. The same form sent twice (its `submission_key`) books once."""
    own_record(user, patient)
    starts_at = check_time(
        patient=patient,
        clinic=clinic,
        appointment_type=appointment_type,
        therapist=therapist,
        starts_at=starts_at,
    )
    try:
        return save_booking(
            clinic=clinic,
            therapist=therapist,
            patient=patient,
            starts_at=starts_at,
            by=user,
            appointment_type=appointment_type,
            submission_key=submission_key,
            booked_online=True,
        )
    except DoubleBooked:
        raise _taken(
            patient=patient,
            clinic=clinic,
            appointment_type=appointment_type,
            starts_at=starts_at,
        ) from None


def _locked_own(user, session: TreatmentSession) -> TreatmentSession:
    found = (
        access.visible_to(user, TreatmentSession.objects.filter(patient__user=user))
        .select_for_update(of=("self",))
        .select_related("clinic", "patient", "therapist", "appointment_type")
        .filter(pk=session.pk)
        .first()
    )
    if found is None:
        raise NotPermitted("No such session of yours.", field="session")
    own_record(user, found.patient)
    return found


def move_refusal(session: TreatmentSession, *, window: Window | None = None) -> str:
    """Why the patient cannot move `session` online now ("" when they can): not booked, not a
    type booked online, or within the notice period (then: call the clinic)."""
    clinic = session.clinic
    if session.status != Status.BOOKED:
        return f"A session that is {session.get_status_display().lower()} cannot be moved."
    kind = session.appointment_type
    if kind is None or not (kind.is_active and kind.bookable_online):
        return f"This session is not moved online: {_call(clinic)} to move it."
    window = window or window_of(session.organization)
    if session.starts_at <= window.opens:
        return (
            f"Your session is less than {window.notice_hours} hours away: {_call(clinic)} "
            "to move it."
        )
    return ""


@transaction.atomic
def move_online(
    *, user, session: TreatmentSession, starts_at: datetime.datetime, therapist: User | None = None
) -> TreatmentSession:
    """Move the patient's own booked session to another slot offered online (another therapist
    of its clinic too), not within the notice period; its history keeps where it was."""
    session = _locked_own(user, session)
    refusal = move_refusal(session)
    if refusal:
        raise SessionStateRefused(refusal)
    therapist = therapist or session.therapist
    starts_at = check_time(
        patient=session.patient,
        clinic=session.clinic,
        appointment_type=session.appointment_type,
        therapist=therapist,
        starts_at=starts_at,
    )
    try:
        return record_move(session=session, by=user, starts_at=starts_at, therapist=therapist)
    except DoubleBooked:
        raise _taken(
            patient=session.patient,
            clinic=session.clinic,
            appointment_type=session.appointment_type,
            starts_at=starts_at,
            moving=session,
        ) from None


def cancel_is_late(session: TreatmentSession) -> bool:
    """Whether cancelling now is recorded as late (within the notice period)."""
    return is_late(session, timezone.now())


@transaction.atomic
def cancel_online(*, user, session: TreatmentSession, reason: str = "") -> TreatmentSession:
    """Cancel the patient's own booked session, until its start; within the notice period it
    is recorded as late (record_cancellation)."""
    session = _locked_own(user, session)
    if session.status == Status.BOOKED and session.starts_at <= timezone.now():
        raise SessionStateRefused(
            f"Your session has started: {_call(session.clinic)} if you cannot come."
        )
    reason = " ".join(str(reason or "").split()) or CANCELLED_ONLINE
    return record_cancellation(session=session, by=user, reason=reason)
