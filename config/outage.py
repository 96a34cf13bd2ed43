"""A database that does not answer: a 503 to try again in a moment, never a server error.

With the database stopped, restarting or out of reach (or every pooled connection of the
process busy for DATABASE_POOL_TIMEOUT), a request fails where it first needs it: in a
view, in the API, or in a middleware reading the session or the user. Django hands every
uncaught exception, wherever it was raised, to handler500 (config/urls.py), and with DEBUG
off that is `server_error` here: the API answers a JSON 503 in its error format, a page a
plain 503 page, both with Retry-After. Anything else stays a 500. How fast the pool gives
up, and how it recovers when the database is back, is in config/settings.py (DATABASES).
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.middleware.csp import get_nonce
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from django.views import defaults
from psycopg_pool import PoolTimeout

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5  # about what a restart of PostgreSQL takes
API_PREFIX = "/api/"
# Errors the server sends when it cannot serve at all: SQLSTATE class 08 (the connection
# failed or broke), and the server shutting down, crashed or still starting.
CONNECTION_STATES = ("08",)
SERVER_STOPPING_STATES = {"57P01", "57P02", "57P03"}
API_MESSAGE = "The database is briefly unavailable: nothing was saved. Try again in a few seconds."


def database_unavailable(error: BaseException) -> bool:
    """True when `error` says the database cannot be reached, not that it refused a query.

    A statement timeout, a deadlock or a lock not granted are OperationalErrors too, but
    the database answered: they stay server errors, to be seen and fixed.
    """
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    cause = error.__cause__
    if isinstance(cause, PoolTimeout):
        return True
    state = getattr(cause, "sqlstate", None)
    if state is None:
        # psycopg's own: no server to connect to, or the connection closed under the query.
        return True
    return state.startswith(CONNECTION_STATES) or state in SERVER_STOPPING_STATES


def server_error(request) -> HttpResponse:
    """handler500: a database that does not answer is a 503 with Retry-After; the rest a 500."""
    error = sys.exc_info()[1]
    if error is None or not database_unavailable(error):
        return defaults.server_error(request)
    logger.warning(
        "the database is unavailable: %s %s answered 503 (%s: %s)",
        request.method,
        request.path,
        type(error.__cause__ or error).__name__,
        _first_line(error),
    )
    if request.path_info.startswith(API_PREFIX):
        response = JsonResponse(
            {"detail": API_MESSAGE, "code": "database_unavailable", "fields": {}}, status=503
        )
    else:
        response = _page(request)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    # Said once above, in one line: Django's own mark keeps it from logging this answer
    # again at ERROR with the whole traceback (django.utils.log.log_response).
    response._has_been_logged = True
    return response


def _page(request) -> HttpResponse:
    # No request context: its processors ask the database about the user and their clinics.
    html = render_to_string(
        "database_unavailable.html",
        {
            "was_saving": request.method not in ("GET", "HEAD"),
            "again": request.get_full_path() if request.method == "GET" else "",
            "csp_nonce": get_nonce(request) or "",
        },
    )
    return HttpResponse(html, status=503)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""
