"""Free slots against hand-made calendars (sessions.availability), on a set clock.

The clinic is put on Toronto's clock, where the clocks go back on Sunday 1 November
2026 and forward on Sunday 14 March 2027 (British Columbia's, in the time zone data
Fascia uses, stays on daylight time from November 2026). The clock is set to Sunday
18 October 2026, so Monday 19 October is "tomorrow".
"""

import datetime
import zoneinfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinics.models import Membership, Role
from sessions import availability, services
from sessions.exceptions import DoubleBooked, SeriesRefused
from sessions.models import ChangeKind, TreatmentSession
from tests.clinics.factories import staff
from tests.patients.factories import PatientFactory

TORONTO = zoneinfo.ZoneInfo("America/Toronto")
NOW = datetime.datetime(2026, 10, 18, 12, tzinfo=TORONTO)
MONDAY = datetime.date(2026, 10, 19)


def at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=TORONTO)


def local_starts(slots) -> list[str]:
    return [f"{slot.starts_at.astimezone(TORONTO):%a %H:%M}" for slot in slots]


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def calendar(world):
    """Two Kelowna therapists with Monday hours: Ana 08:00-12:00 and 13:00-17:00 (a lunch
    break), Ben 09:00-11:00; a 45-minute needling type and a 60-minute one without."""
    world.kelowna.timezone = "America/Toronto"
    world.kelowna.save()
    ana = staff(Role.THERAPIST, clinic=world.kelowna, full_name="Ana Alvarez")
    ben = staff(Role.THERAPIST, clinic=world.kelowna, full_name="Ben Brooks")
    for therapist, hours in ((ana, [(8, 12), (13, 17)]), (ben, [(9, 11)])):
        for start, end in hours:
            services.add_working_hours(
                clinic=world.kelowna,
                therapist=therapist,
                weekday=0,
                starts=datetime.time(start),
                ends=datetime.time(end),
                by=world.manager,
            )
    needling = services.create_appointment_type(
        organization=world.organization, by=world.org_admin, name="Needling", minutes=45
    )
    exercise = services.create_appointment_type(
        organization=world.organization,
        by=world.org_admin,
        name="Exercise",
        minutes=60,
        needling=False,
    )
    return ana, ben, needling, exercise


def slots(world, appointment_type, *, day=MONDAY, days=1, **kwargs):
    return availability.free_slots(
        world.kelowna,
        appointment_type=appointment_type,
        starts_at=at(day, 0),
        ends_at=at(day, 0) + datetime.timedelta(days=days),
        limit=200,
        **kwargs,
    )


def test_slots_fill_working_hours_on_the_quarter_hour_and_keep_out_of_the_break(world, calendar):
    ana, _, needling, _ = calendar
    found = slots(world, needling, therapist=ana)
    starts = local_starts(found)
    assert starts[0] == "Mon 08:00"
    assert "Mon 11:15" in starts  # ends at 12:00, when the break starts
    assert "Mon 11:30" not in starts  # would run into the break
    assert "Mon 12:30" not in starts
    assert "Mon 13:00" in starts
    assert starts[-1] == "Mon 16:15"
    assert len(found) == 14 + 14  # 08:00-11:15 and 13:00-16:15, every quarter hour
    assert all(slot.ends_at - slot.starts_at == datetime.timedelta(minutes=45) for slot in found)
    assert {slot.therapist for slot in found} == {ana}


def test_every_therapist_by_time_then_name(world, calendar):
    ana, ben, needling, _ = calendar
    found = slots(world, needling)
    at_nine = [
        slot.therapist for slot in found if f"{slot.starts_at.astimezone(TORONTO):%H:%M}" == "09:00"
    ]
    assert at_nine == [ana, ben]


def test_a_booking_takes_its_time_and_the_next_search_does_not_offer_it(world, calendar):
    ana, _, needling, _ = calendar
    patient = PatientFactory(home_clinic=world.kelowna)
    first = slots(world, needling, therapist=ana)[4]  # 09:00
    services.book_session(
        clinic=world.kelowna,
        therapist=ana,
        patient=patient,
        starts_at=first.starts_at,
        appointment_type=needling,
        by=world.front_desk,
    )
    starts = local_starts(slots(world, needling, therapist=ana))
    # 09:00-09:45 is taken: nothing from 08:30 (which would end after 09:00) to 09:30.
    assert "Mon 08:15" in starts
    assert not {"Mon 08:30", "Mon 08:45", "Mon 09:00", "Mon 09:15", "Mon 09:30"} & set(starts)
    assert "Mon 09:45" in starts
    # A second desk that found the same slot before it was taken is refused.
    with pytest.raises(DoubleBooked, match="Ana Alvarez already has a session 09:00 to 09:45"):
        services.book_session(
            clinic=world.kelowna,
            therapist=ana,
            patient=PatientFactory(home_clinic=world.kelowna),
            starts_at=first.starts_at,
            appointment_type=needling,
            by=world.front_desk,
        )


