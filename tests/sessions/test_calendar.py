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
from sessions import services
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
    # Both patients shown are in the access log, once each.
    assert set(RecordRead.objects.values_list("patient", flat=True)) == {
        first.patient_id,
        second.patient_id,
    }


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
