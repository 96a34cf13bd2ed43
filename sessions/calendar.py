"""A clinic's day and week as calendars, therapists as columns.

Reads, for the calendar pages: the bookings of the clinic, each therapist's
working time (sessions.availability) and the readiness of each patient waiting
for the needle, in a fixed number of queries however many bookings. Both are
tables, so the pages need no script to read and book, and read as tables to a
screen reader: the day has quarter hours as rows, a booking one cell spanning
its quarter hours; the week has days as rows, each cell the therapist's day in
order, bookings and free time.
"""

import dataclasses
import datetime
import uuid

from django.db import DEFAULT_DB_ALIAS
from django.db.models.base import ModelState
from django.utils import timezone

from accounts.models import User
from clinics.models import Clinic
from patients import safety
from patients.models import Patient
from sessions import availability, selectors
from sessions.models import HOLDS_THE_SLOT, WAITING_FOR_THE_NEEDLE, AppointmentType, Status

QUARTER = datetime.timedelta(minutes=15)
OPENS, CLOSES = datetime.time(8), datetime.time(18)
"""The hours shown when nobody works or is booked earlier or later."""


@dataclasses.dataclass(slots=True)
class Booking:
    """A booking as the calendars show it, read as values rather than as a TreatmentSession:
    a week is 1,500 of them, and building a model instance for each booking, with its
    patient, therapist and type joined, took three times as long as reading them (and a
    frozen dataclass three times as long to build as this). The patient is a Patient
    (readiness reads it), each one built once for all their bookings."""

    pk: uuid.UUID
    patient_id: uuid.UUID
    therapist_id: uuid.UUID
    appointment_type_id: uuid.UUID | None
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    status: str
    needling: bool
    booked_online: bool
    confirmed_at: datetime.datetime | None
    organization_id: uuid.UUID
    clinic_id: uuid.UUID
    patient: Patient
    therapist: User
    appointment_type: AppointmentType | None

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    def get_status_display(self) -> str:
        return Status(self.status).label


BOOKING_FIELDS = [
    *("id", "patient_id", "therapist_id", "appointment_type_id"),
    *("starts_at", "ends_at", "status", "needling", "booked_online", "confirmed_at"),
]
"""A Booking's columns, in its fields' order: read as they are."""

PATIENT_FIELDS = [
    *("organization_id", "home_clinic_id", "user_id", "first_name", "last_name"),
    *("date_of_birth", "merged_into_id"),
]
"""What readiness reads of a patient, and the calendars show: read with the bookings."""


@dataclasses.dataclass(slots=True)
class Booked:
    session: Booking
    marks: list
    """Its readiness (Ready, Consent needed, Open alert...), when it waits for the needle."""


@dataclasses.dataclass
class Cell:
    """One cell of the grid: a booking (or bookings sharing a quarter hour), or a free or
    closed quarter hour of one therapist."""

    therapist: User
    starts_at: datetime.datetime
    rows: int = 1
    sessions: list = dataclasses.field(default_factory=list)
    working: bool = False
    gone: bool = False
    """The quarter hour is over: not free to book any more."""

    @property
    def free(self) -> bool:
        return self.working and not self.sessions and not self.gone


@dataclasses.dataclass
class Row:
    starts_at: datetime.datetime
    cells: list[Cell]


@dataclasses.dataclass
class Day:
    clinic: Clinic
    day: datetime.date
    therapists: list[User]
    rows: list[Row]
    sessions: list[Booking]


