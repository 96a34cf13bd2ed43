"""Booking treatment sessions: nobody double-booked, clear refusals, cancellations and no-shows."""

import datetime
import threading
import uuid

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from clinics import access
from clinics.models import Membership, Role
from sessions import services
from sessions.exceptions import BookingRefused, DoubleBooked, NotPermitted, SessionStateRefused
from sessions.models import Status, TreatmentSession, TreatmentSessionEvent
from tests.clinics.factories import staff
from tests.patients.factories import PatientFactory, tomorrow_at
from tests.sessions.factories import next_clock_change


@pytest.fixture
def ann(world):
    return PatientFactory(home_clinic=world.kelowna, first_name="Ann", last_name="Lee")


@pytest.fixture
def bob(world):
    return PatientFactory(home_clinic=world.kelowna, first_name="Bob", last_name="Stone")


def book(world, patient, hour=10, minute=0, *, therapist=None, by=None, **kwargs):
    return services.book_session(
        clinic=kwargs.pop("clinic", world.kelowna),
        therapist=therapist or world.therapist,
        patient=patient,
        starts_at=tomorrow_at(hour, minute, clinic=world.kelowna),
        by=by or world.front_desk,
        **kwargs,
    )


def test_the_front_desk_books_thirty_minutes_by_default(world, ann):
    session = book(world, ann)
    assert session.status == Status.BOOKED
    assert session.ends_at - session.starts_at == datetime.timedelta(minutes=30)
    assert (session.organization, session.booked_by) == (world.organization, world.front_desk)
    assert TreatmentSessionEvent.objects.filter(pgh_obj=session).count() == 1


def test_a_therapist_is_never_double_booked(world, ann, bob):
    book(world, ann, 10, 0)
    with pytest.raises(DoubleBooked) as refused:
        book(world, bob, 10, 15)
    assert refused.value.field == "starts_at"
    assert "already has a session 10:00 to 10:30 with Ann Lee at Kelowna" in refused.value.message
    assert TreatmentSession.objects.count() == 1


def test_a_patient_is_never_double_booked(world, ann):
    colleague = staff(Role.THERAPIST, clinic=world.kelowna, email="kim@kelowna.test")
    book(world, ann, 10, 0)
    with pytest.raises(DoubleBooked) as refused:
        book(world, ann, 10, 20, therapist=colleague)
    assert "Ann Lee already has a session 10:00 to 10:30" in refused.value.message


def test_back_to_back_sessions_do_not_clash(world, ann, bob):
    book(world, ann, 10, 0)
    book(world, bob, 10, 30)
    assert TreatmentSession.objects.count() == 2


def test_a_cancelled_session_or_a_no_show_frees_the_time(world, ann, bob):
    first = book(world, ann, 10, 0)
    services.cancel_session(session=first, by=world.front_desk, reason="Patient has the flu")
    again = book(world, bob, 10, 0)
    assert again.status == Status.BOOKED
    started = timezone.now() - datetime.timedelta(minutes=10)
    missed = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=ann,
        starts_at=started,
        by=world.front_desk,
    )
    services.mark_no_show(session=missed, by=world.front_desk)
    walk_in = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=bob,
        starts_at=started,
        by=world.front_desk,
    )
    assert walk_in.status == Status.BOOKED


def test_the_clash_names_only_what_the_booker_may_see(world, ann):
    vernon_patient = PatientFactory(home_clinic=world.vernon, first_name="Zoe", last_name="Hart")
    # A therapist at both sites, booked at Vernon, which Kelowna's desk cannot see.
    shared = staff(Role.THERAPIST, clinic=world.kelowna, email="sol@kelowna.test")
    Membership.objects.create(
        organization=world.organization, clinic=world.vernon, user=shared, role=Role.THERAPIST
    )
    services.book_session(
        clinic=world.vernon,
        therapist=shared,
        patient=vernon_patient,
        starts_at=tomorrow_at(10, clinic=world.kelowna),
        by=world.org_admin,
    )
    with pytest.raises(DoubleBooked) as refused:
        book(world, ann, 10, 0, therapist=shared)
    assert "already has a session 10:00 to 10:30." in refused.value.message
    assert "Zoe" not in refused.value.message


