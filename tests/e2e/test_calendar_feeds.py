"""A therapist puts their bookings in their calendar app: from the calendar, they make a
feed, copy its address with the button, a calendar reads it without a login, and once
revoked it reads nothing."""

from urllib.parse import urlsplit

from icalendar import Calendar
from playwright.sync_api import expect

from sessions import services
from tests.patients.factories import PatientFactory, tomorrow_at


def test_a_therapist_makes_copies_and_revokes_a_calendar_feed(world, open_as, browser, live_server):
    ada = PatientFactory(home_clinic=world.kelowna, first_name="Ada", last_name="Lovelace")
    session = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=ada,
        starts_at=tomorrow_at(10, clinic=world.kelowna),
        by=world.front_desk,
    )
    page = open_as(world.therapist)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/sessions/calendar/")
    page.get_by_role("link", name="Your bookings in your calendar app").click()
    expect(page.get_by_text("You have no calendar feeds.")).to_be_visible()
    page.get_by_label("Name").fill("Phone")
    page.get_by_role("button", name="Make a feed").click()

    address = page.get_by_label("Copy this address now")
    expect(address).to_be_visible()
    url = address.input_value()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == url
    expect(page.get_by_role("row", name="Phone")).to_contain_text("Active")

    # A calendar app: no login, no cookies.
    calendar_app = browser.new_context(base_url=live_server.url)
    feed = calendar_app.request.get(urlsplit(url).path)
    assert feed.status == 200
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    (event,) = Calendar.from_ical(feed.body()).walk("VEVENT")
    assert str(event["uid"]).startswith(str(session.pk))
    assert str(event["summary"]) == "Session · A.L."
    assert "Lovelace" not in feed.text()

    page.get_by_role("button", name="Revoke Phone").click()
    expect(page.get_by_text("was revoked: its address no longer works")).to_be_visible()
    expect(page.get_by_role("row", name="Phone")).to_contain_text("Revoked")
    gone = calendar_app.request.get(urlsplit(url).path)
    assert gone.status == 404
    calendar_app.close()
