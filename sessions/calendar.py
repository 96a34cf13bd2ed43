"""A clinic's day as a calendar: therapists as columns, quarter hours as rows.

A read, for the calendar page: the day's bookings of the clinic, each therapist's
working time (sessions.availability) and the readiness of each patient waiting
for the needle, in a fixed number of queries however many bookings. Built as
table rows, a booking one cell spanning its quarter hours, so the page needs no
script and reads as a table to a screen reader.
"""

import dataclasses
import datetime

from django.utils import timezone

from accounts.models import User
from clinics.models import Clinic
from patients import safety
from sessions import availability, selectors
from sessions.models import HOLDS_THE_SLOT, WAITING_FOR_THE_NEEDLE, TreatmentSession

QUARTER = datetime.timedelta(minutes=15)
OPENS, CLOSES = datetime.time(8), datetime.time(18)
"""The hours shown when nobody works or is booked earlier or later."""


@dataclasses.dataclass(frozen=True)
class Booked:
    session: TreatmentSession
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

    @property
    def free(self) -> bool:
        return self.working and not self.sessions


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
    sessions: list[TreatmentSession]


def day_of(user, *, clinic: Clinic, day: datetime.date) -> Day:
    """`clinic`'s `day` as `user` may see it."""
    zone = clinic.zone
    start, end = selectors.day_bounds(day, zone)
    sessions = [
        session
        for session in selectors.sessions_on(user, clinic=clinic, day=day).select_related(
            "appointment_type"
        )
        if session.status in HOLDS_THE_SLOT
    ]
    therapists = [therapist for therapist, _ in availability.therapists_at(clinic, needling=False)]
    for session in sessions:  # someone since gone still has the day's bookings shown
        if session.therapist not in therapists:
            therapists.append(session.therapist)
    waiting = [session.patient for session in sessions if session.status in WAITING_FOR_THE_NEEDLE]
    summaries = safety.summaries_for(user, waiting, clinic=clinic)
    marks = {
        session.pk: summaries[session.patient_id].for_session(session).marks
        for session in sessions
        if session.patient_id in summaries
    }
    working = availability.free_time(
        clinic, starts_at=start, ends_at=end, therapists=therapists, bookings_count=False
    )
    first, last = _shown_hours(day, zone, sessions, working)
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
                )
            )
        rows.append(Row(starts_at=quarter, cells=cells))
    return Day(clinic=clinic, day=day, therapists=therapists, rows=rows, sessions=sessions)


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