def test_a_cancelled_booking_frees_its_time(world, calendar):
    ana, _, needling, _ = calendar
    session = services.book_session(
        clinic=world.kelowna,
        therapist=ana,
        patient=PatientFactory(home_clinic=world.kelowna),
        starts_at=at(MONDAY, 9),
        appointment_type=needling,
        by=world.front_desk,
    )
    assert "Mon 09:00" not in local_starts(slots(world, needling, therapist=ana))
    services.cancel_session(session=session, by=world.front_desk, reason="Flu")
    assert "Mon 09:00" in local_starts(slots(world, needling, therapist=ana))


def test_the_patients_other_bookings_are_left_out(world, calendar):
    ana, _, needling, _ = calendar
    patient = PatientFactory(home_clinic=world.kelowna)
    services.book_session(
        clinic=world.vernon,
        therapist=world.vernon_therapist,
        patient=patient,
        starts_at=at(MONDAY, 10),
        by=world.org_admin,
    )
    with_patient = local_starts(slots(world, needling, therapist=ana, patient_id=patient.pk))
    assert "Mon 09:15" in with_patient  # ends 10:00, when the other session starts
    assert not {"Mon 09:30", "Mon 09:45", "Mon 10:00", "Mon 10:15"} & set(with_patient)
    assert "Mon 10:30" in with_patient
    assert "Mon 10:00" in local_starts(slots(world, needling, therapist=ana))


def test_away_closed_and_extra_hours(world, calendar):
    ana, ben, needling, _ = calendar
    services.add_schedule_change(
        clinic=world.kelowna,
        kind=ChangeKind.AWAY,
        therapist=ben,
        starts_at=at(MONDAY, 0),
        ends_at=at(MONDAY, 23, 59),
        reason="Sick",
        by=world.manager,
    )
    assert {slot.therapist for slot in slots(world, needling)} == {ana}
    services.add_schedule_change(
        clinic=world.kelowna,
        kind=ChangeKind.EXTRA,
        therapist=ana,
        starts_at=at(MONDAY, 17),
        ends_at=at(MONDAY, 19),
        by=world.manager,
    )
    assert local_starts(slots(world, needling, therapist=ana))[-1] == "Mon 18:15"
    services.add_schedule_change(
        clinic=world.kelowna,
        kind=ChangeKind.CLOSED,
        starts_at=at(MONDAY, 12),
        ends_at=at(MONDAY, 23),
        reason="Burst pipe",
        by=world.manager,
    )
    starts = local_starts(slots(world, needling))
    assert starts[-1] == "Mon 11:15"


def test_a_needling_type_is_offered_only_with_a_current_credential(world, calendar):
    ana, ben, needling, exercise = calendar
    Membership.objects.filter(user=ben, role=Role.THERAPIST).update(
        credential_expires_on=datetime.date(2026, 10, 18)
    )
    assert {slot.therapist for slot in slots(world, needling)} == {ana}
    assert {slot.therapist for slot in slots(world, exercise)} == {ana, ben}
    # The credential runs out on Monday: offered that day, not the next.
    Membership.objects.filter(user=ben, role=Role.THERAPIST).update(credential_expires_on=MONDAY)
    found = slots(world, needling, therapist=ben, days=8)
    assert {slot.starts_at.astimezone(TORONTO).date() for slot in found} == {MONDAY}


def test_working_hours_stay_on_the_clinics_clock_when_the_clocks_go_back(world, calendar):
    ana, _, needling, _ = calendar
    before = slots(world, needling, therapist=ana, day=datetime.date(2026, 10, 26))
    after = slots(world, needling, therapist=ana, day=datetime.date(2026, 11, 2))
    assert local_starts(before)[0] == local_starts(after)[0] == "Mon 08:00"
    assert before[0].starts_at.hour == 12  # 08:00 EDT is 12:00 UTC
    assert after[0].starts_at.hour == 13  # 08:00 EST is 13:00 UTC
    assert len(before) == len(after)


def test_a_night_the_clocks_skip_an_hour_has_an_hour_less(world, calendar):
    _, ben, _, exercise = calendar
    services.add_working_hours(
        clinic=world.kelowna,
        therapist=ben,
        weekday=6,
        starts=datetime.time(1),
        ends=datetime.time(4),
        by=world.manager,
    )
    found = slots(world, exercise, therapist=ben, day=datetime.date(2027, 3, 14))
    # 01:00 EST to 04:00 EDT is two hours: 60-minute slots from 01:00 to 03:00 local.
    assert local_starts(found) == ["Sun 01:00", "Sun 01:15", "Sun 01:30", "Sun 01:45", "Sun 03:00"]
    assert found[-1].ends_at - found[0].starts_at == datetime.timedelta(hours=2)


def test_nothing_in_the_past(world, calendar):
    ana, _, needling, _ = calendar
    with time_machine.travel(at(MONDAY, 10, 5), tick=False):
        starts = local_starts(slots(world, needling, therapist=ana))
    assert starts[0] == "Mon 10:15"