@pytest.mark.django_db(transaction=True)
def test_two_desks_booking_one_slot_at_once_get_one_session(world, ann, bob):
    outcomes = []
    barrier = threading.Barrier(2)

    def desk(patient):
        try:
            barrier.wait()
            outcomes.append(book(world, patient, 10, 0).pk)
        except DoubleBooked as refused:
            outcomes.append(refused)
        finally:
            connection.close()

    threads = [threading.Thread(target=desk, args=(patient,)) for patient in (ann, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert TreatmentSession.objects.count() == 1
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["DoubleBooked", "UUID"]


@pytest.mark.django_db(transaction=True)
def test_a_double_click_at_the_same_moment_books_once_and_both_answers_name_it(world, ann):
    """The second insert waits for the first and is then refused by whichever constraint
    PostgreSQL checks first (often the clash): either way, the same booking comes back."""
    key, outcomes = uuid.uuid4(), []
    barrier = threading.Barrier(2)

    def click():
        try:
            barrier.wait()
            outcomes.append(book(world, ann, 10, 0, submission_key=key).pk)
        except DoubleBooked as refused:
            outcomes.append(refused)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    only = TreatmentSession.objects.get()
    assert outcomes == [only.pk, only.pk]


def test_the_same_booking_sent_twice_is_one_session(world, ann):
    key = uuid.uuid4()
    first = book(world, ann, submission_key=key)
    assert book(world, ann, submission_key=key).pk == first.pk
    assert TreatmentSession.objects.count() == 1


def test_booking_in_the_past_is_refused_beyond_a_short_grace(world, ann):
    now = timezone.now()
    with pytest.raises(BookingRefused) as refused:
        services.book_session(
            clinic=world.kelowna,
            therapist=world.therapist,
            patient=ann,
            starts_at=now - datetime.timedelta(minutes=20),
            by=world.front_desk,
        )
    assert refused.value.field == "starts_at"
    walk_in = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=ann,
        starts_at=now - datetime.timedelta(minutes=10),
        by=world.front_desk,
    )
    assert walk_in.status == Status.BOOKED


@pytest.mark.parametrize("minutes", [4, 241])
def test_a_session_lasts_five_minutes_to_four_hours(world, ann, minutes):
    with pytest.raises(BookingRefused) as refused:
        book(world, ann, length=datetime.timedelta(minutes=minutes))
    assert refused.value.field == "length"


def test_only_a_therapist_of_that_clinic_is_booked(world, ann):
    for not_here in (world.front_desk, world.vernon_therapist, world.manager):
        with pytest.raises(BookingRefused) as refused:
            book(world, ann, therapist=not_here)
        assert refused.value.field == "therapist"


def test_nobody_books_outside_their_reach(world, ann, patient):
    other = PatientFactory(home_clinic=world.halifax)
    for outsider in (world.vernon_therapist, world.other_admin, patient.user):
        with pytest.raises(NotPermitted):
            book(world, ann, by=outsider)
    with pytest.raises(NotPermitted):
        book(world, other, by=world.front_desk)
    assert not TreatmentSession.objects.exists()


def test_a_cancellation_needs_a_reason_and_only_a_booked_session_is_cancelled(world, ann):
    session = book(world, ann)
    with pytest.raises(BookingRefused) as refused:
        services.cancel_session(session=session, by=world.front_desk, reason="  ")
    assert refused.value.field == "reason"
    cancelled = services.cancel_session(session=session, by=world.therapist, reason="Flu")
    assert (cancelled.status, cancelled.cancellation_reason) == (Status.CANCELLED, "Flu")
    assert services.cancel_session(session=session, by=world.therapist, reason="again").pk == (
        session.pk
    )
    with pytest.raises(SessionStateRefused):
        services.mark_no_show(session=session, by=world.front_desk)


def test_a_cancellation_within_the_notice_period_is_recorded_as_late(world, ann, bob, client_of):
    services.save_booking_settings(
        organization=world.organization, by=world.org_admin, notice_hours=24
    )
    early, late = book(world, ann, 10), book(world, bob, 11)
    with time_machine.travel(early.starts_at - datetime.timedelta(hours=25), tick=False):
        early = services.cancel_session(session=early, by=world.front_desk, reason="Work")
    with time_machine.travel(late.starts_at - datetime.timedelta(hours=23), tick=False):
        late = services.cancel_session(session=late, by=world.front_desk, reason="Work")
    assert (early.cancelled_late, late.cancelled_late) == (False, True)
    page = client_of(world.front_desk).get(f"/sessions/{late.pk}/")
    assert "Cancelled late (within the notice period)" in page.content.decode()


def test_a_no_show_is_recorded_only_after_the_start(world, ann):
    later = book(world, ann)
    with pytest.raises(SessionStateRefused, match="only after its start"):
        services.mark_no_show(session=later, by=world.front_desk)
    now_ish = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=ann,
        starts_at=timezone.now() - datetime.timedelta(minutes=5),
        by=world.front_desk,
    )
    missed = services.mark_no_show(session=now_ish, by=world.front_desk, reason="No answer")
    assert (missed.status, missed.no_show_reason) == (Status.NO_SHOW, "No answer")


def test_the_patient_sees_their_own_sessions_only(world, patient, ann):
    mine = book(world, patient, 9)
    book(world, ann, 11)
    visible = access.visible_to(patient.user, TreatmentSession.objects.all())
    assert list(visible) == [mine]


@pytest.mark.parametrize(("back", "at"), [(True, "01:45"), (False, "02:30")])
def test_a_session_on_the_night_the_clocks_change_lasts_its_real_minutes(world, ann, back, at):
    """Going back, 01:45 comes twice (the first is booked); going forward, 02:30 never
    comes (it is read as the hour before the change)."""
    world.kelowna.timezone = "America/Toronto"
    world.kelowna.save(update_fields=["timezone"])
    day = next_clock_change(world.kelowna.zone, back=back)
    starts_at = datetime.datetime.combine(
        day, datetime.time.fromisoformat(at), tzinfo=world.kelowna.zone
    )
    with time_machine.travel(starts_at - datetime.timedelta(days=1)):
        session = services.book_session(
            clinic=world.kelowna,
            therapist=world.therapist,
            patient=ann,
            starts_at=starts_at,
            by=world.front_desk,
        )
    assert session.ends_at - session.starts_at == datetime.timedelta(minutes=30)
    assert session.starts_at == starts_at.astimezone(datetime.UTC)  # the first 01:45
