"""The day's calendar: therapists as columns, quarter hours as rows, each booking one cell
over its quarter hours with its readiness, each free quarter hour of working time a link to
book it; read in the same queries for one booking or many."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.urls import reverse

from clinics.models import Role
from patients.models import RecordRead
from sessions import calendar, services
from sessions.models import TreatmentSession
from tests.clinics.factories import staff
from tests.patients.factories import PatientFactory

VANCOUVER = zoneinfo.ZoneInfo("America/Vancouver")
NOW = datetime.datetime(2026, 10, 18, 12, tzinfo=VANCOUVER)  # a Sunday
MONDAY = datetime.date(2026, 10, 19)


def at(hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(MONDAY, datetime.time(hour, minute), tzinfo=VANCOUVER)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def monday(world):
    """Priya works 08:00-12:00, with a 45-minute needling session at 09:00 and one without
    needling at 10:30; Ana keeps no hours."""
    services.add_working_hours(
        clinic=world.kelowna,
        therapist=world.therapist,
        weekday=0,
        starts=datetime.time(8),
        ends=datetime.time(12),
        by=world.manager,
    )
    ana = staff(Role.THERAPIST, clinic=world.kelowna, full_name="Ana Alvarez")
    needling = services.create_appointment_type(
        organization=world.organization,
        by=world.org_admin,
        name="Follow-up",
        minutes=45,
        colour="#aa3355",
    )
    book = {"clinic": world.kelowna, "therapist": world.therapist, "by": world.front_desk}
    first = services.book_session(
        patient=PatientFactory(home_clinic=world.kelowna, first_name="Ivy", last_name="Stone"),
        starts_at=at(9),
        appointment_type=needling,
        **book,
    )
    second = services.book_session(
        patient=PatientFactory(home_clinic=world.kelowna, first_name="Max", last_name="Reed"),
        starts_at=at(10, 30),
        needling=False,
        **book,
    )
    return ana, first, second


def page(client):
    return client.get(reverse("sessions:calendar"), {"date": MONDAY.isoformat()})


def test_each_therapist_a_column_each_booking_a_cell_over_its_quarter_hours(
    world, client_of, monday
):
    ana, first, second = monday
    html = page(client_of(world.front_desk)).content.decode()
    assert f'<th scope="col">{world.therapist.get_full_name()}</th>' in html
    assert '<th scope="col">Ana Alvarez</th>' in html
    assert '<td rowspan="3" class="calendar-booking">' in html  # 09:00-09:45
    assert '<td rowspan="2" class="calendar-booking">' in html  # 10:30-11:00
    assert "Ivy Stone" in html and "09:00-09:45 · Follow-up" in html
    assert "10:30-11:00 · without needling" in html
    assert f".type-{first.appointment_type_id.hex} {{ border-left-color: #aa3355; }}" in html
    # Readiness, never the clinical facts: the front desk sees what is needed (neither
    # patient is screened; Max is booked without needling, so needs nothing for it).
    ivy = html[html.index("Ivy Stone") : html.index("Max Reed")]
    assert "Screening needed" in ivy
    assert "Screening needed" not in html[html.index("Max Reed") :]
    # Priya's free quarter hours link to booking them; Ana keeps no hours, so none.
    book = reverse("sessions:book")
    assert f"{book}?date=2026-10-19&amp;time=08:00&amp;therapist={world.therapist.pk}" in html
    assert f"time=09:15&amp;therapist={world.therapist.pk}" not in html  # under the booking
    assert f"therapist={ana.pk}" not in html
    # Both patients shown are in the access log, once each: one read naming the two.
    (shown,) = RecordRead.objects.all()
    assert sorted(shown.patient_ids) == sorted([first.patient_id, second.patient_id])


def test_a_free_slot_books_with_the_day_time_and_therapist_chosen(world, client_of, monday):
    desk = client_of(world.front_desk)
    patient = PatientFactory(home_clinic=world.kelowna, first_name="Ada", last_name="Quinn")
    chosen = {"date": "2026-10-19", "time": "08:00", "therapist": str(world.therapist.pk)}
    search = desk.get(reverse("sessions:book"), {**chosen, "q": "Ada Quinn"}).content.decode()
    assert 'name="time" value="08:00"' in search
    link = f"?patient={patient.pk}&amp;date=2026-10-19&amp;time=08%3A00&amp;therapist="
    assert link in search
    form = desk.get(reverse("sessions:book"), {**chosen, "patient": str(patient.pk)})
    html = form.content.decode()
    assert 'value="08:00"' in html
    assert f'<option value="{world.therapist.pk}" selected>' in html


def test_the_calendar_costs_the_same_queries_for_two_bookings_or_ten(
    world, client_of, monday, django_assert_max_num_queries
):
    client = client_of(world.front_desk)
    with django_assert_max_num_queries(40) as two:
        page(client)
    for hour in (8, 11):
        for minute in (0, 15, 30):
            services.book_session(
                clinic=world.kelowna,
                therapist=staff(Role.THERAPIST, clinic=world.kelowna),
                patient=PatientFactory(home_clinic=world.kelowna),
                starts_at=at(hour, minute),
                length=datetime.timedelta(minutes=15),
                by=world.front_desk,
            )
    with django_assert_max_num_queries(len(two.captured_queries)):
        response = page(client)
    assert response.content.decode().count('class="calendar-booking"') == 8


# --- The week -------------------------------------------------------------------------


def week(client, day=MONDAY):
    return client.get(reverse("sessions:calendar_week"), {"date": day.isoformat()})


def free(starts: str, ends: str) -> str:
    return f"Free {starts}\N{EN DASH}{ends}"


def cell(html: str, day: str, therapist: str) -> str:
    """`therapist`'s cell in the row of `day` ("Mon 19 Oct")."""
    head = html[html.index("<thead>") : html.index("</thead>")]
    names = [part.split("</th>")[0] for part in head.split('<th scope="col">')[2:]]
    row = html[html.index(f">{day}</a></th>") :]
    row = row[: row.index("</tr>")]
    cells = row.split('<td class="calendar-week-day">')[1:]
    return cells[names.index(therapist)].split("</td>")[0]


