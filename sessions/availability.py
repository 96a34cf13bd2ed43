"""When a therapist is free: working hours and schedule changes, less bookings.

A read, asked by the booking page, the calendar and the API's `slots` and
`availability`. It answers from four queries whatever the range (working hours,
changes, the therapists' bookings, the patient's bookings) and works the rest
out in Python, on the clinic's clock:

- a day's working hours are local times (08:00 stays 08:00 across a clock
  change), made into moments with the clinic's zone; a time the clocks skip
  (02:30 on the night they go forward) is read an hour later, a time they pass
  twice as the first;
- a schedule change takes time away (away, closed) or adds it (extra);
- bookings that hold their slot (booked, in progress, signed) take time away,
  the therapist's at every clinic, and the patient's, when a patient is named;
- a needling type is offered only with therapists whose dry-needling credential
  is current on the day.

The database's exclusion constraints stay the last word: a slot offered here
and taken by someone else a moment later is refused at booking, with the
next free slots offered instead.
"""

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from clinics.models import Clinic
from clinics.selectors import therapist_roles
from sessions.exceptions import BookingRefused
from sessions.models import (
    HOLDS_THE_SLOT,
    AppointmentType,
    ChangeKind,
    ScheduleChange,
    TreatmentSession,
    WorkingHours,
)

STEP = datetime.timedelta(minutes=15)
"""Slots start on the quarter hour of the clinic's clock."""

Interval = tuple[datetime.datetime, datetime.datetime]


@dataclasses.dataclass(frozen=True)
class Slot:
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    therapist: User

    def as_dict(self) -> dict:
        return {
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "therapist": self.therapist,
        }


@dataclasses.dataclass(frozen=True)
class Wanted:
    """What a slot must fit when no appointment type says it: a booking's own length."""

    minutes: int
    needling: bool


def _local(day: datetime.date, time: datetime.time, zone) -> datetime.datetime:
    """`time` on `day` on the clinic's clock, as a moment in UTC (PEP 495's fold 0: a time
    the clocks skip is read with the offset before the change, a time passed twice as the
    first)."""
    return datetime.datetime.combine(day, time, tzinfo=zone).astimezone(datetime.UTC)


MIDNIGHT_ENDS = datetime.time(23, 59)
"""Hours that end at 23:59 end at midnight: with the next day's from 00:00, a night shift."""


def _day_end(day: datetime.date, time: datetime.time, zone) -> datetime.datetime:
    if time >= MIDNIGHT_ENDS:
        return _local(day + datetime.timedelta(days=1), datetime.time(), zone)
    return _local(day, time, zone)


def _minus(intervals: list[Interval], taken: Iterable[Interval]) -> list[Interval]:
    """`intervals` with every moment of `taken` removed (half-open ranges)."""
    for start, end in sorted(taken):
        left = []
        for a, b in intervals:
            if end <= a or b <= start:
                left.append((a, b))
                continue
            if a < start:
                left.append((a, start))
            if end < b:
                left.append((end, b))
        intervals = left
    return intervals


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _days(start: datetime.datetime, end: datetime.datetime, zone) -> list[datetime.date]:
    first = timezone.localtime(start, zone).date() - datetime.timedelta(days=1)
    last = timezone.localtime(end, zone).date()
    return [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]


def works_at(clinic: Clinic, therapist: User) -> bool:
    """Whether `therapist` holds the therapist's role at `clinic`."""
    return therapist_roles(clinic=clinic, user=therapist).exists()


def therapists_at(
    clinic: Clinic, *, needling: bool, on: datetime.date | None = None
) -> list[tuple[User, datetime.date | None]]:
    """The clinic's therapists, each with the last day of their dry-needling credential."""
    roles = (
        therapist_roles(clinic=clinic).select_related("user").order_by("user__full_name", "user_id")
    )
    found = []
    for role in roles:
        if not role.user.is_active:
            continue
        expires = role.credential_expires_on if role.credential else None
        if needling and (expires is None or (on is not None and expires < on)):
            continue
        found.append((role.user, expires))
    return found


def free_time(
    clinic: Clinic,
    *,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    therapists: list[User],
    patient_id=None,
    ignoring_session=None,
    bookings_count: bool = True,
) -> dict[object, list[Interval]]:
    """Each therapist's free intervals at `clinic` between `starts_at` and `ends_at`: their
    working time there, less their bookings (unless `bookings_count` is False) and the
    patient's."""
    zone = clinic.zone
    ids = [therapist.pk for therapist in therapists]
    weekly = defaultdict(list)
    for hours in WorkingHours.objects.filter(
        organization_id=clinic.organization_id, clinic=clinic, therapist_id__in=ids
    ):
        weekly[(hours.therapist_id, hours.weekday)].append((hours.starts, hours.ends))
    # The clinic's closures and every change of its therapists, at any clinic: away is
    # away everywhere, and extra hours at another clinic are time taken there.
    changes = list(
        ScheduleChange.objects.filter(
            organization_id=clinic.organization_id,
            starts_at__lt=ends_at,
            ends_at__gt=starts_at,
        ).filter(Q(clinic=clinic, kind=ChangeKind.CLOSED) | Q(therapist_id__in=ids))
    )
    bookings = TreatmentSession.objects.filter(
        organization_id=clinic.organization_id,
        status__in=HOLDS_THE_SLOT,
        starts_at__lt=ends_at,
        ends_at__gt=starts_at,
    ).exclude(pk=getattr(ignoring_session, "pk", None))
    busy = defaultdict(list)
    if not bookings_count:
        bookings = bookings.none()
    for therapist_id, start, end in bookings.filter(therapist_id__in=ids).values_list(
        "therapist_id", "starts_at", "ends_at"
    ):
        busy[therapist_id].append((start, end))
    patient_busy = (
        list(bookings.filter(patient_id=patient_id).values_list("starts_at", "ends_at"))
        if patient_id is not None
        else []
    )
    closed = [(c.starts_at, c.ends_at) for c in changes if c.kind == ChangeKind.CLOSED]
    days = _days(starts_at, ends_at, zone)
    free = {}
    for therapist_id in ids:
        working = [
            (_local(day, start, zone), _day_end(day, end, zone))
            for day in days
            for start, end in weekly[(therapist_id, day.weekday())]
        ]
        working += [
            (c.starts_at, c.ends_at)
            for c in changes
            if c.kind == ChangeKind.EXTRA
            and c.therapist_id == therapist_id
            and c.clinic_id == clinic.pk
        ]
        away = [
            (c.starts_at, c.ends_at)
            for c in changes
            if c.therapist_id == therapist_id
            and (c.kind == ChangeKind.AWAY or c.clinic_id != clinic.pk)
        ]
        intervals = _minus(_union(working), [*away, *closed, *busy[therapist_id], *patient_busy])
        free[therapist_id] = [
            (max(a, starts_at), min(b, ends_at))
            for a, b in intervals
            if a < ends_at and b > starts_at
        ]
    return free