def test_a_month_of_search_costs_the_same_queries_for_few_bookings_or_many(world, calendar):
    ana, _, needling, _ = calendar

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            slots(world, needling, days=31)
        return len(captured)

    few = queries()
    for week in range(4):
        for hour in (8, 9, 10):
            services.book_session(
                clinic=world.kelowna,
                therapist=ana,
                patient=PatientFactory(home_clinic=world.kelowna),
                starts_at=at(MONDAY + datetime.timedelta(weeks=week), hour),
                by=world.front_desk,
            )
    assert queries() == few <= 6


def test_a_night_shift_is_two_rows_that_meet_at_midnight(world, calendar):
    _, ben, _, exercise = calendar
    for weekday, starts, ends in (
        (0, datetime.time(22), datetime.time(23, 59)),
        (1, datetime.time(), datetime.time(2)),
    ):
        services.add_working_hours(
            clinic=world.kelowna,
            therapist=ben,
            weekday=weekday,
            starts=starts,
            ends=ends,
            by=world.manager,
        )
    found = local_starts(slots(world, exercise, therapist=ben, days=2))
    assert {"Mon 22:45", "Mon 23:00", "Mon 23:30", "Tue 00:00", "Tue 01:00"} <= set(found)
    assert "Tue 01:15" not in found
    session = services.book_session(
        clinic=world.kelowna,
        therapist=ben,
        patient=PatientFactory(home_clinic=world.kelowna),
        starts_at=at(MONDAY, 23, 30),
        appointment_type=exercise,
        by=world.front_desk,
    )
    assert session.outside_hours_reason == ""


# --- Weekly series ----------------------------------------------------------------------


def test_a_weekly_series_keeps_its_time_on_the_clinics_clock_across_the_clock_change(
    world, calendar
):
    ana, _, needling, _ = calendar
    patient = PatientFactory(home_clinic=world.kelowna)
    sessions = services.book_weekly(
        clinic=world.kelowna,
        therapist=ana,
        patient=patient,
        starts_at=at(datetime.date(2026, 10, 26), 10),
        weeks=3,
        appointment_type=needling,
        by=world.front_desk,
    )
    assert local_starts(sessions) == ["Mon 10:00", "Mon 10:00", "Mon 10:00"]
    assert [session.starts_at.hour for session in sessions] == [14, 15, 15]  # EDT, then EST
    assert len({session.series for session in sessions}) == 1
    assert sessions[0].series is not None


def test_a_series_with_a_week_that_cannot_be_booked_books_none_and_lists_each(world, calendar):
    ana, _, needling, _ = calendar
    services.book_session(
        clinic=world.kelowna,
        therapist=ana,
        patient=PatientFactory(home_clinic=world.kelowna),
        starts_at=at(datetime.date(2026, 11, 2), 10, 15),
        by=world.front_desk,
    )
    services.add_schedule_change(
        clinic=world.kelowna,
        kind=ChangeKind.CLOSED,
        starts_at=at(datetime.date(2026, 11, 9), 0),
        ends_at=at(datetime.date(2026, 11, 10), 0),
        reason="Staff day",
        by=world.manager,
    )
    patient = PatientFactory(home_clinic=world.kelowna)
    with pytest.raises(SeriesRefused) as refused:
        services.book_weekly(
            clinic=world.kelowna,
            therapist=ana,
            patient=patient,
            starts_at=at(datetime.date(2026, 10, 26), 10),
            weeks=4,
            appointment_type=needling,
            by=world.front_desk,
        )
    message = refused.value.message
    assert message.startswith("2 of the 4 weeks cannot be booked, so none was:")
    assert "Mon 2 Nov 2026 10:00: Ana Alvarez already has a session 10:15 to 10:45" in message
    assert "Mon 9 Nov 2026 10:00: Kelowna is closed then" in message
    assert [when for when, _ in refused.value.refused] == [
        at(datetime.date(2026, 11, 2), 10),
        at(datetime.date(2026, 11, 9), 10),
    ]
    assert not TreatmentSession.objects.filter(patient=patient).exists()


def test_the_api_books_a_series_or_says_which_weeks_cannot_be(world, calendar, client_of):
    ana, _, needling, _ = calendar
    desk = client_of(world.front_desk)
    body = {
        "clinic": str(world.kelowna.pk),
        "therapist": str(ana.pk),
        "patient": str(PatientFactory(home_clinic=world.kelowna).pk),
        "starts_at": "2026-10-19T09:00:00-04:00",
        "appointment_type": str(needling.pk),
        "weeks": 2,
    }
    made = desk.post(reverse("session-weekly"), body, content_type="application/json")
    assert made.status_code == 201, made.content
    assert [row["starts_at"] for row in made.json()] == [
        "2026-10-19T13:00:00Z",
        "2026-10-26T13:00:00Z",
    ]
    again = desk.post(reverse("session-weekly"), body, content_type="application/json")
    assert again.status_code == 400
    assert again.json()["code"] == "series_refused"
    assert len(again.json()["weeks_refused"]) == 2
    too_long = desk.post(
        reverse("session-weekly"), {**body, "weeks": 53}, content_type="application/json"
    )
    assert too_long.status_code == 400 and "weeks" in too_long.json()["fields"]
    assert TreatmentSession.objects.filter(therapist=ana).count() == 2
