"""Calendar feeds and calendar files: bookings as iCalendar (RFC 5545), for calendar apps.

- A therapist's feed: a private address (`/calendar-feeds/<secret>.ics`) their calendar
  app subscribes to, holding their bookings in one organisation from 30 days back to
  180 days ahead. Made by the therapist, revoked by them, their organisation's admins
  or their clinics' managers. Only the secret's SHA-256 is kept, as for API tokens.
- A booking's calendar file: one event, for the patient's own calendar (the portal, or
  the front desk e-mailing it).

Neither holds a note or a clinical fact; the feed names a patient by initials only,
the file not at all. The feed is read by a calendar service, not a person: it writes no
access-log rows (docs/scheduling.md#calendar-feeds says why).
"""

import datetime
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from accounts.services import hash_secret
from clinics import access, row_security
from clinics.models import Clinic, Organization
from clinics.selectors import therapist_roles
from sessions.exceptions import CalendarFeedNotFound, CalendarFeedRefused, NotPermitted
from sessions.models import CalendarFeed, Status, TreatmentSession

DAYS_BACK = 30
DAYS_AHEAD = 180
IN_THE_FEED = [Status.BOOKED, Status.IN_PROGRESS, Status.SIGNED, Status.CANCELLED]
"""A cancelled booking stays in the feed as CANCELLED, so calendar apps take it out; a
no-show is past, and leaves it."""
USE_RECORDED_EVERY = datetime.timedelta(minutes=5)
"""last_used_at is written at most this often per feed, not on every poll."""
REFRESH = datetime.timedelta(minutes=15)
"""How often the feed asks calendar apps to read it again (most choose for themselves)."""
PRODUCT = "-//Fascia//Calendar//EN"


def feed_url(secret: str) -> str:
    """The feed's address, to paste into a calendar app."""
    return settings.FASCIA_BASE_URL + reverse("calendar_feed", args=[secret])


# --- Making and revoking ------------------------------------------------------------------


def therapist_organizations(user) -> QuerySet:
    """The organisations where `user` is a therapist: whose bookings a feed of theirs holds."""
    treats = therapist_roles(user=user)
    return Organization.objects.filter(pk__in=treats.values("organization_id"))


@transaction.atomic
def create_calendar_feed(
    *, organization: Organization, therapist, by, name: str = ""
) -> tuple[CalendarFeed, str]:
    """A new feed of `therapist`'s bookings in `organization`, and its secret, which is
    returned here and stored nowhere. Only the therapist makes their own."""
    if by is None or by.pk != therapist.pk:
        raise NotPermitted("therapist: a therapist makes their own calendar feed.")
    if not therapist_organizations(therapist).filter(pk=organization.pk).exists():
        raise CalendarFeedRefused(
            f"organization: you are not a therapist at {organization.name}: a calendar feed "
            "holds a therapist's bookings.",
            field="organization",
        )
    name = " ".join(str(name or "").split())
    if len(name) > CalendarFeed._meta.get_field("name").max_length:
        raise CalendarFeedRefused("name: use at most 100 characters.", field="name")
    secret = secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.create(
        organization=organization,
        therapist=therapist,
        name=name,
        secret_hash=hash_secret(secret),
        created_by=by,
    )
    return feed, secret


@transaction.atomic
def revoke_calendar_feed(*, feed: CalendarFeed, by) -> bool:
    """Revoke a feed: its address answers 404 from now on. False when it was revoked
    already (a second click): nothing changes."""
    if not access.can(by, "change", feed):
        raise NotPermitted(
            "feed: the therapist, their organisation's admins and their clinics' managers "
            "revoke a calendar feed."
        )
    now = timezone.now()
    revoked = CalendarFeed.objects.filter(pk=feed.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=by
    )
    if revoked:
        feed.revoked_at, feed.revoked_by = now, by
    return bool(revoked)


# --- The feed -----------------------------------------------------------------------------