def test_the_weeks_patients_are_whole_records_read_in_one_go(world, monday):
    _ana, first, _second = monday
    week = calendar.week_of(world.front_desk, clinic=world.kelowna, monday=MONDAY)
    shown = next(booking for booking in week.sessions if booking.pk == first.pk).patient
    # Read with the bookings (name, birth date, clinic); anything else loads when asked for.
    assert (shown, shown.full_name, shown.home_clinic) == (
        first.patient,
        first.patient.full_name,
        world.kelowna,
    )
    assert (shown.email, shown.phone) == (first.patient.email, first.patient.phone)


def test_the_week_shows_each_therapists_days_bookings_and_free_time(world, client_of, monday):
    ana, first, second = monday
    thursday = services.book_session(
        clinic=world.kelowna,
        therapist=ana,
        patient=PatientFactory(home_clinic=world.kelowna, first_name="Lea", last_name="Roy"),
        starts_at=at(14) + datetime.timedelta(days=3),
        by=world.front_desk,
    )
    TreatmentSession.objects.filter(pk=first.pk).update(confirmed_at=NOW)  # from its reminder
    response = week(client_of(world.front_desk), MONDAY + datetime.timedelta(days=2))
    html = response.content.decode()
    assert "Week of 19 October at Kelowna" in html
    priya = world.therapist.get_full_name()
    monday_cell = cell(html, "Mon 19 Oct", priya)
    # In order: free from 08:00 to the first booking, Ivy, free between, Max, free to noon.
    order = [free("08:00", "09:00"), "09:00 Ivy Stone", free("09:45", "10:30")]
    order += ["10:30 Max Reed", free("11:00", "12:00")]
    assert [monday_cell.index(text) for text in order] == sorted(
        monday_cell.index(text) for text in order
    )
    assert "Follow-up · confirmed" in monday_cell and "without needling" in monday_cell
    assert "Screening needed" in monday_cell  # readiness: Ivy needs screening to be needled
    # Priya works Mondays only; Ana keeps no hours but has Thursday's booking.
    assert "Free" not in cell(html, "Tue 20 Oct", priya)
    assert "14:00 Lea Roy" in cell(html, "Thu 22 Oct", "Ana Alvarez")
    book = reverse("sessions:book")
    assert f"{book}?date=2026-10-19&amp;time=09:45&amp;therapist={world.therapist.pk}" in html
    # Each booked session can be moved: dragged, or its Move button (shown by the script).
    move = reverse("sessions:move", args=[first.pk])
    assert f'draggable="true" data-move="{move}"' in html
    assert f'data-moves="{move}" hidden>Move' in html
    assert 'data-from="09:45" data-until="10:30"' in html
    assert {pk for read in RecordRead.objects.all() for pk in read.patient_ids} == {
        first.patient_id,
        second.patient_id,
        thursday.patient_id,
    }
    later = week(client_of(world.front_desk), MONDAY + datetime.timedelta(days=7)).content
    assert "Ivy Stone" not in later.decode()


def test_the_week_shows_no_readiness_for_days_gone_and_no_free_time_when_closed(
    world, client_of, monday
):
    services.add_schedule_change(
        clinic=world.kelowna,
        kind="closed",
        starts_at=at(11),
        ends_at=at(12),
        reason="Fire drill",
        by=world.manager,
    )
    name = world.therapist.get_full_name()
    closed = cell(week(client_of(world.front_desk)).content.decode(), "Mon 19 Oct", name)
    assert free("09:45", "10:30") in closed  # the morning still open, on Sunday
    assert "Free 11:00" not in closed  # the clinic closed from 11:00
    with time_machine.travel(NOW + datetime.timedelta(days=3), tick=False):  # Wednesday
        html = week(client_of(world.front_desk)).content.decode()
    monday_cell = cell(html, "Mon 19 Oct", name)
    assert "Ivy Stone" in monday_cell
    assert "Screening needed" not in monday_cell  # that day has gone


