"""Calendar feeds and calendar files: a therapist's bookings in their calendar app at a
private address (initials only, revocable), and a patient's booking as a .ics file."""

import datetime
import hashlib
import re
import zoneinfo
from html import unescape
from urllib.parse import urlsplit

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from icalendar import Calendar

from clinics.models import Role
from patients.models import RecordRead
from sessions import services
from sessions.exceptions import CalendarFeedRefused, NotPermitted
from sessions.models import CalendarFeed
from sessions.services import feeds
from tests.clinics.factories import ClinicFactory, MembershipFactory
from tests.patients.factories import PatientFactory, with_portal_login
from tests.sessions.factories import ready_to_needle, started_session

TORONTO = zoneinfo.ZoneInfo("America/Toronto")
NOW = datetime.datetime(2026, 10, 28, 12, tzinfo=TORONTO)  # a Wednesday; the clocks go back 1 Nov
UTC = datetime.UTC
HOST = urlsplit(settings.FASCIA_BASE_URL).hostname


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def toronto_at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=TORONTO)


@pytest.fixture
def toronto(world):
    """A Toronto site of Kelowna Physio, where Priya (the Kelowna therapist) also works."""
    clinic = ClinicFactory(
        organization=world.organization,
        name="Toronto",
        timezone="America/Toronto",
        address="200 Bay Street\nToronto ON M5J 2J1",
    )
    MembershipFactory(user=world.therapist, clinic=clinic, role=Role.THERAPIST)
    return clinic


@pytest.fixture
def ada(world):
    return PatientFactory(home_clinic=world.kelowna, first_name="Ada", last_name="Lovelace")


def book(world, clinic, patient, starts_at, **kwargs):
    return services.book_session(
        clinic=clinic,
        therapist=kwargs.pop("therapist", world.therapist),
        patient=patient,
        starts_at=starts_at,
        by=world.org_admin,
        **kwargs,
    )


def booked_then(moment: datetime.datetime, world, clinic, patient, **kwargs):
    """A booking for `moment`, made with the clock an hour before it (a past one too)."""
    with time_machine.travel(moment - datetime.timedelta(hours=1), tick=False):
        return book(world, clinic, patient, moment, **kwargs)


def new_feed(world, therapist=None, organization=None) -> tuple[CalendarFeed, str]:
    therapist = therapist or world.therapist
    return feeds.create_calendar_feed(
        organization=organization or world.organization, therapist=therapist, by=therapist
    )


def poll(url_or_secret: str):
    """The feed, as a calendar app reads it: no login."""
    path = urlsplit(url_or_secret).path if "/" in url_or_secret else None
    return Client().get(path or reverse("calendar_feed", args=[url_or_secret]))