def _booked(user, clinic: Clinic, first: datetime.date, last: datetime.date):
    """The bookings from `first` to `last`, the therapists to show (those working at the
    clinic, and anyone since gone who still has bookings) and each booking's marks.

    Readiness is for what is still to come: bookings from today on. An earlier
    day's booking shows none: it can no longer be prepared for.
    """
    organization = clinic.organization
    # Rows as tuples: the booking's columns, then its patient's.
    rows = list(
        selectors.sessions_between(user, clinic=clinic, first=first, last=last)
        .filter(status__any_of=list(HOLDS_THE_SLOT))
        .values_list(*BOOKING_FIELDS, *(f"patient__{name}" for name in PATIENT_FIELDS))
    )
    clinics = {each.pk: each for each in Clinic.objects.filter(organization=organization)}
    types = {each.pk: each for each in AppointmentType.objects.filter(organization=organization)}
    ends = len(BOOKING_FIELDS)
    patient_at, therapist_at, type_at = (
        BOOKING_FIELDS.index(name) for name in ("patient_id", "therapist_id", "appointment_type_id")
    )
    patients = {}
    for row in rows:
        if row[patient_at] not in patients:
            values = dict(zip(PATIENT_FIELDS, row[ends:], strict=True))
            patients[row[patient_at]] = _loaded(
                Patient,
                {"id": row[patient_at], **values},
                organization=organization,
                home_clinic=clinics[values["home_clinic_id"]],
            )
    therapists = [therapist for therapist, _ in availability.therapists_at(clinic, needling=False)]
    people = {therapist.pk: therapist for therapist in therapists}
    gone = {row[therapist_at] for row in rows} - set(people)
    for therapist in User.objects.filter(pk__any_of=list(gone)).order_by("full_name", "email"):
        people[therapist.pk] = therapist  # since gone from the clinic: their bookings stay
        therapists.append(therapist)
    sessions = [
        Booking(
            *row[:ends],
            organization.pk,
            clinic.pk,
            patients[row[patient_at]],
            people[row[therapist_at]],
            types.get(row[type_at]),
        )
        for row in rows
    ]
    today = timezone.localdate(timezone=clinic.zone)
    from_today = selectors.day_bounds(today, clinic.zone)[0]
    to_come = [session for session in sessions if session.starts_at >= from_today]
    summaries = safety.summaries_for(
        user,
        [session.patient for session in to_come if session.status in WAITING_FOR_THE_NEEDLE],
        clinic=clinic,
    )
    marks = {
        session.pk: summaries[session.patient_id].for_session(session).marks
        for session in to_come
        if session.patient_id in summaries
    }
    return sessions, therapists, marks


def _loaded(model, values: dict, **related):
    """An instance of `model` from a row's values (attribute names), as Model.from_db makes
    one but without passing each value through its field's descriptor: 1,500 patients in
    1.5 ms rather than 13. `related` are its foreign keys' objects, cached as a query's
    select_related would. A field left out loads when first used, as after .only()."""
    instance = model.__new__(model)
    instance.__dict__.update(values)
    instance._state = ModelState()
    instance._state.adding = False
    instance._state.db = DEFAULT_DB_ALIAS
    instance._state.fields_cache = related
    return instance


