"""Logins end after a spell without activity (clinics/idle.py says how long), and after
SESSION_COOKIE_AGE whatever happens.

The server decides: each request that counts as activity moves the session's clock (written
at most every WRITE_EVERY seconds, so a busy page costs no session write per request), and a
request that comes after the limit logs the person out instead of being answered. The page's
warning (config/static/fascia/idle.js) asks `time_left` (which is no activity) and `stay`.
API requests with a token are no login session and are never touched.
"""

import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_POST

from clinics.idle import IDLE_SECONDS, LAST_ACTIVITY, LOGGED_IN_AT, idle_minutes_of

WRITE_EVERY = 30
"""Seconds between two writes of the activity time: a login may end up to this much sooner."""

NOT_ACTIVITY = "idle_time_left"
"""Asked by the page's warning: answering it must not keep the login alive."""


class IdleTimeoutMiddleware:
    """After AuthenticationMiddleware and MessageMiddleware: it logs out and leaves a message."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = request.session
        if SESSION_KEY not in session:  # no login session: a token, or nobody
            return self.get_response(request)
        # A token request is no activity of the login session its cookie may name; the
        # session's limits still hold for it (a made-up token header opens no idle page).
        by_token = request.headers.get("Authorization", "").startswith("Bearer ")
        now = time.time()
        if LAST_ACTIVITY not in session:  # a login older than this clock
            if not by_token:
                _count_activity(request, now)
        elif now - session.get(LOGGED_IN_AT, now) > settings.SESSION_COOKIE_AGE:
            return _log_out(request, "expired")
        elif now - session[LAST_ACTIVITY] >= WRITE_EVERY and request.user.is_authenticated:
            limit = idle_minutes_of(request.user) * 60
            if now - session[LAST_ACTIVITY] > limit:
                return _log_out(request, "idle", limit)
            if session.get(IDLE_SECONDS) != limit:
                session[IDLE_SECONDS] = limit  # the organisation changed it: the page tells
            if request.path != reverse(NOT_ACTIVITY) and not by_token:
                session[LAST_ACTIVITY] = now
        return self.get_response(request)


def _count_activity(request, now: float) -> None:
    request.session[LAST_ACTIVITY] = now
    request.session.setdefault(LOGGED_IN_AT, now)
    if request.user.is_authenticated:
        request.session[IDLE_SECONDS] = idle_minutes_of(request.user) * 60


def _log_out(request, reason: str, limit: int | None = None):
    """Django's logout (its user_logged_out signal carries `fascia_logout_reason` to the
    security log), then: the API and the warning's requests get 401, pages go to the login
    with a message and come back where they were."""
    if reason == "idle":
        message = f"You were logged out after {limit // 60} minutes without activity."
    else:
        hours = settings.SESSION_COOKIE_AGE // 3600
        message = f"You were logged out: a login lasts {hours} hours. Log in again."
    request.fascia_logout_reason = reason
    logout(request)
    messages.info(request, message)  # on the login page, whichever request ended it
    if request.path.startswith(("/api/", "/accounts/session/")):
        response = JsonResponse(
            {"detail": f"{message} Log in again.", "code": "logged_out", "fields": {}},
            status=401,
        )
        response["WWW-Authenticate"] = "Bearer"
        return response
    back = _where_they_were(request)
    login = reverse(settings.LOGIN_URL)
    return redirect(f"{login}?{urlencode({'next': back})}" if back else login)


def _where_they_were(request) -> str:
    """The page asked for; for a form sent (the page is gone), the page it was sent from."""
    if request.method in ("GET", "HEAD"):
        return request.get_full_path()
    referer = request.headers.get("Referer", "")
    if url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        sent_from = urlsplit(referer)
        return f"{sent_from.path}?{sent_from.query}" if sent_from.query else sent_from.path
    return ""


def _seconds_left(request) -> int:
    session = request.session
    limit = session.get(IDLE_SECONDS, 0)
    return max(0, round(session.get(LAST_ACTIVITY, 0) + limit - time.time()))


def _not_logged_in() -> JsonResponse:
    response = JsonResponse(
        {"detail": "You are not logged in.", "code": "not_authenticated", "fields": {}},
        status=401,
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@require_GET
def time_left(request):
    """Seconds until the login ends without activity; asking is no activity."""
    if not request.user.is_authenticated:
        return _not_logged_in()
    return JsonResponse({"seconds_left": _seconds_left(request)})


@require_POST
def stay(request):
    """The warning's "Stay logged in": counts as activity now, whatever was written last."""
    if not request.user.is_authenticated:
        return _not_logged_in()
    _count_activity(request, time.time())
    return JsonResponse({"seconds_left": _seconds_left(request)})
