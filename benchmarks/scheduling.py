"""Scheduling at clinic scale: how long the free-slot search takes over a month.

    DEBUG=true .venv/bin/python benchmarks/scheduling.py [--therapists 30]

It uses a database of its own, `fascia_benchmark_scheduling`, on the same server
as the app (the embedded one, or DATABASE_URL's), created and filled on the first
run and kept for the next ones (`--fresh` starts again, also to change
`--therapists`). One clinic, on Toronto's clock, has `--therapists` therapists
working Monday to Friday 08:00-12:00 and 13:00-18:00, and about ten 45-minute
bookings each a working day for five weeks from this Monday (1,500 a week with
30 therapists), with a gap here and there; one therapist is away a week and the
clinic is closed one Friday.

Each run times the median of 25 searches for the next 20 free slots of a 45-minute
needling type over 31 days: through `sessions.availability.free_slots` (in the
process), and through `GET /api/v1/slots/` with Django's test client as the front
desk (middleware, row-level security, access checks and serializers included);
and the same for one therapist, and for a patient with bookings of their own.
Then the day's calendar page of a full working day, and the week's calendar page of
a full week (1,500 bookings with 30 therapists), as the front desk. Each is run once
to fill caches and once to count its queries before the timed runs, which run with
DEBUG off (as served: no debug cursor).
"""

import argparse
import datetime
import os
import random
import statistics
import sys
import time
import zoneinfo
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["TEST_DATABASE_NAME"] = "fascia_benchmark_scheduling"

import django

django.setup()

from django.conf import settings
from django.db import connection, reset_queries, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from benchmarks.database import open_benchmark_database
from clinics.models import Clinic, Membership, Organization, Role
from patients.models import Patient
from sessions import availability, services
from sessions.models import AppointmentType, ChangeKind, TreatmentSession

RUNS = 25
ORGANIZATION = "Scheduling Physio"
ZONE = zoneinfo.ZoneInfo("America/Toronto")
LENGTH = datetime.timedelta(minutes=45)
STARTS = [(8, 0), (8, 45), (9, 30), (10, 15), (11, 0), (13, 0), (13, 45), (14, 30), (15, 15)]
STARTS += [(16, 0), (16, 45)]
WEEKS = 5
PATIENTS = 3000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--therapists", type=int, default=30)
    parser.add_argument("--fresh", action="store_true", help="drop and refill the database")
    options = parser.parse_args()

    open_benchmark_database(fresh=options.fresh)
    # Timed as served: DEBUG (needed to start without production's settings) makes every
    # cursor Django's debug cursor, which writes out each query with its parameters again
    # (a week's calendar sends 1,500 ids to several queries), and templates keep debug data.
    settings.DEBUG = False
    clinic = _filled(options.therapists)
    kind = AppointmentType.objects.get(organization=clinic.organization, minutes=45)
    desk = User.objects.get(email="desk@scheduling.test")
    first_ahead = (
        TreatmentSession.objects.filter(clinic=clinic, starts_at__gte=timezone.now())
        .order_by("starts_at")
        .first()
    )
    busy, busy_session_start = first_ahead.patient, first_ahead.starts_at
    bookings = TreatmentSession.objects.filter(clinic=clinic).count()
    print(f"{options.therapists} therapists, {bookings} bookings over {WEEKS} weeks")

    results = []

    def measure(label: str, action: Callable[[], object]) -> None:
        # Queries counted in a run of their own, after a first that fills caches: recording
        # them (the debug cursor again) costs time the timed runs must not pay.
        found = action()
        with CaptureQueriesContext(connection) as captured:
            action()
        queries = len(captured)
        reset_queries()
        if not found:
            raise SystemExit(f"{label}: no slot found")
        timings = []
        for _ in range(RUNS):
            start = time.perf_counter()
            action()
            timings.append((time.perf_counter() - start) * 1000)
        results.append((label, statistics.median(timings), queries))

    month = datetime.timedelta(days=31)

    def search(**kwargs):
        now = timezone.now()
        return availability.free_slots(
            clinic, appointment_type=kind, starts_at=now, ends_at=now + month, **kwargs
        )

    therapist = Membership.objects.filter(clinic=clinic, role=Role.THERAPIST).first()
    measure("free_slots, every therapist, 31 days", search)
    measure("free_slots, one therapist, 31 days", lambda: search(therapist=therapist.user))
    measure("free_slots, a booked patient, 31 days", lambda: search(patient_id=busy.pk))

    client = Client(SERVER_NAME="localhost")
    client.force_login(desk)
    url = reverse("slot-list")
    query = {"clinic": str(clinic.pk), "appointment_type": str(kind.pk), "days": 31}

    def api(**extra):
        response = client.get(url, {**query, **extra})
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.content[:200]}")
        return response.json()

    measure("GET /api/v1/slots/, every therapist", api)
    measure("GET /api/v1/slots/, a booked patient", lambda: api(patient=str(busy.pk)))

    busiest = timezone.localdate(busy_session_start, ZONE).isoformat()

    def calendar():
        response = client.get(reverse("sessions:calendar"), {"date": busiest})
        if response.status_code != 200:
            raise SystemExit(f"calendar: {response.status_code}")
        return response.content

    measure("GET /sessions/calendar/, a full day", calendar)

    def week():
        response = client.get(reverse("sessions:calendar_week"), {"date": busiest})
        if response.status_code != 200:
            raise SystemExit(f"week: {response.status_code}")
        return response.content

    measure("GET /sessions/calendar/week/, a full week", week)

    print(f"{'what':<44} {'median ms':>9} {'queries':>7}")
    for label, median, queries in results:
        print(f"{label:<44} {median:>9.1f} {queries:>7}")


