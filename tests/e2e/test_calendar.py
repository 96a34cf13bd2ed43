"""The front desk books from free time in the week's calendar, then moves the booking: by
dragging it with the mouse, and by its Move button and the keyboard (as on a tablet)."""

import datetime

from django.utils import timezone
from playwright.sync_api import expect

from sessions import services
from sessions.models import TreatmentSession, TreatmentSessionEvent
from tests.patients.factories import PatientFactory


def test_the_front_desk_books_from_free_time_in_the_week_and_moves_it(world, open_as):
    zone = world.kelowna.zone
    today = timezone.localdate(timezone=zone)
    monday = today + datetime.timedelta(days=7 - today.weekday())  # next week's: always ahead
    services.add_working_hours(
        clinic=world.kelowna,
        therapist=world.therapist,
        weekday=0,
        starts=datetime.time(8),
        ends=datetime.time(12),
        by=world.manager,
    )
    patient = PatientFactory(home_clinic=world.kelowna, first_name="Ada", last_name="Quinn")
    therapist = world.therapist.get_full_name()
    day = f"{monday:%A} {monday.day} {monday:%B}"

    desk = open_as(world.front_desk)
    desk.goto(f"/sessions/calendar/week/?date={monday:%Y-%m-%d}")
    expect(desk.get_by_role("heading", name=f"Week of {monday.day} {monday:%B}")).to_be_visible()
    desk.get_by_role("link", name=f"Book {day} from 08:00 with {therapist}").click()
    desk.get_by_label("Find the patient").fill("Ada Quin")
    desk.get_by_role("button", name="Search").click()
    desk.get_by_role("link", name="Ada Quinn").click()
    expect(desk.get_by_label("Time")).to_have_value("08:00")
    desk.get_by_role("button", name="Book").click()
    expect(desk.get_by_text("Booked: Ada Quinn.")).to_be_visible()
    session = TreatmentSession.objects.get(patient=patient)
    assert timezone.localtime(session.starts_at, zone).time() == datetime.time(8)

    # Dragged onto the free time after it: the dialog offers that time's start.
    desk.goto(f"/sessions/calendar/week/?date={monday:%Y-%m-%d}")
    booking = desk.locator("a.calendar-session", has_text="Ada Quinn")
    target = desk.get_by_role("link", name=f"Book {day} from 08:30 with {therapist}")
    # The drag's events as the browser sends them: picked up, over the free time, dropped.
    # Dispatched, not moved with the mouse: with Chromium 150, Playwright's pressed mouse
    # waits for ever for a drag it intercepts (the test hung on 2026-12-08).
    carried = desk.evaluate_handle("() => new DataTransfer()")
    booking.dispatch_event("dragstart", {"dataTransfer": carried})
    target.dispatch_event("dragover", {"dataTransfer": carried})
    target.dispatch_event("drop", {"dataTransfer": carried})
    booking.dispatch_event("dragend", {"dataTransfer": carried})
    dialog = desk.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Move Ada Quinn to {day} with {therapist}")
    expect(dialog.get_by_label("Time")).to_have_value("08:30")
    dialog.get_by_label("Time").fill("10:00")
    dialog.get_by_role("button", name="Move").click()
    expect(desk.get_by_text(f"Moved Ada Quinn to {day}, 10:00 with {therapist}.")).to_be_visible()
    expect(desk).to_have_url(f"/sessions/calendar/week/?date={monday:%Y-%m-%d}")
    session.refresh_from_db()
    assert timezone.localtime(session.starts_at, zone).time() == datetime.time(10)

    # By keyboard: its Move button, then a free time, then the dialog's time and Move.
    desk.get_by_role("button", name="Move Ada Quinn").focus()
    desk.keyboard.press("Enter")
    expect(desk.get_by_text("Moving Ada Quinn: choose a free time")).to_be_visible()
    desk.get_by_role("link", name=f"Book {day} from 08:00 with {therapist}").focus()
    desk.keyboard.press("Enter")
    expect(dialog.get_by_label("Time")).to_have_value("08:00")
    dialog.get_by_label("Time").fill("08:15")
    dialog.get_by_role("button", name="Move").press("Enter")
    expect(desk.get_by_text(f"Moved Ada Quinn to {day}, 08:15 with {therapist}.")).to_be_visible()
    session.refresh_from_db()
    assert timezone.localtime(session.starts_at, zone).time() == datetime.time(8, 15)
    moves = TreatmentSessionEvent.objects.filter(pgh_obj=session).order_by("pgh_id")
    starts = [timezone.localtime(event.starts_at, zone).time() for event in moves]
    assert starts == [datetime.time(8), datetime.time(10), datetime.time(8, 15)]
