"""The demo loads whatever the hour: `make run` on a fresh clone at lunch or on a Sunday.

The demo stages its past sessions at the hour it is loaded (sessions.demo); the
therapists' working hours, recorded before the last of them, refused one at
lunch, in the evening and on Sundays, and `make run` failed then. The clock is
set for the whole load (time-machine), in the coming week so that the database's
own clock is near.
"""

import datetime
import io
import zoneinfo

import pytest
import time_machine
from django.core.management import call_command
from django.test import override_settings

from aftercare.models import AftercarePlan
from sessions.models import Status, TreatmentSession, WorkingHours

KELOWNA = zoneinfo.ZoneInfo("America/Vancouver")


def coming(weekday: int, hour: int, minute: int = 0) -> datetime.datetime:
    """The next `weekday` (0 Monday) after today, at `hour`:`minute` in Kelowna."""
    today = datetime.datetime.now(KELOWNA).date()
    days = (weekday - today.weekday()) % 7 or 7
    day = today + datetime.timedelta(days=days)
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=KELOWNA)


@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(coming(1, 12, 40), id="a-tuesday-at-lunch"),
        pytest.param(coming(6, 21, 0), id="a-sunday-evening"),
    ],
)
def test_the_demo_loads_at_any_hour_with_its_working_hours_last(db, moment):
    with time_machine.travel(moment), override_settings(DEBUG=True):
        call_command("demo_data", stdout=io.StringIO())
    assert WorkingHours.objects.count() == 3 * 11  # three sites' therapists, 11 periods each
    assert TreatmentSession.objects.filter(status=Status.SIGNED).count() > 10
    # aftercare.demo's session, staged after the sessions' week: Emma's, signed, with a plan.
    assert AftercarePlan.objects.filter(
        session__patient__first_name="Emma", session__status=Status.SIGNED
    ).exists()
