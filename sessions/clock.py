"""A session on its clinic's clock: the day it may be started, and when its needling ended.

Each rule is written here once. The start service refuses with
`start_day_refusal`, the session page and the API show the same sentence
instead of offering the start; aftercare counts its check-ins, and triage its
hours, from `needling_ended_at`.
"""

import datetime

from django.utils import dateformat, timezone

from sessions.models import Chart, Status, TreatmentSession


def booked_day(session: TreatmentSession) -> datetime.date:
    """The day the session is booked for, on its clinic's clock.

    A session is the day's it starts on: one booked at 23:45 that runs past
    midnight belongs to the day before.
    """
    return timezone.localdate(session.starts_at, timezone=session.clinic.zone)


def start_day_refusal(
    session: TreatmentSession, *, now: datetime.datetime | None = None
) -> str | None:
    """Why a booked session cannot be started today, or None when today is its day.

    Today is the clinic's (`clinic.zone`): a therapist starts the session of
    the day, never next week's, nor one left from an earlier day (that one is
    a no-show, or is cancelled, and the patient is booked again). Only booked
    sessions are asked about; a session in another state answers None here
    (its state is the service's refusal).
    """
    if session.status != Status.BOOKED:
        return None
    day = booked_day(session)
    today = timezone.localdate(now or timezone.now(), timezone=session.clinic.zone)
    if day == today:
        return None
    named = dateformat.format(day, "l j F" if day.year == today.year else "l j F Y")
    if day > today:
        return f"This session is booked for {named}: it can be started on that day only."
    return (
        f"This session was booked for {named}: it can be started on that day only. Record a "
        "no-show or cancel it, and book the patient again."
    )


def may_start_today(session: TreatmentSession, *, now: datetime.datetime | None = None) -> bool:
    """Booked, and today on its clinic's clock is its day (the safety gate asks the rest)."""
    return session.status == Status.BOOKED and start_day_refusal(session, now=now) is None


def as_read(moment: datetime.datetime, zone) -> str:
    """A moment as a person at the clinic reads it: on the clinic's clock, to the minute."""
    return dateformat.format(timezone.localtime(moment, zone), "j F Y, H:i")


def needling_ended_at(
    session: TreatmentSession, *, chart: Chart | None = None
) -> datetime.datetime | None:
    """When the needles came out: the clock the check-ins and the red flags count from.

    The end as charted (`Chart.needling_ended_at`) when the therapist recorded
    it, else the signature: a chart signed as the session ends needs nothing
    more, and one signed later should record when the needling ended. Never
    the booked times, which say when the session was planned, not when it
    happened. None for a session neither charted with an end nor signed.
    """
    if chart is None:
        chart = Chart.objects.filter(session_id=session.pk).only("needling_ended_at").first()
    if chart is not None and chart.needling_ended_at is not None:
        return chart.needling_ended_at
    return session.signed_at
