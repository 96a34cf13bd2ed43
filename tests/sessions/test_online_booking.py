"""Online booking in the portal, through real HTTP as the patient (and the clinic's pages).

The clock is set to Friday 16 October 2026, 12:00 in Toronto (the clinic is put on its
clock), so with the default notice period (24 hours) and window (60 days) the first
time offered online is Monday 19 October 09:00, when Ana Alvarez starts work
(weekdays 09:00 to 12:00). Ben Brooks has no working hours recorded: never offered online.
"""

import datetime
import re
import zoneinfo
from html import unescape
from urllib.parse import urlencode

import pytest
import time_machine
from django.urls import reverse

from clinics.models import Role
from patients import services as patient_services
from patients.models import ConsentSignature
from sessions import services
from sessions.exceptions import BookingRefused, NotPermitted
from sessions.models import Status, TreatmentSession
from sessions.services import online
from tests.clinics.factories import staff
from tests.patients.factories import PatientFactory, with_portal_login
from tests.sessions.factories import ready_to_needle

TORONTO = zoneinfo.ZoneInfo("America/Toronto")
NOW = datetime.datetime(2026, 10, 16, 12, tzinfo=TORONTO)
MONDAY = datetime.date(2026, 10, 19)
TUESDAY = datetime.date(2026, 10, 20)


def at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=TORONTO)


def text(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def clinic(world):
    world.kelowna.timezone = "America/Toronto"
    world.kelowna.phone = "250 555 0100"
    world.kelowna.save()
    return world.kelowna


@pytest.fixture
def ana(world, clinic):
    ana = staff(Role.THERAPIST, clinic=clinic, full_name="Ana Alvarez")
    for weekday in range(5):
        services.add_working_hours(
            clinic=clinic,
            therapist=ana,
            weekday=weekday,
            starts=datetime.time(9),
            ends=datetime.time(12),
            by=world.manager,
        )
    return ana


@pytest.fixture
def ben(world, clinic):
    return staff(Role.THERAPIST, clinic=clinic, full_name="Ben Brooks")


def a_type(world, name, *, minutes=30, needling=False, bookable_online=True):
    return services.create_appointment_type(
        organization=world.organization,
        by=world.org_admin,
        name=name,
        minutes=minutes,
        needling=needling,
        bookable_online=bookable_online,
    )


@pytest.fixture
def exercise(world):
    return a_type(world, "Exercise review")


@pytest.fixture
def follow_up(world):
    return a_type(world, "Follow-up with needling", needling=True)


@pytest.fixture
def assessment(world):
    return a_type(world, "Initial assessment", minutes=60, needling=True, bookable_online=False)


@pytest.fixture
def pat(client_of, patient):
    return client_of(patient.user)


def choice(kind, clinic, therapist, starts_at, **more) -> dict:
    return {
        "appointment_type": str(kind.pk),
        "clinic": str(clinic.pk),
        "therapist": str(therapist.pk),
        "starts_at": starts_at.isoformat(),
        **more,
    }


def confirm(client, kind, clinic, therapist, starts_at, **more):
    return client.post(
        reverse("sessions_portal:book_confirm"),
        choice(kind, clinic, therapist, starts_at, **more),
        follow=True,
    )


def times_on(response) -> list[str]:
    """The free times the page shows as buttons: "09:00 Ana Alvarez", ..."""
    html = response.content.decode()
    found = re.search(r'<ul class="slot-list"[^>]*>(.*?)</ul>', html, re.S)
    if found is None:
        return []
    return [
        " ".join(unescape(re.sub(r"<[^>]+>", " ", item)).split())
        for item in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)
    ]


# --- Booking ---------------------------------------------------------------------------