def feed_calendar(secret: str) -> bytes:
    """The iCalendar of the feed at this secret: a fixed number of queries however many
    bookings (the feed and its therapist, the bookings, at most one write of when it was
    used). CalendarFeedNotFound when no feed answers there."""
    now = timezone.now()
    # The address names no organisation: the feed is found in all of them, and the rest
    # of the request reaches its own only (clinics/row_security.py).
    with row_security.every_organization():
        feed = (
            CalendarFeed.objects.select_related("therapist", "organization")
            .filter(secret_hash=hash_secret(secret), revoked_at__isnull=True)
            .annotate(
                works_there=Exists(
                    therapist_roles(user=OuterRef("therapist")).filter(
                        organization=OuterRef("organization")
                    )
                )
            )
            .first()
        )
        if feed is None or not feed.works_there or not feed.therapist.is_active:
            raise CalendarFeedNotFound(
                "No calendar feed here: the address is wrong or the feed was revoked."
            )
        _record_use(feed, at=now)
    row_security.admit(feed.organization_id)
    sessions = (
        TreatmentSession.objects.filter(
            organization=feed.organization_id,
            therapist=feed.therapist_id,
            status__in=IN_THE_FEED,
            ends_at__gt=now - datetime.timedelta(days=DAYS_BACK),
            starts_at__lt=now + datetime.timedelta(days=DAYS_AHEAD),
        )
        .select_related("clinic", "appointment_type", "patient")
        # What the events show, and no more of the patient than their initials need.
        .only(
            "id",
            "starts_at",
            "ends_at",
            "status",
            "version",
            "clinic__name",
            "clinic__address",
            "appointment_type__name",
            "patient__first_name",
            "patient__last_name",
        )
        .order_by("starts_at", "id")
    )
    calendar = _calendar(name=f"{feed.therapist.get_full_name()} · {feed.organization.name}")
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    for session in sessions:
        event = _event(session, stamp=now)
        kind = session.appointment_type.name if session.appointment_type else "Session"
        event.add("summary", f"{kind} · {initials(session.patient)}")
        event.add("url", settings.FASCIA_BASE_URL + reverse("sessions:detail", args=[session.pk]))
        calendar.add_component(event)
    return calendar.to_ical()


def _record_use(feed: CalendarFeed, *, at: datetime.datetime) -> None:
    """At most one conditional UPDATE per feed every few minutes, however often it is read."""
    if feed.last_used_at is not None and feed.last_used_at > at - USE_RECORDED_EVERY:
        return
    CalendarFeed.objects.filter(pk=feed.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=at - USE_RECORDED_EVERY)
    ).update(last_used_at=at)
    feed.last_used_at = at


def initials(patient) -> str:
    """ "A.L." for Ada Lovelace: enough for the therapist to know whom, nothing more."""
    letters = [name.strip()[:1].upper() for name in (patient.first_name, patient.last_name)]
    return "".join(f"{letter}." for letter in letters if letter)


# --- One booking, for the patient's calendar ----------------------------------------------


def booking_calendar_file(session: TreatmentSession) -> bytes:
    """A booking as a one-event iCalendar file: when, where, with whom, what kind. The
    caller has checked that the reader may see the session."""
    clinic = session.clinic
    kind = session.appointment_type.name if session.appointment_type else "Appointment"
    therapist = session.therapist.get_full_name()
    calendar = _calendar(name=clinic.name)
    calendar.add("method", "PUBLISH")
    event = _event(session, stamp=timezone.now())
    event.add("summary", f"{kind} with {therapist} · {clinic.name}")
    call = f"call {clinic.phone}" if clinic.phone else "contact the clinic"
    event.add(
        "description",
        f"{kind} with {therapist} at {clinic.name}. To move or cancel it, {call}.",
    )
    calendar.add_component(event)
    return calendar.to_ical()


def calendar_file_name(session: TreatmentSession) -> str:
    day = timezone.localdate(session.starts_at, timezone=session.clinic.zone)
    return f"appointment-{day:%Y-%m-%d}.ics"


# --- Shared -------------------------------------------------------------------------------


def _calendar(*, name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    return calendar


def _event(session: TreatmentSession, *, stamp: datetime.datetime) -> Event:
    """The parts of a booking's event that the feed and the file share: the same UID, so a
    booking added both ways is one event in a calendar that has both."""
    event = Event()
    event.add("uid", f"{session.pk}@{_host()}")
    event.add("dtstamp", stamp.astimezone(datetime.UTC))
    event.add("dtstart", session.starts_at.astimezone(datetime.UTC))
    event.add("dtend", session.ends_at.astimezone(datetime.UTC))
    event.add("sequence", session.version)
    event.add("status", "CANCELLED" if session.status == Status.CANCELLED else "CONFIRMED")
    event.add("location", _location(session.clinic))
    return event


def _location(clinic: Clinic) -> str:
    lines = [clinic.name, *(line.strip() for line in clinic.address.splitlines())]
    return ", ".join(line for line in lines if line)


def _host() -> str:
    return urlsplit(settings.FASCIA_BASE_URL).hostname or "fascia"
