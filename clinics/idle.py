"""How long a login may sit idle, and the clock config/idle_timeout.py ends it by.

The clock lives in the session: when the login started, when its last request that
counts as activity came, and the idle limit found then (the page's warning reads it).
"""

import time

from django.conf import settings
from django.db.models import Min

from clinics.models import STAFF_IDLE_MINUTES, Organization

LOGGED_IN_AT = "fascia_logged_in_at"
LAST_ACTIVITY = "fascia_last_activity"
IDLE_SECONDS = "fascia_idle_seconds"


def idle_minutes_of(user) -> int:
    """Staff: their organisation's setting, the shortest when they hold roles in several.
    A superuser: at most the staff default. Anyone else (a patient): FASCIA_PATIENT_IDLE_MINUTES.
    """
    shortest = Organization.objects.filter(memberships__user=user).aggregate(
        shortest=Min("idle_minutes")
    )["shortest"]
    if user.is_superuser:
        return min(shortest or STAFF_IDLE_MINUTES, STAFF_IDLE_MINUTES)
    if shortest is not None:
        return shortest
    return settings.FASCIA_PATIENT_IDLE_MINUTES


def start_the_clock(sender, request, user, **kwargs) -> None:
    """At login (Django's user_logged_in): the login starts, and counts as activity."""
    session = getattr(request, "session", None)
    if session is None:
        return
    now = time.time()
    session[LOGGED_IN_AT] = now
    session[LAST_ACTIVITY] = now
    session[IDLE_SECONDS] = idle_minutes_of(user) * 60