def test_the_patient_books_an_online_type_in_a_free_time(pat, patient, clinic, ana, exercise):
    page = pat.get(reverse("sessions_portal:book"), {"appointment_type": exercise.pk})
    assert page.status_code == 200
    assert "Free times on Monday 19 October" in text(page)
    assert times_on(page)[:2] == ["09:00 Ana Alvarez", "09:15 Ana Alvarez"]
    assert times_on(page)[-1] == "11:30 Ana Alvarez"

    details = pat.get(
        reverse("sessions_portal:book_confirm"), choice(exercise, clinic, ana, at(MONDAY, 9))
    )
    assert "Book this session?" in text(details)
    assert "Monday 19 October 2026, 09:00\u201309:30" in text(details)  # an en dash
    key = details.context["form"]["key"].value()

    booked = confirm(pat, exercise, clinic, ana, at(MONDAY, 9), key=key)
    session = TreatmentSession.objects.get(patient=patient)
    assert (session.booked_online, session.booked_by, session.appointment_type) == (
        True,
        patient.user,
        exercise,
    )
    assert session.starts_at == at(MONDAY, 9)
    assert "Booked: Exercise review, Monday 19 October at 09:00 with Ana Alvarez" in text(booked)
    assert "Coming up" in text(booked)
    assert reverse("sessions_portal:cancel", args=[session.pk]) in booked.content.decode()


def test_the_portal_offers_booking_only_where_a_type_is_open_online(
    pat, world, clinic, ana, assessment
):
    home = pat.get(reverse("portal:home"))
    assert reverse("sessions_portal:book") not in home.content.decode()
    page = pat.get(reverse("sessions_portal:book"))
    assert "Sessions are not booked online here: call Kelowna at 250 555 0100" in text(page)


def test_a_type_not_open_online_is_refused(pat, patient, clinic, ana, exercise, assessment):
    page = pat.get(reverse("sessions_portal:book"))
    assert "Initial assessment" not in text(page)
    refused = confirm(pat, assessment, clinic, ana, at(MONDAY, 9))
    assert refused.status_code == 400
    assert "Initial assessment is not booked online: call Kelowna at 250 555 0100" in text(refused)
    assert not TreatmentSession.objects.exists()


def test_a_time_inside_the_notice_period_is_refused_naming_it(pat, clinic, ana, exercise):
    refused = confirm(pat, exercise, clinic, ana, at(NOW.date(), 15))
    assert refused.status_code == 400
    assert "Sessions are booked online at least 24 hours ahead" in text(refused)
    assert not TreatmentSession.objects.exists()


def test_a_time_past_the_online_window_is_refused_naming_it(pat, world, clinic, ana, exercise):
    services.save_booking_settings(
        organization=world.organization, by=world.org_admin, online_days_ahead=7
    )
    page = pat.get(
        reverse("sessions_portal:book"), {"appointment_type": exercise.pk, "day": "2026-12-01"}
    )
    assert "Free times on Friday 23 October" in text(page)  # the window's last day
    refused = confirm(pat, exercise, clinic, ana, at(MONDAY + datetime.timedelta(days=7), 9))
    assert "Sessions are booked online up to 7 days ahead: for a later time, call Kelowna" in (
        text(refused)
    )
    assert not TreatmentSession.objects.exists()


def test_outside_working_hours_and_a_therapist_without_hours_are_never_offered(
    pat, clinic, ana, ben, exercise
):
    page = pat.get(reverse("sessions_portal:book"), {"appointment_type": exercise.pk})
    assert "Ben Brooks" not in text(page)
    for therapist, starts_at in (
        (ana, at(MONDAY, 13)),
        (ben, at(MONDAY, 9)),
        (ana, at(MONDAY, 9, 10)),
    ):
        refused = confirm(pat, exercise, clinic, therapist, starts_at)
        assert "is not booked online then" in text(refused)
        assert "choose one of the free times" in text(refused)
    assert not TreatmentSession.objects.exists()


