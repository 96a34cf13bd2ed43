"""Appointment types, working hours and schedule changes: who keeps them, what each refuses,
and what they do to a booking (the free slots are in test_slots.py)."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from clinics import services as clinic_services
from clinics.models import Membership, Role
from sessions import availability, services
from sessions.exceptions import (
    BookingRefused,
    DoubleBooked,
    NotPermitted,
    OutsideWorkingHours,
    SessionStateRefused,
)
from sessions.models import (
    AppointmentType,
    BookingSettings,
    ChangeKind,
    ScheduleChange,
    TreatmentSession,
    WorkingHours,
)
from sessions.services import ScheduleInvalid
from tests.clinics.factories import staff
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
        ({"name": "FOLLOW-UP", "minutes": 45}, "name", "already has an appointment type named"),
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


def test_booking_settings_hold_their_defaults_until_an_admin_saves_them(world, client_of):
    defaults = services.booking_settings_of(world.organization)
    assert (defaults.reminder_hours, defaults.notice_hours, defaults.online_days_ahead) == (
        24,
        24,
        60,
    )
    assert BookingSettings.objects.count() == 0
    with pytest.raises(NotPermitted, match="Only an organisation admin"):
        services.save_booking_settings(
            organization=world.organization, by=world.manager, reminder_hours=2
        )
    for fields, message in [
        ({"reminder_hours": 0}, "reminder_hours: send reminders 1 to 168 hours"),
        ({"notice_hours": 169}, "notice_hours: the notice period is 0 to 168"),
        ({"online_days_ahead": "30"}, "online_days_ahead: patients may book online 1 to 365"),
        ({"colour": 1}, "colour: not a booking setting"),
    ]:
        with pytest.raises(ScheduleInvalid, match=message):
            services.save_booking_settings(
                organization=world.organization, by=world.org_admin, **fields
            )
    assert BookingSettings.objects.count() == 0

    services.save_booking_settings(
        organization=world.organization, by=world.org_admin, reminder_hours=48, notice_hours=0
    )
    services.save_booking_settings(
        organization=world.organization, by=world.org_admin, online_days_ahead=14
    )
    saved = services.booking_settings_of(world.organization)
    assert (saved.reminder_hours, saved.notice_hours, saved.online_days_ahead) == (48, 0, 14)
    assert BookingSettings.objects.count() == 1

    admin = client_of(world.org_admin)
    page = reverse("admin:treatment_sessions_bookingsettings_change", args=[saved.pk])
    refused = admin.post(page, {"reminder_hours": 500, "notice_hours": 0, "online_days_ahead": 14})
    assert "less than or equal to 168" in refused.content.decode()
    admin.post(page, {"reminder_hours": 6, "notice_hours": 0, "online_days_ahead": 14})
    assert services.booking_settings_of(world.organization).reminder_hours == 6


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
    # Someone who sees both organisations still gets no slots of one with the other's type.
    with pytest.raises(BookingRefused, match="not a type of the clinic's organisation") as mixed:
        availability.free_slots(
            world.halifax,
            appointment_type=needling,
            starts_at=at(MONDAY, 0),
            ends_at=at(MONDAY, 23),
        )
    assert mixed.value.field == "appointment_type"


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
    chosen = {"patient": str(patient.pk)}
    assert "Exercise review (40 min)" in desk.get(reverse("sessions:book"), chosen).content.decode()
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


# --- Rescheduling, and a clash that offers the next free slots ---------------------------


def test_a_booking_moves_to_another_time_and_therapist_and_its_history_keeps_where_it_was(world):
    hours(world, starts=8, ends=12)
    colleague = staff(Role.THERAPIST, clinic=world.kelowna, full_name="Ana Alvarez")
    session = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=PatientFactory(home_clinic=world.kelowna),
        starts_at=at(MONDAY, 9),
        length=datetime.timedelta(minutes=45),
        by=world.front_desk,
    )
    moved = services.reschedule_session(
        session=session, by=world.front_desk, starts_at=at(MONDAY, 10, 30)
    )
    assert (moved.starts_at, moved.ends_at) == (at(MONDAY, 10, 30), at(MONDAY, 11, 15))
    assert moved.version == 2
    moved = services.reschedule_session(
        session=moved, by=world.front_desk, starts_at=at(MONDAY, 14), therapist=colleague
    )  # Ana keeps no hours here: nothing to be outside of
    assert moved.therapist == colleague
    starts = list(
        TreatmentSession.pgh_event_model.objects.filter(pgh_obj_id=session.pk)
        .order_by("pgh_id")
        .values_list("starts_at", flat=True)
    )
    assert starts == [at(MONDAY, 9), at(MONDAY, 10, 30), at(MONDAY, 14)]


def test_a_move_is_refused_as_a_booking_would_be(world):
    hours(world, starts=8, ends=12)
    patient = PatientFactory(home_clinic=world.kelowna)
    book = {"clinic": world.kelowna, "therapist": world.therapist, "by": world.front_desk}
    session = services.book_session(patient=patient, starts_at=at(MONDAY, 9), **book)
    services.book_session(
        patient=PatientFactory(home_clinic=world.kelowna), starts_at=at(MONDAY, 10), **book
    )
    with pytest.raises(OutsideWorkingHours):
        services.reschedule_session(session=session, by=world.front_desk, starts_at=at(MONDAY, 13))
    with pytest.raises(DoubleBooked, match="already has a session 10:00 to 10:30") as clash:
        services.reschedule_session(
            session=session, by=world.front_desk, starts_at=at(MONDAY, 10, 15)
        )
    # The refusal offers the next free times from the one asked for, on the clinic's clock.
    assert "Free with " in clash.value.message and "Mon 19 Oct 10:30" in clash.value.message
    assert [slot.starts_at for slot in clash.value.next_slots][:2] == [
        at(MONDAY, 10, 30),
        at(MONDAY, 10, 45),
    ]
    with pytest.raises(BookingRefused, match="cannot be moved into the past"):
        services.reschedule_session(
            session=session, by=world.front_desk, starts_at=at(MONDAY - datetime.timedelta(2), 9)
        )
    session.refresh_from_db()
    assert session.starts_at == at(MONDAY, 9) and session.version == 1


def test_a_started_or_cancelled_session_stays_put(world):
    session = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=PatientFactory(home_clinic=world.kelowna),
        starts_at=at(MONDAY, 9),
        by=world.front_desk,
    )
    services.cancel_session(session=session, by=world.front_desk, reason="Flu")
    with pytest.raises(SessionStateRefused, match="A session that is cancelled cannot be moved"):
        services.reschedule_session(session=session, by=world.front_desk, starts_at=at(MONDAY, 11))


def test_the_api_moves_a_session_and_a_clash_answers_409_with_the_next_slots(world, client_of):
    hours(world, starts=8, ends=12)
    patient = PatientFactory(home_clinic=world.kelowna)
    book = {"clinic": world.kelowna, "therapist": world.therapist, "by": world.front_desk}
    session = services.book_session(patient=patient, starts_at=at(MONDAY, 9), **book)
    services.book_session(
        patient=PatientFactory(home_clinic=world.kelowna), starts_at=at(MONDAY, 11), **book
    )
    desk = client_of(world.front_desk)
    url = reverse("session-reschedule", args=[session.pk])
    clash = desk.post(url, {"starts_at": "2026-10-19T11:00:00-07:00"}, "application/json")
    assert clash.status_code == 409
    assert clash.json()["code"] == "double_booked"
    assert clash.json()["next_slots"][0]["starts_at"] == "2026-10-19T18:30:00+00:00"
    moved = desk.post(url, {"starts_at": "2026-10-19T10:00:00-07:00"}, "application/json")
    assert moved.status_code == 200, moved.content
    assert moved.json()["starts_at"] == "2026-10-19T17:00:00Z"
    other = client_of(world.other_admin).post(url, {"starts_at": "2026-10-19T10:00:00-07:00"})
    assert other.status_code == 404


# --- What review found ------------------------------------------------------------------


def test_a_closure_or_an_absence_needs_a_reason_even_where_no_hours_are_kept(world):
    book = {
        "clinic": world.kelowna,
        "therapist": world.therapist,
        "patient": PatientFactory(home_clinic=world.kelowna),
        "by": world.front_desk,
    }
    services.add_schedule_change(
        clinic=world.kelowna,
        kind=ChangeKind.CLOSED,
        starts_at=at(MONDAY, 0),
        ends_at=at(MONDAY + datetime.timedelta(days=1), 0),
        reason="Thanksgiving",
        by=world.manager,
    )
    closed = r"Kelowna is closed then, until Tue 20 Oct 00:00 \(Thanksgiving\)"
    with pytest.raises(OutsideWorkingHours, match=closed):
        services.book_session(starts_at=at(MONDAY, 10), **book)
    services.add_schedule_change(
        clinic=world.kelowna,
        kind=ChangeKind.AWAY,
        therapist=world.therapist,
        starts_at=at(MONDAY + datetime.timedelta(days=1), 0),
        ends_at=at(MONDAY + datetime.timedelta(days=2), 0),
        by=world.manager,
    )
    with pytest.raises(OutsideWorkingHours, match="is away then"):
        services.book_session(starts_at=at(MONDAY + datetime.timedelta(days=1), 10), **book)
    booked = services.book_session(
        starts_at=at(MONDAY, 10), outside_hours_reason="Emergency", **book
    )
    assert booked.outside_hours_reason == "Emergency"


def test_extra_hours_at_another_clinic_are_time_taken_here(world):
    shared = world.therapist
    Membership.objects.create(
        organization=world.organization, clinic=world.vernon, user=shared, role=Role.THERAPIST
    )
    hours(world, shared, starts=8, ends=12)
    services.add_schedule_change(
        clinic=world.vernon,
        kind=ChangeKind.EXTRA,
        therapist=shared,
        starts_at=at(MONDAY, 9),
        ends_at=at(MONDAY, 11),
        by=world.org_admin,
    )
    exercise = services.create_appointment_type(
        organization=world.organization, by=world.org_admin, name="Ex", minutes=60, needling=False
    )
    found = availability.free_slots(
        world.kelowna,
        appointment_type=exercise,
        starts_at=at(MONDAY, 0),
        ends_at=at(MONDAY, 23),
        therapist=shared,
    )
    assert [timezone.localtime(slot.starts_at, VANCOUVER).hour for slot in found] == [8, 11]


def test_a_revoked_therapist_role_takes_its_working_hours_along(world):
    shared = world.therapist
    Membership.objects.create(
        organization=world.organization, clinic=world.vernon, user=shared, role=Role.THERAPIST
    )
    hours(world, shared, starts=8, ends=12)
    clinic_services.revoke_role(
        membership=Membership.objects.get(user=shared, clinic=world.kelowna), by=world.org_admin
    )
    assert not WorkingHours.objects.filter(therapist=shared).exists()
    hours(world, shared, starts=9, ends=11, clinic=world.vernon, by=world.org_admin)


def test_slots_refuse_a_start_a_year_away_and_look_ahead_from_now(world, client_of):
    hours(world, starts=8, ends=10)
    kind = services.create_appointment_type(
        organization=world.organization, by=world.org_admin, name="Needling", minutes=60
    )
    desk = client_of(world.front_desk)
    query = {"clinic": str(world.kelowna.pk), "appointment_type": str(kind.pk)}
    far = desk.get(reverse("slot-list"), {**query, "starting": "9999-12-20T00:00:00Z"})
    assert far.status_code == 400
    assert far.json()["fields"]["starting"] == ["Look from a time within a year of now."]
    past = desk.get(
        reverse("slot-list"), {**query, "starting": "2026-10-01T00:00:00Z", "days": 2}
    ).json()
    assert past and past[0]["starts_at"] == "2026-10-19T15:00:00Z"
    world.kelowna.is_active = False
    world.kelowna.save()
    assert (
        availability.free_slots(
            world.kelowna, appointment_type=kind, starts_at=at(MONDAY, 0), ends_at=at(MONDAY, 23)
        )
        == []
    )


@pytest.mark.parametrize("typed", ["7:5", "24:00", "08:30:00", "8h30"])
def test_working_hours_are_typed_as_hh_mm(world, client_of, typed):
    response = client_of(world.manager).post(
        reverse("availability-list"),
        {
            "clinic": str(world.kelowna.pk),
            "therapist": str(world.therapist.pk),
            "weekday": 0,
            "starts": typed,
            "ends": "12:00",
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["starts"] == ["Give a time of day as HH:MM, such as 08:30."]


def test_a_closure_typed_in_the_admin_is_on_the_clinics_clock(world, client_of):
    response = client_of(world.manager).post(
        admin_page("schedulechange_add"),
        {
            "clinic": str(world.kelowna.pk),
            "kind": "closed",
            "starts_at_0": "2026-10-19",
            "starts_at_1": "09:00",
            "ends_at_0": "2026-10-19",
            "ends_at_1": "17:00",
            "reason": "Staff training",
        },
    )
    assert response.status_code == 302, response.content.decode()
    change = ScheduleChange.objects.get()
    assert (change.starts_at, change.ends_at) == (at(MONDAY, 9), at(MONDAY, 17))
    listed = client_of(world.manager).get(admin_page("schedulechange_changelist"))
    assert "2026-10-19 09:00" in listed.content.decode()


def test_the_booking_page_books_every_week_or_lists_the_weeks_it_cannot(world, client_of):
    hours(world, starts=8, ends=12)
    patient = PatientFactory(home_clinic=world.kelowna)
    desk = client_of(world.front_desk)
    form = {
        "patient": str(patient.pk),
        "therapist": str(world.therapist.pk),
        "day": MONDAY.isoformat(),
        "time": "11:00",
        "length_minutes": "45",
        "weeks": "3",
    }
    services.add_schedule_change(
        clinic=world.kelowna,
        kind=ChangeKind.CLOSED,
        starts_at=at(MONDAY + datetime.timedelta(weeks=1), 0),
        ends_at=at(MONDAY + datetime.timedelta(weeks=1, days=1), 0),
        reason="Staff day",
        by=world.manager,
    )
    refused = desk.post(reverse("sessions:book"), form).content.decode()
    assert "1 of the 3 weeks cannot be booked, so none was: Mon 26 Oct 2026 11:00" in refused
    assert not TreatmentSession.objects.filter(patient=patient).exists()
    booked = desk.post(reverse("sessions:book"), {**form, "time": "10:00", "weeks": "1"})
    assert booked.status_code == 302
    weekly = desk.post(
        reverse("sessions:book"),
        {**form, "day": (MONDAY + datetime.timedelta(weeks=2)).isoformat(), "weeks": "2"},
    )
    assert weekly.status_code == 302
    assert TreatmentSession.objects.filter(patient=patient).count() == 3


def test_booking_starts_by_finding_the_patient_and_reads_only_those_shown(world, client_of):
    from patients.models import RecordRead

    ada = PatientFactory(home_clinic=world.kelowna, first_name="Ada", last_name="Lovelace")
    PatientFactory.create_batch(5, home_clinic=world.kelowna)
    other = PatientFactory(home_clinic=world.halifax, first_name="Ada", last_name="Lovelace")
    desk = client_of(world.front_desk)
    first = desk.get(reverse("sessions:book")).content.decode()
    assert "Find the patient" in first and 'name="therapist"' not in first
    assert not RecordRead.objects.exists()
    found = desk.get(reverse("sessions:book"), {"q": "Ada Lovelase"}).content.decode()
    assert f"?patient={ada.pk}" in found and str(other.pk) not in found
    assert list(RecordRead.objects.values_list("patient", flat=True)) == [ada.pk]
    form = desk.get(reverse("sessions:book"), {"patient": str(ada.pk)}).content.decode()
    assert "For <strong>Ada Lovelace</strong>" in form and 'name="therapist"' in form
    # Another organisation's patient is not one to book: back to the search.
    assert (
        "Find the patient"
        in desk.get(reverse("sessions:book"), {"patient": str(other.pk)}).content.decode()
    )


def test_the_session_page_moves_a_booking_and_says_why_it_cannot(world, client_of):
    hours(world, starts=8, ends=12)
    colleague = staff(Role.THERAPIST, clinic=world.kelowna, full_name="Ana Alvarez")
    session = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=PatientFactory(home_clinic=world.kelowna),
        starts_at=at(MONDAY, 9),
        by=world.front_desk,
    )
    desk = client_of(world.front_desk)
    detail = reverse("sessions:detail", args=[session.pk])
    shown = desk.get(detail).content.decode()
    assert "Move to another time or therapist" in shown and 'value="09:00"' in shown
    move = reverse("sessions:move", args=[session.pk])
    form = {
        "move-day": MONDAY.isoformat(),
        "move-time": "13:00",
        "move-therapist": str(world.therapist.pk),
    }
    refused = desk.post(move, form)
    assert refused.status_code == 400
    assert "does not work at Kelowna then (Monday 08:00-12:00)" in refused.content.decode()
    moved = desk.post(move, {**form, "move-therapist": str(colleague.pk)})
    assert moved.status_code == 302
    session.refresh_from_db()
    assert (session.therapist, session.starts_at) == (colleague, at(MONDAY, 13))
    services.cancel_session(session=session, by=world.front_desk, reason="Flu")
    assert "Move to another time" not in desk.get(detail).content.decode()
