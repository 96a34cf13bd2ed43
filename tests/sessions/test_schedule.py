"""Appointment types, working hours and schedule changes: who keeps them, what each refuses,
and what they do to a booking (the free slots are in test_slots.py)."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.urls import reverse

from clinics.models import Membership, Role
from sessions import services
from sessions.exceptions import BookingRefused, NotPermitted, OutsideWorkingHours
from sessions.models import (
    AppointmentType,
    ChangeKind,
    ScheduleChange,
    TreatmentSession,
    WorkingHours,
)
from sessions.services import ScheduleInvalid
from tests.patients.factories import PatientFactory

VANCOUVER = zoneinfo.ZoneInfo("America/Vancouver")
NOW = datetime.datetime(2026, 10, 18, 12, tzinfo=VANCOUVER)  # a Sunday
MONDAY = datetime.date(2026, 10, 19)


def at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=VANCOUVER)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def hours(world, therapist=None, *, weekday=0, starts=8, ends=12, clinic=None, by=None):
    return services.add_working_hours(
        clinic=clinic or world.kelowna,
        therapist=therapist or world.therapist,
        weekday=weekday,
        starts=datetime.time(starts),
        ends=datetime.time(ends),
        by=by or world.manager,
    )


# --- Appointment types ----------------------------------------------------------------


def test_an_organisation_admin_adds_a_type_and_nobody_else_may(world):
    made = services.create_appointment_type(
        organization=world.organization,
        by=world.org_admin,
        name="  Initial   assessment ",
        minutes=60,
        colour="#AA3355",
    )
    assert (made.name, made.minutes, made.needling, made.colour) == (
        "Initial assessment",
        60,
        True,
        "#aa3355",
    )
    for person in (world.manager, world.therapist, world.front_desk):
        with pytest.raises(NotPermitted, match="Organisation admins keep the appointment types"):
            services.create_appointment_type(
                organization=world.organization, by=person, name="Other", minutes=30
            )
    assert AppointmentType.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "", "minutes": 30}, "name", "name: name the appointment type"),
        ({"name": "Short", "minutes": 4}, "minutes", "minutes: an appointment lasts 5 to 240"),
        ({"name": "Long", "minutes": 241}, "minutes", "an appointment lasts 5 to 240 minutes"),
        ({"name": "Odd", "minutes": True}, "minutes", "an appointment lasts"),
        ({"name": "Red", "minutes": 30, "colour": "red"}, "colour", "colour: give # and six"),
        ({"minutes": 30}, "name", "name: this field is required"),
        ({"name": "Follow-up", "minutes": 30}, "name", "already has an appointment type named"),
    ],
)
def test_a_type_that_cannot_be_is_refused_naming_its_field(world, fields, field, message):
    services.create_appointment_type(
        organization=world.organization, by=world.org_admin, name="Follow-up", minutes=30
    )
    with pytest.raises(ScheduleInvalid, match=message) as refused:
        services.create_appointment_type(
            organization=world.organization, by=world.org_admin, **fields
        )
    assert refused.value.field == field
    assert AppointmentType.objects.count() == 1


def test_the_api_keeps_types_and_says_what_is_wrong(world, client_of):
    admin = client_of(world.org_admin)
    url = reverse("appointment-type-list")
    made = admin.post(
        url,
        {"organization": str(world.organization.pk), "name": "Dry needling", "minutes": 30},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    assert made.json()["needling"] is True
    refused = admin.post(
        url,
        {"organization": str(world.organization.pk), "name": "Dry needling", "minutes": 30},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert "already has an appointment type named Dry needling" in refused.json()["detail"]
    changed = admin.patch(
        reverse("appointment-type-detail", args=[made.json()["id"]]),
        {"is_active": False},
        content_type="application/json",
    )
    assert changed.status_code == 200 and changed.json()["is_active"] is False
    listed = client_of(world.front_desk).get(url).json()["results"]
    assert [row["name"] for row in listed] == ["Dry needling"]
    denied = client_of(world.front_desk).post(
        url,
        {"organization": str(world.organization.pk), "name": "Mine", "minutes": 30},
        content_type="application/json",
    )
    assert denied.status_code == 400
    assert "organization" in denied.json()["fields"]


# --- Working hours ----------------------------------------------------------------------


def test_a_therapist_works_at_one_clinic_at_a_time(world):
    shared = world.therapist
    Membership.objects.create(
        organization=world.organization, clinic=world.vernon, user=shared, role=Role.THERAPIST
    )
    hours(world, shared, starts=8, ends=12)
    hours(world, shared, starts=12, ends=16, clinic=world.vernon, by=world.org_admin)
    clash = r"already works on Monday at that time \(\d\d:00-\d\d:00 at (Kelowna|Vernon)\)"
    with pytest.raises(ScheduleInvalid, match=clash) as refused:
        hours(world, shared, starts=11, ends=13)
    assert refused.value.field == "starts"
    hours(world, shared, weekday=1, starts=11, ends=13)  # Tuesday: free
    assert WorkingHours.objects.filter(therapist=shared).count() == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"starts": 12, "ends": 8}, "ends: working hours end after they start"),
        ({"starts": 8, "ends": 8}, "ends: working hours end after they start"),
        ({"weekday": 7}, "weekday: 0 \\(Monday\\) to 6 \\(Sunday\\)"),
    ],
)
def test_hours_that_cannot_be_are_refused(world, kwargs, message):
    with pytest.raises(ScheduleInvalid, match=message):
        hours(world, **kwargs)
    assert not WorkingHours.objects.exists()


def test_only_the_clinics_managers_keep_its_hours(world):
    with pytest.raises(ScheduleInvalid, match="is not a therapist at Kelowna"):
        hours(world, world.front_desk)
    for person in (world.therapist, world.front_desk):
        with pytest.raises(NotPermitted, match="managers of Kelowna keep its calendar"):
            hours(world, by=person)
    with pytest.raises(NotPermitted):  # the Kelowna manager at Vernon
        hours(world, world.vernon_therapist, clinic=world.vernon)
    assert not WorkingHours.objects.exists()


def test_the_api_adds_changes_and_removes_hours(world, client_of):
    manager = client_of(world.manager)
    made = manager.post(
        reverse("availability-list"),
        {
            "clinic": str(world.kelowna.pk),
            "therapist": str(world.therapist.pk),
            "weekday": 2,
            "starts": "08:30",
            "ends": "12:00",
        },
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    assert made.json()["therapist"]["full_name"] == world.therapist.get_full_name()
    detail = reverse("availability-detail", args=[made.json()["id"]])
    json = "application/json"
    wrong = manager.put(detail, {"starts": "13:00", "ends": "12:00"}, content_type=json)
    assert wrong.status_code == 400
    assert wrong.json()["fields"] == {"ends": [wrong.json()["detail"]]}
    moved = manager.put(detail, {"starts": "09:00", "ends": "12:00"}, content_type=json)
    assert moved.json()["starts"] == "09:00"
    assert client_of(world.front_desk).delete(detail).status_code == 403
    assert manager.delete(detail).status_code == 204
    assert not WorkingHours.objects.exists()


# --- Schedule changes -------------------------------------------------------------------


def test_a_closure_is_the_clinics_and_an_absence_names_its_therapist(world):
    base = {
        "clinic": world.kelowna,
        "starts_at": at(MONDAY, 0),
        "ends_at": at(MONDAY, 23),
        "by": world.manager,
    }
    with pytest.raises(ScheduleInvalid, match="a closure is the whole clinic's") as refused:
        services.add_schedule_change(kind=ChangeKind.CLOSED, therapist=world.therapist, **base)
    assert refused.value.field == "therapist"
    with pytest.raises(ScheduleInvalid, match="therapist: say who is away"):
        services.add_schedule_change(kind=ChangeKind.AWAY, **base)
    with pytest.raises(ScheduleInvalid, match="ends_at: a change ends after it starts"):
        services.add_schedule_change(kind=ChangeKind.CLOSED, **{**base, "ends_at": at(MONDAY, 0)})
    assert not ScheduleChange.objects.exists()
    services.add_schedule_change(kind=ChangeKind.CLOSED, reason="Thanksgiving", **base)
    assert ScheduleChange.objects.get().recorded_by == world.manager


def test_the_api_records_an_absence_and_refuses_a_time_without_its_offset(world, client_of):
    manager = client_of(world.manager)
    body = {
        "clinic": str(world.kelowna.pk),
        "kind": "away",
        "therapist": str(world.therapist.pk),
        "starts_at": "2026-10-19T00:00:00-07:00",
        "ends_at": "2026-10-20T00:00:00-07:00",
        "reason": "Sick",
    }
    made = manager.post(reverse("availability-change-list"), body, content_type="application/json")
    assert made.status_code == 201, made.content
    naive = manager.post(
        reverse("availability-change-list"),
        {**body, "starts_at": "2026-10-19T00:00:00"},
        content_type="application/json",
    )
    assert naive.status_code == 400
    assert "UTC offset" in naive.json()["fields"]["starts_at"][0]
    assert ScheduleChange.objects.count() == 1


# --- What they do to a booking ----------------------------------------------------------


def test_a_type_gives_the_booking_its_length_and_needling(world):
    exercise = services.create_appointment_type(
        organization=world.organization,
        by=world.org_admin,
        name="Exercise",
        minutes=50,
        needling=False,
    )
    session = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=PatientFactory(home_clinic=world.kelowna),
        starts_at=at(MONDAY, 9),
        appointment_type=exercise,
        by=world.front_desk,
    )
    assert session.ends_at - session.starts_at == datetime.timedelta(minutes=50)
    assert session.needling is False
    assert session.appointment_type == exercise


def test_a_needling_type_needs_a_credential_current_on_the_day(world):
    needling = services.create_appointment_type(
        organization=world.organization, by=world.org_admin, name="Needling", minutes=30
    )
    Membership.objects.filter(user=world.therapist, role=Role.THERAPIST).update(
        credential_expires_on=MONDAY
    )
    patient = PatientFactory(home_clinic=world.kelowna)
    book = {
        "clinic": world.kelowna,
        "therapist": world.therapist,
        "patient": patient,
        "appointment_type": needling,
        "by": world.front_desk,
    }
    services.book_session(starts_at=at(MONDAY, 9), **book)
    expired = "no dry-needling credential current on 20 October 2026"
    with pytest.raises(BookingRefused, match=expired) as refused:
        services.book_session(starts_at=at(MONDAY + datetime.timedelta(days=1), 9), **book)
    assert refused.value.field == "appointment_type"
    assert TreatmentSession.objects.filter(patient=patient).count() == 1


def test_outside_working_hours_a_booking_needs_a_reason(world):
    hours(world, starts=8, ends=12)
    hours(world, starts=13, ends=17)
    patient = PatientFactory(home_clinic=world.kelowna)
    book = {
        "clinic": world.kelowna,
        "therapist": world.therapist,
        "patient": patient,
        "by": world.front_desk,
    }
    services.book_session(starts_at=at(MONDAY, 11, 30), **book)  # ends at 12:00: inside
    hours_said = r"does not work at Kelowna then \(Monday 08:00-12:00, 13:00-17:00\)"
    with pytest.raises(OutsideWorkingHours, match=hours_said) as refused:
        services.book_session(starts_at=at(MONDAY, 12, 15), **book)
    assert refused.value.field == "starts_at"
    with pytest.raises(OutsideWorkingHours, match=r"\(not on Tuesdays\)"):
        services.book_session(starts_at=at(MONDAY + datetime.timedelta(days=1), 9), **book)
    services.add_schedule_change(
        clinic=world.kelowna,
        kind=ChangeKind.AWAY,
        therapist=world.therapist,
        starts_at=at(MONDAY, 15),
        ends_at=at(MONDAY, 17),
        by=world.manager,
    )
    with pytest.raises(OutsideWorkingHours):
        services.book_session(starts_at=at(MONDAY, 15), **book)
    late = services.book_session(
        starts_at=at(MONDAY, 12, 15), outside_hours_reason=" Only time she can  come ", **book
    )
    assert late.outside_hours_reason == "Only time she can come"
    assert TreatmentSession.objects.filter(patient=patient).count() == 2


def test_a_therapist_without_hours_recorded_is_never_outside_them(world):
    session = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=PatientFactory(home_clinic=world.kelowna),
        starts_at=at(MONDAY, 21),
        by=world.front_desk,
    )
    assert session.outside_hours_reason == ""


def test_the_api_books_with_a_type_and_explains_outside_hours(world, client_of):
    hours(world, starts=8, ends=12)
    needling = services.create_appointment_type(
        organization=world.organization, by=world.org_admin, name="Needling", minutes=45
    )
    desk = client_of(world.front_desk)
    body = {
        "clinic": str(world.kelowna.pk),
        "therapist": str(world.therapist.pk),
        "patient": str(PatientFactory(home_clinic=world.kelowna).pk),
        "starts_at": "2026-10-19T13:00:00-07:00",
        "appointment_type": str(needling.pk),
    }
    refused = desk.post(reverse("session-list"), body, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["code"] == "outside_working_hours"
    assert "fields" in refused.json() and "starts_at" in refused.json()["fields"]
    booked = desk.post(
        reverse("session-list"),
        {**body, "outside_hours_reason": "Works late for this patient"},
        content_type="application/json",
    )
    assert booked.status_code == 201, booked.content
    assert booked.json()["appointment_type"] == str(needling.pk)
    assert booked.json()["ends_at"].startswith("2026-10-19T20:45")


def test_the_api_finds_slots_and_names_what_is_missing(world, client_of):
    hours(world, starts=8, ends=10)
    needling = services.create_appointment_type(
        organization=world.organization, by=world.org_admin, name="Needling", minutes=60
    )
    desk = client_of(world.front_desk)
    found = desk.get(
        reverse("slot-list"),
        {"clinic": str(world.kelowna.pk), "appointment_type": str(needling.pk), "days": 2},
    )
    assert found.status_code == 200, found.content
    assert [slot["starts_at"] for slot in found.json()] == [
        "2026-10-19T15:00:00Z",
        "2026-10-19T15:15:00Z",
        "2026-10-19T15:30:00Z",
        "2026-10-19T15:45:00Z",
        "2026-10-19T16:00:00Z",
    ]
    assert found.json()[0]["therapist"]["id"] == str(world.therapist.pk)
    missing = desk.get(reverse("slot-list"), {"appointment_type": str(needling.pk), "days": 99})
    assert missing.status_code == 400
    assert set(missing.json()["fields"]) == {"clinic", "days"}
    other = desk.get(
        reverse("slot-list"),
        {"clinic": str(world.halifax.pk), "appointment_type": str(needling.pk)},
    )
    assert other.status_code == 400
    assert "clinic" in other.json()["fields"]


def test_the_booking_page_offers_the_types_and_asks_why_outside_the_hours(world, client_of):
    hours(world, starts=8, ends=12)
    exercise = services.create_appointment_type(
        organization=world.organization,
        by=world.org_admin,
        name="Exercise review",
        minutes=40,
        needling=False,
    )
    patient = PatientFactory(home_clinic=world.kelowna)
    desk = client_of(world.front_desk)
    assert "Exercise review (40 min)" in desk.get(reverse("sessions:book")).content.decode()
    form = {
        "patient": str(patient.pk),
        "therapist": str(world.therapist.pk),
        "day": MONDAY.isoformat(),
        "time": "12:30",
        "length_minutes": "30",
        "needling": "on",
        "appointment_type": str(exercise.pk),
    }
    refused = desk.post(reverse("sessions:book"), form)
    assert refused.status_code == 200
    assert "does not work at Kelowna then (Monday 08:00-12:00)" in refused.content.decode()
    assert not TreatmentSession.objects.filter(patient=patient).exists()
    booked = desk.post(reverse("sessions:book"), {**form, "outside_hours_reason": "After school"})
    session = TreatmentSession.objects.get(patient=patient)
    assert booked.status_code == 302
    assert (session.appointment_type, session.needling) == (exercise, False)
    assert session.ends_at - session.starts_at == datetime.timedelta(minutes=40)
    assert session.outside_hours_reason == "After school"


# --- The admin --------------------------------------------------------------------------


def admin_page(name: str, *args) -> str:
    return reverse(f"admin:treatment_sessions_{name}", args=args)


def test_a_manager_keeps_working_hours_in_the_admin_with_the_services_words(world, client_of):
    manager = client_of(world.manager)
    form = manager.get(admin_page("workinghours_add")).content.decode()
    # Only the therapists of the manager's clinic are offered.
    assert world.therapist.get_full_name() in form
    assert world.vernon_therapist.get_full_name() not in form
    fields = {
        "clinic": str(world.kelowna.pk),
        "therapist": str(world.therapist.pk),
        "weekday": "0",
        "starts": "08:00",
        "ends": "12:00",
    }
    assert manager.post(admin_page("workinghours_add"), fields).status_code == 302
    overlap = manager.post(admin_page("workinghours_add"), {**fields, "starts": "11:00"})
    assert overlap.status_code == 200
    assert (
        "already works on Monday at that time (08:00-12:00 at Kelowna)" in overlap.content.decode()
    )
    hours = WorkingHours.objects.get()
    assert (
        manager.post(admin_page("workinghours_delete", hours.pk), {"post": "yes"}).status_code
        == 302
    )
    assert not WorkingHours.objects.exists()


def test_an_org_admin_adds_a_type_in_the_admin_and_a_manager_only_reads_them(world, client_of):
    admin = client_of(world.org_admin)
    made = admin.post(
        admin_page("appointmenttype_add"),
        {
            "organization": str(world.organization.pk),
            "name": "Assessment",
            "minutes": "60",
            "needling": "on",
            "colour": "#336699",
            "is_active": "on",
        },
    )
    assert made.status_code == 302, made.content.decode()
    kind = AppointmentType.objects.get()
    assert (
        client_of(world.manager).get(admin_page("appointmenttype_change", kind.pk)).status_code
        == 200
    )
    refused = client_of(world.manager).post(
        admin_page("appointmenttype_change", kind.pk), {"name": "Mine", "minutes": "5"}
    )
    assert refused.status_code == 403
    kind.refresh_from_db()
    assert kind.name == "Assessment"


def test_a_closure_with_a_therapist_is_refused_in_the_admin(world, client_of):
    manager = client_of(world.manager)
    response = manager.post(
        admin_page("schedulechange_add"),
        {
            "clinic": str(world.kelowna.pk),
            "kind": "closed",
            "therapist": str(world.therapist.pk),
            "starts_at_0": "2026-10-19",
            "starts_at_1": "00:00",
            "ends_at_0": "2026-10-20",
            "ends_at_1": "00:00",
        },
    )
    assert response.status_code == 200
    assert "a closure is the whole clinic&#x27;s" in response.content.decode()
    assert not ScheduleChange.objects.exists()