def test_a_time_taken_between_the_list_and_the_button_is_refused_with_the_free_times_now(
    pat, world, patient, clinic, ana, exercise
):
    details = pat.get(
        reverse("sessions_portal:book_confirm"), choice(exercise, clinic, ana, at(MONDAY, 9))
    )
    key = details.context["form"]["key"].value()
    other = PatientFactory(home_clinic=clinic, last_name="Quist")
    services.book_session(
        clinic=clinic,
        therapist=ana,
        patient=other,
        starts_at=at(MONDAY, 9),
        appointment_type=exercise,
        by=world.front_desk,
    )
    refused = confirm(pat, exercise, clinic, ana, at(MONDAY, 9), key=key)
    assert "Monday 19 October, 09:00 was booked by someone else a moment ago: choose another" in (
        text(refused)
    )
    assert "Quist" not in text(refused)
    assert times_on(refused)[0] == "09:30 Ana Alvarez"
    assert not TreatmentSession.objects.filter(patient=patient).exists()


def test_the_refusal_of_a_taken_time_offers_the_free_slots_now(
    world, patient, clinic, ana, exercise
):
    other = PatientFactory(home_clinic=clinic)
    services.book_session(
        clinic=clinic,
        therapist=ana,
        patient=other,
        starts_at=at(MONDAY, 9),
        appointment_type=exercise,
        by=world.front_desk,
    )
    with pytest.raises(online.SlotTaken) as taken:
        online.book_online(
            user=patient.user,
            patient=patient,
            clinic=clinic,
            appointment_type=exercise,
            therapist=ana,
            starts_at=at(MONDAY, 9),
        )
    assert [slot.starts_at for slot in taken.value.next_slots][:2] == [
        at(MONDAY, 9, 30),
        at(MONDAY, 9, 45),
    ]


def test_the_same_form_sent_twice_books_once(pat, patient, clinic, ana, exercise):
    details = pat.get(
        reverse("sessions_portal:book_confirm"), choice(exercise, clinic, ana, at(MONDAY, 10))
    )
    key = details.context["form"]["key"].value()
    first = confirm(pat, exercise, clinic, ana, at(MONDAY, 10), key=key)
    second = confirm(pat, exercise, clinic, ana, at(MONDAY, 10), key=key)
    assert TreatmentSession.objects.filter(patient=patient).count() == 1
    assert "Booked: Exercise review" in text(first)
    assert "Booked: Exercise review" in text(second)


# --- The needling gate -----------------------------------------------------------------


def test_a_needling_type_without_screening_or_consent_says_what_to_do(
    pat, patient, clinic, ana, exercise, follow_up
):
    page = pat.get(reverse("sessions_portal:book"), {"appointment_type": follow_up.pk})
    assert "You have not answered the screening questions yet: answer them here" in text(page)
    assert "You have not signed your consent to dry needling yet" in text(page)
    assert times_on(page) == []
    assert f'href="{reverse("portal:screening")}"' in page.content.decode()
    refused = confirm(pat, follow_up, clinic, ana, at(MONDAY, 9))
    assert refused.status_code == 400
    assert "or call Kelowna at 250 555 0100" in text(refused)
    assert f'href="{reverse("portal:consent_sign")}"' in refused.content.decode()
    assert not TreatmentSession.objects.exists()
    # Without needling, the same patient books.
    confirm(pat, exercise, clinic, ana, at(MONDAY, 9))
    assert TreatmentSession.objects.filter(patient=patient, booked_online=True).count() == 1


def test_a_screening_out_of_date_by_the_session_or_a_withdrawn_consent_refuses_needling(
    pat, world, patient, clinic, ana, follow_up
):
    with time_machine.travel(NOW - datetime.timedelta(days=88), tick=False):
        ready_to_needle(patient, by=world.therapist)  # valid until Sunday 18 October
    refused = confirm(pat, follow_up, clinic, ana, at(MONDAY, 9))
    assert "Your screening answers will be out of date by then: answer them here" in text(refused)
    assert "consent" not in text(refused).split("Book this session?")[1].split("See the free")[0]

    ready_to_needle(patient, by=world.therapist)
    signature = ConsentSignature.objects.filter(patient=patient).latest("signed_at")
    patient_services.withdraw_consent(signature=signature, by=patient.user)
    refused = confirm(pat, follow_up, clinic, ana, at(MONDAY, 9))
    assert "You withdrew your consent to dry needling: read and sign it here" in text(refused)
    assert not TreatmentSession.objects.exists()