def day_of(user, *, clinic: Clinic, day: datetime.date) -> Day:
    """`clinic`'s `day` as `user` may see it."""
    zone = clinic.zone
    start, end = selectors.day_bounds(day, zone)
    sessions, therapists, marks = _booked(user, clinic, day, day)
    working = availability.free_time(
        clinic, starts_at=start, ends_at=end, therapists=therapists, bookings_count=False
    )
    first, last = _shown_hours(day, zone, sessions, working)
    now = timezone.now()
    quarters = []
    moment = first
    while moment < last:
        quarters.append(moment)
        moment += QUARTER
    grid = {(quarter, therapist.pk): None for quarter in quarters for therapist in therapists}
    blocks: dict = {}
    for session in sessions:
        top = _quarter_of(session.starts_at, first)
        bottom = max(top + 1, -(-(session.ends_at - first) // QUARTER))
        covering = next(
            (
                grid[(quarters[row], session.therapist_id)]
                for row in range(top, min(bottom, len(quarters)))
                if grid[(quarters[row], session.therapist_id)] is not None
            ),
            None,
        )
        if covering is not None:  # off the quarter hours: shares the cell it meets
            covering.sessions.append(Booked(session, marks.get(session.pk, [])))
            continue
        cell = Cell(
            therapist=session.therapist,
            starts_at=quarters[top],
            rows=min(bottom, len(quarters)) - top,
            sessions=[Booked(session, marks.get(session.pk, []))],
        )
        blocks[(quarters[top], session.therapist_id)] = cell
        for row in range(top, top + cell.rows):
            grid[(quarters[row], session.therapist_id)] = cell
    rows = []
    for quarter in quarters:
        cells = []
        for therapist in therapists:
            covered = grid[(quarter, therapist.pk)]
            if covered is not None:
                if blocks.get((quarter, therapist.pk)) is covered:
                    cells.append(covered)
                continue  # under a booking that started above
            cells.append(
                Cell(
                    therapist=therapist,
                    starts_at=quarter,
                    working=any(
                        a <= quarter and quarter + QUARTER <= b for a, b in working[therapist.pk]
                    ),
                    gone=quarter + QUARTER <= now,
                )
            )
        rows.append(Row(starts_at=quarter, cells=cells))
    return Day(clinic=clinic, day=day, therapists=therapists, rows=rows, sessions=sessions)


@dataclasses.dataclass(frozen=True)
class Free:
    """Free time in a therapist's day: from `starts_at` for `minutes`."""

    therapist: User
    starts_at: datetime.datetime
    ends_at: datetime.datetime

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


@dataclasses.dataclass
class WeekDay:
    day: datetime.date
    cells: list[list]
    """Per therapist (in the week's order), their bookings and free times of the day."""


@dataclasses.dataclass
class Week:
    clinic: Clinic
    monday: datetime.date
    therapists: list[User]
    days: list[WeekDay]
    sessions: list[Booking]


def week_of(user, *, clinic: Clinic, monday: datetime.date) -> Week:
    """`clinic`'s week from `monday` as `user` may see it: per day and therapist, the
    bookings and the free time between them (working time less bookings, closures and
    absences), in order."""
    zone = clinic.zone
    sunday = monday + datetime.timedelta(days=6)
    sessions, therapists, marks = _booked(user, clinic, monday, sunday)
    free = availability.free_time(
        clinic,
        # Time gone is not free: from the quarter hour under way (booking takes 15 minutes'
        # grace), on the clinic's clock.
        starts_at=max(selectors.day_bounds(monday, zone)[0], _this_quarter(zone)),
        ends_at=selectors.day_bounds(sunday, zone)[1],
        therapists=therapists,
    )
    column = {therapist.pk: index for index, therapist in enumerate(therapists)}
    days = [monday + datetime.timedelta(days=offset) for offset in range(7)]
    cells = {day: [[] for _ in therapists] for day in days}
    # astimezone rather than timezone.localdate: the same date without its checks, 1,500 times.
    for session in sessions:
        day = session.starts_at.astimezone(zone).date()
        cells[day][column[session.therapist_id]].append(Booked(session, marks.get(session.pk, [])))
    for therapist in therapists:
        for starts_at, ends_at in free[therapist.pk]:
            if ends_at - starts_at >= QUARTER:
                day = starts_at.astimezone(zone).date()
                cells[day][column[therapist.pk]].append(Free(therapist, starts_at, ends_at))
    for day in days:
        for entries in cells[day]:
            entries.sort(key=_starts)
    return Week(
        clinic=clinic,
        monday=monday,
        therapists=therapists,
        days=[WeekDay(day, cells[day]) for day in days],
        sessions=sessions,
    )


def _this_quarter(zone) -> datetime.datetime:
    now = timezone.localtime(timezone=zone)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def _starts(entry) -> datetime.datetime:
    return entry.session.starts_at if isinstance(entry, Booked) else entry.starts_at


def _quarter_of(moment: datetime.datetime, first: datetime.datetime) -> int:
    return max(0, (moment - first) // QUARTER)


def _shown_hours(day, zone, sessions, working) -> tuple[datetime.datetime, datetime.datetime]:
    """From the earliest of 08:00, any working time and any booking, on the hour, to the
    latest of 18:00 and the rest."""
    starts = [datetime.datetime.combine(day, OPENS, tzinfo=zone)]
    ends = [datetime.datetime.combine(day, CLOSES, tzinfo=zone)]
    for a, b in [interval for intervals in working.values() for interval in intervals]:
        starts.append(a)
        ends.append(b)
    for session in sessions:
        starts.append(session.starts_at)
        ends.append(session.ends_at)
    day_start, day_end = selectors.day_bounds(day, zone)
    first = max(min(starts), day_start)
    last = min(max(ends), day_end)
    local = timezone.localtime(first, zone)
    first = first - datetime.timedelta(
        minutes=local.minute, seconds=local.second, microseconds=local.microsecond
    )
    return first, last