def _filled(therapists: int) -> Clinic:
    clinic = Clinic.objects.filter(organization__name=ORGANIZATION).first()
    if clinic is not None:
        return clinic
    started = time.perf_counter()
    rng = random.Random(therapists)  # noqa: S311 (the same calendar each fill, not a secret)
    with transaction.atomic():
        organization = Organization.objects.create(name=ORGANIZATION)
        clinic = Clinic.objects.create(
            organization=organization,
            name="Main Street",
            address="1 Main Street",
            phone="+1 416 555 0100",
            timezone="America/Toronto",
        )
        admin = _person("admin", organization, None, Role.ORG_ADMIN)
        _person("desk", organization, clinic, Role.FRONT_DESK)
        staff = [
            _person(f"therapist{n:02d}", organization, clinic, Role.THERAPIST)
            for n in range(therapists)
        ]
        for therapist in staff:
            for weekday in range(5):
                for start, end in ((8, 12), (13, 18)):
                    services.add_working_hours(
                        clinic=clinic,
                        therapist=therapist,
                        weekday=weekday,
                        starts=datetime.time(start),
                        ends=datetime.time(end),
                        by=admin,
                    )
        services.create_appointment_type(
            organization=organization, by=admin, name="Follow-up with needling", minutes=45
        )
        patients = Patient.objects.bulk_create(
            Patient(
                organization=organization,
                home_clinic=clinic,
                first_name=f"Patient{n}",
                last_name="Benchmark",
                date_of_birth=datetime.date(1970, 1, 1) + datetime.timedelta(days=n),
            )
            for n in range(PATIENTS)
        )
        monday = timezone.localdate(timezone=ZONE)
        monday -= datetime.timedelta(days=monday.weekday())
        rows, slot = [], 0
        for day in (monday + datetime.timedelta(days=n) for n in range(WEEKS * 7)):
            if day.weekday() >= 5:
                continue
            for hour, minute in STARTS:
                starts_at = datetime.datetime.combine(
                    day, datetime.time(hour, minute), tzinfo=ZONE
                ).astimezone(datetime.UTC)
                slot += 1
                for n, therapist in enumerate(staff):
                    if rng.random() < 0.08:  # a gap: a free slot to find
                        continue
                    rows.append(
                        TreatmentSession(
                            organization=organization,
                            clinic=clinic,
                            patient=patients[(slot * len(staff) + n) % PATIENTS],
                            therapist=therapist,
                            starts_at=starts_at,
                            ends_at=starts_at + LENGTH,
                            booked_by=admin,
                        )
                    )
        TreatmentSession.objects.bulk_create(rows, batch_size=2000)
        away = datetime.datetime.combine(
            monday + datetime.timedelta(weeks=1), datetime.time(), tzinfo=ZONE
        )
        services.add_schedule_change(
            clinic=clinic,
            kind=ChangeKind.AWAY,
            therapist=staff[0],
            starts_at=away,
            ends_at=away + datetime.timedelta(days=7),
            reason="Holiday",
            by=admin,
        )
        closed = datetime.datetime.combine(
            monday + datetime.timedelta(weeks=2, days=4), datetime.time(), tzinfo=ZONE
        )
        services.add_schedule_change(
            clinic=clinic,
            kind=ChangeKind.CLOSED,
            starts_at=closed,
            ends_at=closed + datetime.timedelta(days=1),
            reason="Civic holiday",
            by=admin,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"filled in {time.perf_counter() - started:.0f} s")
    return clinic


def _person(name: str, organization: Organization, clinic, role: Role) -> User:
    user = User.objects.create_user(email=f"{name}@scheduling.test", full_name=name.title())
    credential = {}
    if role == Role.THERAPIST:
        credential = {
            "credential": "DN-2026",
            "credential_expires_on": datetime.date.today() + datetime.timedelta(days=365),
        }
    Membership.objects.create(
        organization=organization, clinic=clinic, user=user, role=role, **credential
    )
    return user


if __name__ == "__main__":
    main()