def test_an_absolute_contraindication_refuses_needling_online_but_not_exercise(
    pat, world, patient, clinic, ana, exercise, follow_up
):
    ready_to_needle(patient, by=world.therapist, contraindications=("infection",))
    page = pat.get(reverse("sessions_portal:book"), {"appointment_type": follow_up.pk})
    assert "Dry needling is not offered online for you: please call Kelowna at 250 555 0100" in (
        text(page)
    )
    refused = confirm(pat, follow_up, clinic, ana, at(MONDAY, 9))
    assert "Dry needling is not offered online for you" in text(refused)
    assert not TreatmentSession.objects.exists()
    confirm(pat, exercise, clinic, ana, at(MONDAY, 9))
    assert TreatmentSession.objects.get(patient=patient).appointment_type == exercise


def test_a_patient_ready_for_needling_books_it(pat, world, patient, clinic, ana, follow_up):
    ready_to_needle(patient, by=world.therapist)
    confirm(pat, follow_up, clinic, ana, at(MONDAY, 11))
    session = TreatmentSession.objects.get(patient=patient)
    assert (session.needling, session.booked_online) == (True, True)


# --- Moving and cancelling -------------------------------------------------------------


def booked_online(patient, clinic, therapist, kind, starts_at) -> TreatmentSession:
    return online.book_online(
        user=patient.user,
        patient=patient,
        clinic=clinic,
        appointment_type=kind,
        therapist=therapist,
        starts_at=starts_at,
    )


def test_the_patient_moves_their_booking_to_another_free_time(pat, patient, clinic, ana, exercise):
    session = booked_online(patient, clinic, ana, exercise, at(MONDAY, 9))
    page = pat.get(reverse("sessions_portal:move", args=[session.pk]), {"day": TUESDAY})
    assert times_on(page)[0] == "09:00 Ana Alvarez"
    monday = pat.get(reverse("sessions_portal:move", args=[session.pk]), {"day": MONDAY})
    assert times_on(monday)[0] == "09:00 Ana Alvarez"  # its own time is free to move within

    moved = pat.post(
        reverse("sessions_portal:move_confirm", args=[session.pk]),
        {"therapist": ana.pk, "starts_at": at(TUESDAY, 10).isoformat()},
        follow=True,
    )
    assert "Moved: Exercise review is now Tuesday 20 October at 10:00" in text(moved)
    session.refresh_from_db()
    assert session.starts_at == at(TUESDAY, 10)
    history = TreatmentSession.pgh_event_model.objects.filter(pgh_obj=session)
    assert {event.starts_at for event in history} == {at(MONDAY, 9), at(TUESDAY, 10)}


def test_a_booking_within_the_notice_period_is_moved_by_calling(
    client_of, patient, clinic, ana, exercise
):
    session = booked_online(patient, clinic, ana, exercise, at(MONDAY, 9))
    with time_machine.travel(at(MONDAY, 8), tick=False):
        pat = client_of(patient.user)
        page = pat.get(reverse("sessions_portal:move", args=[session.pk]))
        assert "Your session is less than 24 hours away: call Kelowna at 250 555 0100" in text(page)
        home = pat.get(reverse("portal:home"))
        assert reverse("sessions_portal:move", args=[session.pk]) not in home.content.decode()
        refused = pat.post(
            reverse("sessions_portal:move_confirm", args=[session.pk]),
            {"therapist": ana.pk, "starts_at": at(TUESDAY, 10).isoformat()},
            follow=True,
        )
    assert "less than 24 hours away" in text(refused)
    session.refresh_from_db()
    assert session.starts_at == at(MONDAY, 9)