def events_of(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert "no-store" in response["Cache-Control"]
    calendar = Calendar.from_ical(response.content)
    return {str(event["uid"]).split("@")[0]: event for event in calendar.walk("VEVENT")}


def utc(event, name) -> datetime.datetime:
    return event.decoded(name).astimezone(UTC)


# --- The feed --------------------------------------------------------------------------------


@pytest.fixture
def bookings(world, toronto, ada):
    """Priya's bookings, and others' that her feed must leave out."""
    made = {}
    type_ = services.create_appointment_type(
        organization=world.organization,
        by=world.org_admin,
        name="Manual therapy",
        minutes=45,
        needling=False,
    )
    # Either side of Toronto's clock change (Sunday 1 November, 02:00 -> 01:00).
    made["before_change"] = book(
        world, toronto, ada, toronto_at(datetime.date(2026, 10, 30), 10), appointment_type=type_
    )
    made["after_change"] = book(world, toronto, ada, toronto_at(datetime.date(2026, 11, 2), 10))
    cancelled = book(world, toronto, ada, toronto_at(datetime.date(2026, 11, 3), 9))
    made["cancelled"] = services.cancel_session(
        session=cancelled, by=world.org_admin, reason="Patient has the flu"
    )
    # Three weeks ago, and never started: still her time then.
    made["past"] = booked_then(NOW - datetime.timedelta(days=21), world, toronto, ada)
    # In progress now, at Kelowna.
    noor = ready_to_needle(
        PatientFactory(home_clinic=world.kelowna, first_name="Noor", last_name="Haddad"),
        by=world.therapist,
    )
    made["in_progress"] = started_session(patient=noor, therapist=world.therapist)
    # Charted and signed tomorrow, with notes, an adverse event and an addendum.
    made["signed"] = world.kelowna_record().session
    left_out = {}
    missed = booked_then(NOW - datetime.timedelta(days=10), world, toronto, ada)
    with time_machine.travel(missed.ends_at, tick=False):
        left_out["no_show"] = services.mark_no_show(session=missed, by=world.org_admin)
    left_out["too_old"] = booked_then(NOW - datetime.timedelta(days=40), world, toronto, ada)
    left_out["too_far"] = book(world, toronto, ada, NOW + datetime.timedelta(days=200))
    left_out["vernon"] = book(
        world,
        world.vernon,
        PatientFactory(home_clinic=world.vernon, first_name="Eli", last_name="Brandt"),
        NOW + datetime.timedelta(days=1),
        therapist=world.vernon_therapist,
    )
    # Priya also treats at Harbourside, the other organisation: a feed is one organisation's.
    MembershipFactory(user=world.therapist, clinic=world.halifax, role=Role.THERAPIST)
    left_out["other_organization"] = services.book_session(
        clinic=world.halifax,
        therapist=world.therapist,
        patient=PatientFactory(home_clinic=world.halifax, first_name="Maren", last_name="Dahl"),
        starts_at=NOW + datetime.timedelta(days=2),
        by=world.other_admin,
    )
    return made, left_out


def test_the_feed_parses_back_with_exactly_the_therapists_bookings_in_utc(world, bookings):
    made, left_out = bookings
    _feed, secret = new_feed(world)
    events = events_of(poll(feeds.feed_url(secret)))
    assert set(events) == {str(session.pk) for session in made.values()}
    assert not set(events) & {str(session.pk) for session in left_out.values()}
    # 10:00 in Toronto is 14:00 UTC before the clocks go back, 15:00 after.
    before = events[str(made["before_change"].pk)]
    assert utc(before, "dtstart") == datetime.datetime(2026, 10, 30, 14, tzinfo=UTC)
    assert utc(before, "dtend") == datetime.datetime(2026, 10, 30, 14, 45, tzinfo=UTC)
    after = events[str(made["after_change"].pk)]
    assert utc(after, "dtstart") == datetime.datetime(2026, 11, 2, 15, tzinfo=UTC)
    assert utc(after, "dtend") == datetime.datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
    assert before.to_ical().decode().count("DTSTART:20261030T140000Z") == 1
    assert str(before["summary"]) == "Manual therapy · A.L."
    assert str(after["summary"]) == "Session · A.L."
    assert str(after["location"]) == "Toronto, 200 Bay Street, Toronto ON M5J 2J1"
    assert str(events[str(made["signed"].pk)]["summary"]) == "Session · A.Q."
    # A cancelled booking is there to be taken out of the calendar; the rest stand.
    assert str(events[str(made["cancelled"].pk)]["status"]) == "CANCELLED"
    assert {str(events[str(made[k].pk)]["status"]) for k in made if k != "cancelled"} == {
        "CONFIRMED"
    }
    # SEQUENCE follows the booking's version (a cancellation changes it); UID and DTSTAMP.
    assert events[str(made["cancelled"].pk)]["sequence"] == made["cancelled"].version == 2
    assert after["sequence"] == 1
    assert str(after["uid"]) == f"{made['after_change'].pk}@{HOST}"
    assert utc(after, "dtstamp") == NOW.astimezone(UTC)


def test_the_feed_shows_initials_never_a_name_a_note_or_a_clinical_fact(world, bookings):
    _feed, secret = new_feed(world)
    # The therapist's own name (a random one, which may be "Quinn" or "Adams") is the
    # calendar's: what is looked for is the patients'.
    text = poll(secret).content.decode().replace(world.therapist.get_full_name(), "THERAPIST")
    record = world.kelowna_record()
    for never in (
        "Lovelace",
        "Ada",
        "Quinn",
        "Noor",
        "Haddad",
        record.patient.email,
        "Patient has the flu",  # the cancellation's reason
        *record.clinical_answers(),
        "Tension headaches",  # the chart
        "Sent to emergency",  # the adverse event
        "X-ray clear",  # the addendum
    ):
        assert never not in text, never
    assert "A.L." in text and "A.Q." in text and "N.H." in text


def test_the_feed_costs_the_same_queries_for_3_bookings_or_30(world, toronto, ada):
    _feed, secret = new_feed(world)
    first_day = datetime.date(2026, 11, 2)
    for hour in (9, 10, 11):
        book(world, toronto, ada, toronto_at(first_day, hour))
    with CaptureQueriesContext(connection) as three:
        assert len(events_of(poll(secret))) == 3
    for day in range(1, 10):
        for hour in (9, 10, 11):
            book(world, toronto, ada, toronto_at(first_day + datetime.timedelta(days=day), hour))
    # Past the time the last use is written again, so both polls write it.
    later = NOW + datetime.timedelta(minutes=6)
    with time_machine.travel(later, tick=False), CaptureQueriesContext(connection) as thirty:
        assert len(events_of(poll(secret))) == 30
    assert len(three) == len(thirty) == 3, [q["sql"] for q in thirty.captured_queries]


def test_a_revoked_feed_answers_404_and_a_new_one_works(world, toronto, ada):
    session = book(world, toronto, ada, NOW + datetime.timedelta(days=1))
    feed, secret = new_feed(world)
    assert str(session.pk) in events_of(poll(secret))
    assert feeds.revoke_calendar_feed(feed=feed, by=world.therapist) is True
    gone = poll(secret)
    assert gone.status_code == 404
    assert gone["Content-Type"] == "text/plain; charset=utf-8"
    assert gone.content.decode() == (
        "No calendar feed here: the address is wrong or the feed was revoked."
    )
    # Revoking again changes nothing, and says so.
    revoked_at = CalendarFeed.objects.get(pk=feed.pk).revoked_at
    assert feeds.revoke_calendar_feed(feed=feed, by=world.therapist) is False
    assert CalendarFeed.objects.get(pk=feed.pk).revoked_at == revoked_at
    _again, new_secret = new_feed(world)
    assert str(session.pk) in events_of(poll(new_secret))
    assert poll("x" * 43).status_code == 404  # an address nobody was given


def test_a_feed_stops_when_its_therapist_no_longer_works_there(world, toronto, ada):
    _feed, secret = new_feed(world)
    assert poll(secret).status_code == 200
    world.therapist.memberships.filter(organization=world.organization).delete()
    assert poll(secret).status_code == 404


def test_the_secret_is_kept_only_as_its_sha256(world):
    feed, secret = new_feed(world)
    stored = CalendarFeed.objects.filter(pk=feed.pk).values().get()
    assert stored["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(stored)
    history = feed.events.values()  # pghistory's rows
    assert history and secret not in repr(list(history))
    assert len(secret) >= 43  # 256 bits


def test_the_last_use_is_written_at_most_every_few_minutes(world):
    feed, secret = new_feed(world)
    poll(secret)
    assert CalendarFeed.objects.get(pk=feed.pk).last_used_at == NOW
    with time_machine.travel(NOW + datetime.timedelta(minutes=4), tick=False):
        with CaptureQueriesContext(connection) as queries:
            poll(secret)
        assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert CalendarFeed.objects.get(pk=feed.pk).last_used_at == NOW
    later = NOW + datetime.timedelta(minutes=6)
    with time_machine.travel(later, tick=False):
        poll(secret)
    assert CalendarFeed.objects.get(pk=feed.pk).last_used_at == later
    assert feed.events.count() == 1  # the use is not history


def test_only_a_therapist_makes_a_feed_and_only_their_own(world):
    with pytest.raises(CalendarFeedRefused) as refused:
        feeds.create_calendar_feed(
            organization=world.organization, therapist=world.front_desk, by=world.front_desk
        )
    assert refused.value.field == "organization"
    with pytest.raises(NotPermitted):
        feeds.create_calendar_feed(
            organization=world.organization, therapist=world.therapist, by=world.manager
        )
    assert not CalendarFeed.objects.exists()


# --- The page --------------------------------------------------------------------------------


def text(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def test_the_page_makes_shows_once_and_revokes_a_feed(world, client_of, toronto, ada):
    session = book(world, toronto, ada, NOW + datetime.timedelta(days=1))
    priya = client_of(world.therapist)
    calendar = priya.get(reverse("sessions:calendar"))
    assert reverse("sessions:calendar_feeds") in calendar.content.decode()
    page = priya.get(reverse("sessions:calendar_feeds"))
    assert "You have no calendar feeds." in text(page)
    made = priya.post(
        reverse("sessions:calendar_feeds"),
        {"action": "create", "name": "Phone", "organization": str(world.organization.pk)},
    )
    assert made.status_code == 302
    shown = priya.get(reverse("sessions:calendar_feeds"))
    html = shown.content.decode()
    url = re.search(r'id="new-feed"[^>]*value="([^"]+)"', html).group(1)
    assert url.startswith(f"{settings.FASCIA_BASE_URL}/calendar-feeds/") and url.endswith(".ics")
    assert 'data-copy="new-feed"' in html
    assert "Google Calendar" in text(shown) and "Outlook" in text(shown)
    assert "Apple Calendar" in text(shown)
    assert str(session.pk) in events_of(poll(url))
    # Shown once: the next visit lists the feed, not its address.
    again = priya.get(reverse("sessions:calendar_feeds"))
    assert url not in again.content.decode()
    feed = CalendarFeed.objects.get()
    assert "Phone" in text(again) and "Active" in text(again)
    assert feed.last_used_at == NOW
    # Revoked with a POST (CSRF checked as in a browser).
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.therapist)
    form = browser.get(reverse("sessions:calendar_feeds"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.content.decode())
    revoke = {"action": "revoke", "feed": str(feed.pk)}
    assert browser.post(reverse("sessions:calendar_feeds"), revoke).status_code == 403
    done = browser.post(
        reverse("sessions:calendar_feeds"),
        {**revoke, "csrfmiddlewaretoken": token.group(1)},
        follow=True,
    )
    assert "was revoked: its address no longer works" in text(done)
    assert "Revoked" in text(done)
    assert poll(url).status_code == 404


def test_the_page_revokes_only_the_therapists_own_feeds(world, client_of):
    dans, _secret = new_feed(world, therapist=world.vernon_therapist)
    response = client_of(world.therapist).post(
        reverse("sessions:calendar_feeds"), {"action": "revoke", "feed": str(dans.pk)}
    )
    assert response.status_code == 404
    assert CalendarFeed.objects.get(pk=dans.pk).revoked_at is None


def test_staff_who_treat_no_one_are_told_feeds_are_for_therapists(world, client_of):
    page = client_of(world.front_desk).get(reverse("sessions:calendar_feeds"))
    assert page.status_code == 200
    assert "you hold no therapist's role" in text(page)
    calendar = client_of(world.front_desk).get(reverse("sessions:calendar"))
    assert reverse("sessions:calendar_feeds") not in calendar.content.decode()


# --- The API ---------------------------------------------------------------------------------


def test_the_api_makes_a_feed_and_shows_its_address_once(world, client_of, toronto, ada):
    session = book(world, toronto, ada, NOW + datetime.timedelta(days=1))
    priya = client_of(world.therapist)
    made = priya.post(
        reverse("calendar-feed-list"),
        {"organization": str(world.organization.pk), "name": "Tablet"},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["name"] == "Tablet" and body["is_active"] is True
    assert body["therapist"]["id"] == str(world.therapist.pk)
    assert str(session.pk) in events_of(poll(body["url"]))
    shown = priya.get(reverse("calendar-feed-detail", args=[body["id"]])).json()
    assert "url" not in shown and shown["last_used_at"] is not None
    # Someone who treats no one there cannot make one.
    refused = client_of(world.org_admin).post(
        reverse("calendar-feed-list"),
        {"organization": str(world.organization.pk)},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert "organization" in refused.json()["fields"]


def listed(client) -> set[str]:
    response = client.get(reverse("calendar-feed-list"), {"page_size": 200})
    assert response.status_code == 200
    return {item["id"] for item in response.json()["results"]}


def test_the_api_lists_by_role(world, client_of):
    priyas, _ = new_feed(world)
    dans, _ = new_feed(world, therapist=world.vernon_therapist)
    others, _ = new_feed(
        world, therapist=world.other_therapist, organization=world.other_organization
    )
    assert listed(client_of(world.therapist)) == {str(priyas.pk)}
    assert listed(client_of(world.vernon_therapist)) == {str(dans.pk)}
    # The Kelowna manager: the feeds of Kelowna's staff, not Vernon's.
    assert listed(client_of(world.manager)) == {str(priyas.pk)}
    assert listed(client_of(world.org_admin)) == {str(priyas.pk), str(dans.pk)}
    assert listed(client_of(world.front_desk)) == set()
    assert listed(client_of(world.other_admin)) == {str(others.pk)}
    active = client_of(world.org_admin).get(reverse("calendar-feed-list"), {"is_active": "true"})
    assert active.json()["count"] == 2


def test_the_api_revokes_for_the_therapist_and_their_managers_only(world, client_of):
    priyas, secret = new_feed(world)
    revoke = reverse("calendar-feed-revoke", args=[priyas.pk])
    # Dan (Vernon) and the front desk do not see it; the manager of her clinic revokes it.
    for outsider in (world.vernon_therapist, world.front_desk, world.other_admin):
        assert client_of(outsider).post(revoke).status_code == 404
    assert poll(secret).status_code == 200
    answer = client_of(world.manager).post(revoke)
    assert answer.status_code == 200, answer.content
    assert answer.json()["is_active"] is False
    assert answer.json()["revoked_by"]["id"] == str(world.manager.pk)
    assert poll(secret).status_code == 404
    again = client_of(world.therapist).post(revoke)
    assert again.status_code == 200
    assert again.json()["revoked_by"]["id"] == str(world.manager.pk)  # unchanged


# --- One booking as a file -------------------------------------------------------------------


def test_a_patient_downloads_their_own_booking_and_no_one_elses(world, client_of, toronto, ada):
    with_portal_login(ada)
    mine = book(world, toronto, ada, toronto_at(datetime.date(2026, 11, 2), 10))
    kit = PatientFactory(home_clinic=world.kelowna, first_name="Kit", last_name="Oduya")
    theirs = book(world, world.kelowna, kit, NOW + datetime.timedelta(days=1))
    client = client_of(ada.user)
    portal = client.get(reverse("portal:home"))
    link = reverse("sessions_portal:calendar_file", args=[mine.pk])
    assert link in portal.content.decode() and "Add to calendar" in text(portal)
    response = client.get(link)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="appointment-2026-11-02.ics"'
    calendar = Calendar.from_ical(response.content)
    (event,) = calendar.walk("VEVENT")
    assert utc(event, "dtstart") == datetime.datetime(2026, 11, 2, 15, tzinfo=UTC)
    assert str(event["location"]) == "Toronto, 200 Bay Street, Toronto ON M5J 2J1"
    assert world.therapist.get_full_name() in str(event["summary"])
    assert "call +1 250 555 0100" in str(event["description"])
    assert str(event["uid"]) == f"{mine.pk}@{HOST}"
    assert "Lovelace" not in response.content.decode()
    other = client.get(reverse("sessions_portal:calendar_file", args=[theirs.pk]))
    assert other.status_code == 404
    services.cancel_session(session=mine, by=world.org_admin, reason="Moved away")
    assert client.get(link).status_code == 404


def test_the_front_desk_downloads_a_booking_from_its_page_and_the_read_is_logged(
    world, client_of, ada
):
    session = book(world, world.kelowna, ada, NOW + datetime.timedelta(days=1))
    desk = client_of(world.front_desk)
    page = desk.get(reverse("sessions:detail", args=[session.pk]))
    link = reverse("sessions:calendar_file", args=[session.pk])
    assert link in page.content.decode()
    before = RecordRead.objects.filter(patient=ada, reader=world.front_desk).count()
    response = desk.get(link)
    assert response.status_code == 200
    (event,) = Calendar.from_ical(response.content).walk("VEVENT")
    assert str(event["uid"]).startswith(str(session.pk))
    assert RecordRead.objects.filter(patient=ada, reader=world.front_desk).count() == before + 1
    assert client_of(world.vernon_therapist).get(link).status_code == 404