def _first_step(moment: datetime.datetime, zone) -> datetime.datetime:
    """`moment`, or the next quarter hour of the clinic's clock after it."""
    local = timezone.localtime(moment, zone)
    past = datetime.timedelta(
        minutes=local.minute % 15, seconds=local.second, microseconds=local.microsecond
    )
    return moment if not past else moment + (STEP - past)


def free_slots(
    clinic: Clinic,
    *,
    appointment_type: AppointmentType | Wanted,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    therapist: User | None = None,
    patient_id=None,
    limit: int = 20,
    ignoring_session=None,
) -> list[Slot]:
    """The first `limit` free slots for `appointment_type` at `clinic`, earliest first (at one
    time, therapists by name): with `therapist` only, or with any that may give it."""
    if getattr(appointment_type, "organization_id", clinic.organization_id) != (
        clinic.organization_id
    ):
        raise BookingRefused(
            "appointment_type: not a type of the clinic's organisation.",
            field="appointment_type",
        )
    zone = clinic.zone
    length = datetime.timedelta(minutes=appointment_type.minutes)
    starts_at = max(starts_at, timezone.now())
    if not clinic.is_active:
        return []
    therapists = therapists_at(clinic, needling=appointment_type.needling)
    if therapist is not None:
        therapists = [(user, expires) for user, expires in therapists if user.pk == therapist.pk]
    if not therapists or ends_at <= starts_at:
        return []
    free = free_time(
        clinic,
        starts_at=starts_at,
        ends_at=ends_at,
        therapists=[user for user, _ in therapists],
        patient_id=patient_id,
        ignoring_session=ignoring_session,
    )
    slots = []
    for user, expires in therapists:
        for a, b in free[user.pk]:
            moment = _first_step(a, zone)
            while moment + length <= b:
                on = timezone.localtime(moment, zone).date()
                if not appointment_type.needling or (expires is not None and on <= expires):
                    slots.append(Slot(moment, moment + length, user))
                moment += STEP
    order = {user.pk: n for n, (user, _) in enumerate(therapists)}
    slots.sort(key=lambda slot: (slot.starts_at, order[slot.therapist.pk]))
    return slots[:limit]


def within_working_hours(session_like, *, clinic: Clinic) -> bool:
    """Whether a booking's time lies wholly in its therapist's working time at `clinic`:
    asked to warn a desk booking outside it. Other bookings are the exclusion
    constraints' to refuse, not a reason to call a time "outside the hours"."""
    free = free_time(
        clinic,
        starts_at=session_like.starts_at,
        ends_at=session_like.ends_at,
        therapists=[session_like.therapist],
        bookings_count=False,
    )
    return any(
        a <= session_like.starts_at and session_like.ends_at <= b
        for a, b in free[session_like.therapist.pk]
    )


def has_working_hours(therapist: User, *, clinic: Clinic) -> bool:
    """Whether the clinic keeps working hours for the therapist (else nothing is "outside")."""
    return WorkingHours.objects.filter(
        organization_id=clinic.organization_id, clinic=clinic, therapist=therapist
    ).exists()


def hours_of_the_day(therapist: User, *, clinic: Clinic, on: datetime.datetime) -> str:
    """The therapist's working hours at the clinic on the day of `on`, as a person reads them:
    "Tuesday 08:00-12:30, 13:00-17:00", or "not on Sundays"."""
    day = timezone.localtime(on, clinic.zone).date()
    rows = WorkingHours.objects.filter(
        organization_id=clinic.organization_id,
        clinic=clinic,
        therapist=therapist,
        weekday=day.weekday(),
    ).order_by("starts")
    name = f"{day:%A}"
    if not rows:
        return f"not on {name}s"
    return f"{name} " + ", ".join(f"{row.starts:%H:%M}-{row.ends:%H:%M}" for row in rows)


def change_in_the_way(session_like, *, clinic: Clinic) -> ScheduleChange | None:
    """The closure of `clinic`, or absence of the therapist, that a booking's time meets."""
    return (
        ScheduleChange.objects.filter(
            organization_id=clinic.organization_id,
            starts_at__lt=session_like.ends_at,
            ends_at__gt=session_like.starts_at,
        )
        .filter(
            Q(clinic=clinic, kind=ChangeKind.CLOSED)
            | Q(therapist=session_like.therapist, kind=ChangeKind.AWAY)
        )
        .select_related("clinic")
        .order_by("starts_at")
        .first()
    )