def test_a_session_booked_at_the_clinic_of_a_type_not_online_is_cancelled_but_not_moved_online(
    pat, world, patient, clinic, ana, assessment
):
    session = services.book_session(
        clinic=clinic,
        therapist=ana,
        patient=patient,
        starts_at=at(TUESDAY, 9),
        appointment_type=assessment,
        by=world.front_desk,
    )
    home = pat.get(reverse("portal:home"))
    assert reverse("sessions_portal:move", args=[session.pk]) not in home.content.decode()
    page = pat.get(reverse("sessions_portal:move", args=[session.pk]))
    assert "This session is not moved online: call Kelowna" in text(page)
    pat.post(reverse("sessions_portal:cancel", args=[session.pk]), {"reason": ""})
    session.refresh_from_db()
    assert session.status == Status.CANCELLED


def test_the_patient_cancels_their_booking(pat, patient, clinic, ana, exercise):
    session = booked_online(patient, clinic, ana, exercise, at(MONDAY, 9))
    page = pat.get(reverse("sessions_portal:cancel", args=[session.pk]))
    assert "Cancel your session?" in text(page)
    assert "late cancellation" not in text(page)
    done = pat.post(
        reverse("sessions_portal:cancel", args=[session.pk]), {"reason": ""}, follow=True
    )
    assert "Cancelled: your session Monday 19 October at 09:00 with Ana Alvarez." in text(done)
    session.refresh_from_db()
    assert (session.status, session.cancelled_by, session.cancelled_late) == (
        Status.CANCELLED,
        patient.user,
        False,
    )
    assert session.cancellation_reason == "Cancelled by the patient online"


def test_a_cancellation_within_the_notice_period_is_warned_of_and_recorded_late(
    client_of, patient, clinic, ana, exercise
):
    session = booked_online(patient, clinic, ana, exercise, at(MONDAY, 9))
    with time_machine.travel(at(MONDAY, 7), tick=False):
        pat = client_of(patient.user)
        page = pat.get(reverse("sessions_portal:cancel", args=[session.pk]))
        assert "Your session is less than 24 hours away: cancelling now is recorded as a late" in (
            text(page)
        )
        done = pat.post(
            reverse("sessions_portal:cancel", args=[session.pk]),
            {"reason": "Sick"},
            follow=True,
        )
    assert "It is recorded as a late cancellation." in text(done)
    session.refresh_from_db()
    assert (session.cancelled_late, session.cancellation_reason) == (True, "Sick")


def test_a_session_that_has_started_is_not_cancelled_online(
    client_of, patient, clinic, ana, exercise
):
    session = booked_online(patient, clinic, ana, exercise, at(MONDAY, 9))
    with time_machine.travel(at(MONDAY, 9, 5), tick=False):
        pat = client_of(patient.user)
        refused = pat.post(reverse("sessions_portal:cancel", args=[session.pk]), {"reason": ""})
    assert refused.status_code == 409
    assert "Your session has started: call Kelowna at 250 555 0100" in text(refused)
    session.refresh_from_db()
    assert session.status == Status.BOOKED


def test_another_patients_session_is_not_found(world, client_of, patient, clinic, ana, exercise):
    session = booked_online(patient, clinic, ana, exercise, at(MONDAY, 9))
    kit = with_portal_login(PatientFactory(home_clinic=clinic))
    other = client_of(kit.user)
    for name in ("move", "move_confirm", "cancel"):
        url = reverse(f"sessions_portal:{name}", args=[session.pk])
        assert other.get(url).status_code == 404
        assert other.post(url, {"reason": "", "therapist": ana.pk}).status_code == 404
    session.refresh_from_db()
    assert session.status == Status.BOOKED


def test_staff_cannot_book_through_the_portal(client_of, world, ana, exercise):
    assert client_of(world.front_desk).get(reverse("sessions_portal:book")).status_code == 404


