"""Calendar feeds and calendar files.

- `calendar_feed`: the feed itself, at its secret address, for calendar apps (no login:
  the secret is the key);
- `calendar_feeds`: the therapist's page to make, copy and revoke their feeds;
- `calendar_file` and `portal_calendar_file`: one booking as a .ics file, for staff on the
  session's page and for the patient in the portal.
"""

import uuid

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseNotFound
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_safe

from accounts.services import hash_secret
from accounts.shown_once import ShownOnce
from clinics import access
from clinics.exceptions import FasciaError
from patients.models import ReadVia, RecordPart
from patients.services import record_read
from patients.views.scope import portal_page, staff_page
from sessions.exceptions import CalendarFeedNotFound
from sessions.forms import CalendarFeedForm
from sessions.models import HOLDS_THE_SLOT, CalendarFeed, TreatmentSession
from sessions.services import feeds
from sessions.views.session import session_page

CALENDAR = "text/calendar; charset=utf-8"

NEW_FEED = ShownOnce(cookie="fascia_new_calendar_feed", salt="sessions.calendar_feed.new")
"""The new feed's address crosses the redirect to be shown once (as a new API token)."""


@require_safe
def calendar_feed(request, secret: str):
    """The feed a calendar app subscribes to. A wrong or revoked address answers 404."""
    try:
        body = feeds.feed_calendar(secret)
    except CalendarFeedNotFound as error:
        return HttpResponseNotFound(error.message, content_type="text/plain; charset=utf-8")
    return HttpResponse(body, content_type=CALENDAR)


@staff_page
def calendar_feeds(request):
    """The therapist's own calendar feeds: made (the address shown once), listed, revoked."""
    page = reverse("sessions:calendar_feeds")
    organizations = list(feeds.therapist_organizations(request.user).order_by("name"))
    if request.method == "POST" and request.POST.get("action") == "revoke":
        return _revoke(request)
    form = CalendarFeedForm(
        request.POST if request.method == "POST" else None, organizations=organizations
    )
    if form.is_valid():
        organization = next(
            org for org in organizations if org.pk == form.cleaned_data["organization"]
        )
        try:
            _feed, secret = feeds.create_calendar_feed(
                organization=organization,
                therapist=request.user,
                by=request.user,
                name=form.cleaned_data["name"],
            )
        except FasciaError as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, refusal.message)
        else:
            return NEW_FEED.pass_on(redirect(page), secret, page=page)
    mine = list(
        access.visible_to(
            request.user,
            CalendarFeed.objects.filter(therapist=request.user).select_related("organization"),
        )
    )
    new_secret = NEW_FEED.read(request)
    new_hash = hash_secret(new_secret) if new_secret else None
    response = render(
        request,
        "sessions/calendar_feeds.html",
        {
            "form": form,
            "feeds": mine,
            "organizations": organizations,
            "new_url": feeds.feed_url(new_secret) if new_secret else None,
            "new_feed": next((feed for feed in mine if feed.secret_hash == new_hash), None),
        },
    )
    return NEW_FEED.forget(request, response, page=page)


def _revoke(request):
    try:
        feed_id = uuid.UUID(request.POST.get("feed", ""))
    except ValueError:
        raise Http404("No such calendar feed.") from None
    feed = get_object_or_404(
        access.visible_to(request.user, CalendarFeed.objects.filter(therapist=request.user)),
        pk=feed_id,
    )
    if feeds.revoke_calendar_feed(feed=feed, by=request.user):
        messages.success(request, f"The feed “{feed}” was revoked: its address no longer works.")
    else:
        messages.info(request, f"The feed “{feed}” was already revoked.")
    return redirect("sessions:calendar_feeds")


# --- One booking as a file ----------------------------------------------------------------


def _as_file(session: TreatmentSession) -> HttpResponse:
    """The booking's file; a cancelled booking or a no-show has no time to add (404).
    The pages offer it for the bookings still to come."""
    if session.status not in HOLDS_THE_SLOT:
        raise Http404("This booking was cancelled or missed: there is nothing to add.")
    response = HttpResponse(feeds.booking_calendar_file(session), content_type=CALENDAR)
    name = feeds.calendar_file_name(session)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@session_page
def calendar_file(request, session):
    """The booking as a .ics file, for the front desk to e-mail or the patient's phone."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    response = _as_file(session)
    # Which booking, when and with whom: no name in the file, but a read of the booking.
    record_read(
        reader=request.user,
        patient=session.patient,
        part=RecordPart.LIST,
        via=ReadVia.PAGE,
        item=session,
    )
    return response


@portal_page
def portal_calendar_file(request, patient, session_id):
    """One of the patient's own bookings still to come, as a .ics file; anyone else's is 404."""
    own = TreatmentSession.objects.filter(patient=patient, patient__user=request.user)
    session = get_object_or_404(
        access.visible_to(request.user, own).select_related("clinic", "therapist"),
        pk=session_id,
    )
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return _as_file(session)