def test_the_week_costs_the_same_queries_for_two_bookings_or_twenty(
    world, client_of, monday, django_assert_max_num_queries
):
    client = client_of(world.front_desk)
    with django_assert_max_num_queries(40) as two:
        week(client)
    for day in range(5):
        for hour in (8, 14):
            services.book_session(
                clinic=world.kelowna,
                therapist=staff(Role.THERAPIST, clinic=world.kelowna),
                patient=PatientFactory(home_clinic=world.kelowna),
                starts_at=at(hour) + datetime.timedelta(days=day),
                by=world.front_desk,
            )
    with django_assert_max_num_queries(len(two.captured_queries)):
        response = week(client)
    assert response.content.decode().count('class="calendar-entry"') == 12


def test_a_booking_moved_from_the_calendar_returns_to_it(world, client_of, monday):
    _, first, _ = monday
    desk = client_of(world.front_desk)
    back = reverse("sessions:calendar_week") + "?date=2026-10-19"
    moved = desk.post(
        reverse("sessions:move", args=[first.pk]),
        {
            "move-day": "2026-10-19",
            "move-time": "11:00",
            "move-therapist": str(world.therapist.pk),
            "next": back,
        },
    )
    assert (moved.status_code, moved["Location"]) == (302, back)
    first.refresh_from_db()
    assert first.starts_at == at(11)
    shown = desk.get(back).content.decode()
    assert "Moved Ivy Stone to Monday 19 October, 11:00" in shown
    # Onto Max's time: refused on the session's page with the reason, nothing moved.
    clash = desk.post(
        reverse("sessions:move", args=[first.pk]),
        {
            "move-day": "2026-10-19",
            "move-time": "10:30",
            "move-therapist": str(world.therapist.pk),
            "next": back,
        },
    )
    assert clash.status_code in (400, 409)
    assert "already has a session 10:30 to 11:00" in clash.content.decode()
    first.refresh_from_db()
    assert first.starts_at == at(11)
    # A link elsewhere is not followed: back to the session's page.
    away = desk.post(
        reverse("sessions:move", args=[first.pk]),
        {
            "move-day": "2026-10-19",
            "move-time": "08:00",
            "move-therapist": str(world.therapist.pk),
            "next": "https://evil.test/",
        },
    )
    assert away["Location"] == reverse("sessions:detail", args=[first.pk])


def test_the_week_the_clocks_go_back_keeps_the_clinics_hours(world, client_of):
    """Toronto's clocks go back on Sunday 1 November 2026: that day's hours and bookings are
    still on the clinic's clock, the day an hour longer."""
    world.kelowna.timezone = "America/Toronto"
    world.kelowna.save(update_fields=["timezone"])
    toronto = world.kelowna.zone
    for weekday in (5, 6):
        services.add_working_hours(
            clinic=world.kelowna,
            therapist=world.therapist,
            weekday=weekday,
            starts=datetime.time(8),
            ends=datetime.time(12),
            by=world.manager,
        )
    services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=PatientFactory(home_clinic=world.kelowna, first_name="Noa", last_name="Berg"),
        starts_at=datetime.datetime(2026, 11, 1, 9, tzinfo=toronto),
        by=world.front_desk,
    )
    html = week(client_of(world.front_desk), datetime.date(2026, 10, 28)).content.decode()
    name = world.therapist.get_full_name()
    assert free("08:00", "12:00") in cell(html, "Sat 31 Oct", name)
    sunday = cell(html, "Sun 1 Nov", name)
    assert [free("08:00", "09:00") in sunday, "09:00 Noa Berg" in sunday] == [True, True]
    assert free("09:30", "12:00") in sunday


def test_time_gone_is_not_free_in_the_day_or_the_week(world, client_of, monday):
    with time_machine.travel(at(10, 40), tick=False):  # Monday, 10:40 in Kelowna
        desk = client_of(world.front_desk)
        day, week_html = page(desk).content.decode(), week(desk).content.decode()
    book = reverse("sessions:book")
    therapist = f"&amp;therapist={world.therapist.pk}"
    assert f"{book}?date=2026-10-19&amp;time=08:00{therapist}" not in day
    assert f"{book}?date=2026-10-19&amp;time=11:00{therapist}" in day
    monday_cell = cell(week_html, "Mon 19 Oct", world.therapist.get_full_name())
    assert free("08:00", "09:00") not in monday_cell
    assert free("11:00", "12:00") in monday_cell