# --- What the clinic sees --------------------------------------------------------------


def test_the_clinic_sees_who_booked_online(client_of, world, patient, clinic, ana, exercise):
    session = booked_online(patient, clinic, ana, exercise, at(MONDAY, 9))
    desk = client_of(world.front_desk)
    page = desk.get(reverse("sessions:detail", args=[session.pk]))
    assert "Booked online by the patient" in text(page)
    day = desk.get(reverse("sessions:day"), {"date": MONDAY.isoformat()})
    assert 'Online<span class="visually-hidden">: booked by the patient' in day.content.decode()
    at_the_desk = services.book_session(
        clinic=clinic,
        therapist=ana,
        patient=PatientFactory(home_clinic=clinic),
        starts_at=at(MONDAY, 10),
        by=world.front_desk,
    )
    assert "Booked online" not in text(desk.get(reverse("sessions:detail", args=[at_the_desk.pk])))


# --- Query budgets ---------------------------------------------------------------------


def test_the_free_times_cost_the_same_queries_whatever_the_bookings(
    pat, world, patient, clinic, ana, exercise, django_assert_max_num_queries
):
    mine = booked_online(patient, clinic, ana, exercise, at(TUESDAY, 9))
    book_url = reverse("sessions_portal:book")
    move_url = reverse("sessions_portal:move", args=[mine.pk])
    query = {"appointment_type": exercise.pk, "day": MONDAY.isoformat()}
    with django_assert_max_num_queries(40) as few:
        pat.get(book_url, query)
    with django_assert_max_num_queries(40) as few_moving:
        pat.get(move_url, {"day": MONDAY.isoformat()})
    for hour, minute in ((9, 0), (10, 0), (11, 0), (9, 30)):
        services.book_session(
            clinic=clinic,
            therapist=ana,
            patient=PatientFactory(home_clinic=clinic),
            starts_at=at(MONDAY, hour, minute),
            appointment_type=exercise,
            by=world.front_desk,
        )
    with django_assert_max_num_queries(len(few)):
        page = pat.get(book_url, query)
    assert times_on(page) == ["10:30 Ana Alvarez", "11:30 Ana Alvarez"]
    with django_assert_max_num_queries(len(few_moving)):
        pat.get(move_url, {"day": MONDAY.isoformat()})
    home = reverse("portal:home")
    with django_assert_max_num_queries(60) as few_home:
        pat.get(home)
    for day in (TUESDAY + datetime.timedelta(days=n) for n in range(1, 4)):
        booked_online(patient, clinic, ana, exercise, at(day, 9))
    with django_assert_max_num_queries(len(few_home)):
        pat.get(home)


def test_the_book_page_url_keeps_the_choice_for_the_next_day(pat, clinic, ana, exercise):
    page = pat.get(
        reverse("sessions_portal:book"), {"appointment_type": exercise.pk, "day": MONDAY}
    )
    following = "?" + urlencode(
        {"appointment_type": exercise.pk, "clinic": clinic.pk, "day": TUESDAY.isoformat()}
    )
    assert following.replace("&", "&amp;") in page.content.decode()


def test_only_the_patients_own_record_and_organisation_are_booked(
    pat, world, patient, clinic, ana, exercise
):
    refused = confirm(pat, exercise, world.halifax, ana, at(MONDAY, 9))
    assert "Choose one of the free times." in text(refused)
    with pytest.raises(BookingRefused, match="No such clinic to book online"):
        booked_online(patient, world.halifax, ana, exercise, at(MONDAY, 9))
    someone_else = PatientFactory(home_clinic=clinic)
    for user in (patient.user, world.front_desk):
        with pytest.raises(NotPermitted, match="No such patient record of yours"):
            online.book_online(
                user=user,
                patient=someone_else,
                clinic=clinic,
                appointment_type=exercise,
                therapist=ana,
                starts_at=at(MONDAY, 9),
            )
    assert not TreatmentSession.objects.exists()
