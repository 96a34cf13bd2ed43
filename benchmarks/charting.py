"""Charting at clinic scale: how long a therapist waits for each page and save of a session.

    DEBUG=true .venv/bin/python benchmarks/charting.py [--sessions 200000]

It uses a database of its own, `fascia_benchmark_charting`, on the same server
as the app (the embedded one, or DATABASE_URL's), created and filled on the
first run and kept for the next ones (`--fresh` starts again, also to change
`--sessions`). One organisation has two clinics, 20 therapists, a patient for
every 10 sessions and `--sessions` signed sessions of about 4 needle sites
each, day after day back from yesterday (30 a day at each clinic); a second
organisation has a tenth as many. The needles come from a few hundred lots,
one of them recalled (about 0.2% of the sites).

Each run then makes fresh drafts for the therapist and times, through Django's
test client (middleware, access checks and templates included), the median of
25 runs of: the autosave of a draft, adding a needle site and the page after
it, a draft's page, the day's list, the patient page with its pain chart, the
recall page as an organisation admin, and signing a chart. Prints PostgreSQL's
plan of the recall query.
"""

import argparse
import datetime
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["TEST_DATABASE_NAME"] = "fascia_benchmark_charting"

import django

django.setup()

from django.db import connection, reset_queries, transaction
from django.db.models import F, Max
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from faker import Faker

from accounts.models import User
from benchmarks.database import open_benchmark_database
from clinics.models import Clinic, Membership, Organization, Role
from patients import services as patient_services
from patients.models import Patient
from sessions import selectors, services
from sessions.models import (
    Chart,
    Muscle,
    NeedleSite,
    Status,
    Technique,
    TreatmentSession,
    TwitchResponse,
)
from sessions.vocabulary import sync_default_muscles

RUNS = 25
BATCH = 2000
"""Sessions written at a time, with their charts and needle sites."""
ORGANIZATION = "Charting Physio"
OTHER = "Other Physio"
SLOTS = [datetime.time(hour) for hour in (8, 9, 10, 11, 13, 14)]
LENGTH = datetime.timedelta(minutes=45)
REGULAR_VISITS = 40
LOTS = [f"DN-{2017 + n // 40}-{(n * 7919) % 10000:04d}" for n in range(300)]
RECALLED = LOTS[137]
IN_USE = [lot for lot in LOTS if lot != RECALLED]
RECALLED_SHARE = 0.002
DRAFT_SITES = 10
SAFE_MUSCLE = "gluteus-medius"

COMPLAINTS = [
    "Neck pain and headaches after long days at the desk",
    "Low back pain since moving house",
    "Right shoulder pain reaching overhead",
    "Tight calves and heel pain when running",
    "Jaw pain and clenching at night",
    "Lateral elbow pain gripping tools",
    "Hip pain on stairs",
]
NOTES = [
    "Sleeping better since the last session; pain worst in the evening.",
    "Flared up after a weekend of gardening, settled within two days.",
    "Managing the home exercises three times a week, stretches daily.",
    "No change in pattern; morning stiffness about twenty minutes.",
]
FINDINGS = [
    "Active trigger points reproducing the familiar pain; rotation limited to the left.",
    "Taut bands palpable, tenderness 7/10 on pressure, range full but guarded.",
    "Reduced hip abduction strength 4/5, tender over the lateral hip.",
]
ASSESSMENTS = [
    "Myofascial pain, improving with treatment.",
    "Myofascial trigger points contributing to the presenting pain.",
]
PLANS = [
    "Review in one week; continue home exercises; progress loading.",
    "Two more sessions, then review; posture breaks every hour at work.",
]


@dataclass
class World:
    organization: Organization
    clinic: Clinic
    therapist: User
    admin: User
    regular: Patient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200_000)
    parser.add_argument("--fresh", action="store_true", help="drop and refill the database")
    options = parser.parse_args()

    open_benchmark_database(fresh=options.fresh)
    if not Muscle.objects.exists():
        sync_default_muscles()
    world = _world() or _fill(options.sessions)
    signed = TreatmentSession.objects.filter(
        organization=world.organization, status=Status.SIGNED, starts_at__lt=timezone.now()
    ).count()
    sites = NeedleSite.objects.count()
    print(f"{signed} signed sessions in the measured organisation, {sites} needle sites in all")

    therapist, admin = _client(world.therapist), _client(world.admin)
    results = []

    def measure(label: str, action: Callable[[int], object], runs: int = RUNS) -> None:
        timings, queries = [], 0
        for run in range(runs):
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                action(run)
                timings.append((time.perf_counter() - start) * 1000)
            queries = len(captured)
            reset_queries()
        results.append((label, statistics.median(timings), queries))

    # Autosave: the same draft, a field changed each time, as typing does.
    draft = _drafts(world, [4])[0]
    chart = Chart.objects.get(session=draft)
    form = {name: "" if value is None else value for name, value in _chart_fields(chart).items()}
    form["version"] = chart.version
    save_url = reverse("sessions:save_chart", kwargs={"session_id": draft.pk})

    def autosave(run: int) -> None:
        form["subjective_notes"] += f" Word {run}."
        answer = therapist.post(save_url, form, headers={"accept": "application/json"})
        _expect(answer, 200)
        form["version"] = answer.json()["version"]

    measure("autosave of a draft (POST, JSON)", autosave)

    # A needle site added to a fresh draft each time, then the page it leads back to.
    adding = _drafts(world, [DRAFT_SITES - 1] * RUNS)
    pages = []

    def add_site(run: int) -> None:
        answer = therapist.post(
            reverse("sessions:add_needle_site", kwargs={"session_id": adding[run].pk}),
            _site_form(),
        )
        _expect(answer, 302)
        pages.append(answer["Location"])

    measure("add a needle site (POST, 302)", add_site)
    measure(
        f"  the page after it ({DRAFT_SITES} sites)",
        lambda run: _expect(therapist.get(pages[run]), 200),
    )

    page = reverse("sessions:detail", kwargs={"session_id": adding[0].pk})
    measure(
        f"session page, draft of {DRAFT_SITES} sites", lambda run: _expect(therapist.get(page), 200)
    )

    day = timezone.localtime(
        TreatmentSession.objects.filter(patient=world.regular).latest("starts_at").starts_at,
        world.clinic.zone,
    ).date()
    that_day = selectors.sessions_on(world.therapist, clinic=world.clinic, day=day).count()
    day_url = f"{reverse('sessions:day')}?date={day.isoformat()}"
    measure(f"day list ({that_day} sessions)", lambda run: _expect(therapist.get(day_url), 200))

    visits = TreatmentSession.objects.filter(patient=world.regular, status=Status.SIGNED).count()
    patient_url = reverse("patients:detail", kwargs={"patient_id": world.regular.pk})
    measure(
        f"patient page ({visits} signed sessions)",
        lambda run: _expect(therapist.get(patient_url), 200),
    )

    recalled = selectors.needled_with_lot(world.admin, RECALLED)
    found = recalled.count()
    patients = recalled.values("session__patient").distinct().count()
    recall_url = f"{reverse('sessions:recall')}?lot={RECALLED}"
    measure(
        f"recall page ({found} sites, {patients} patients)",
        lambda run: _expect(admin.get(recall_url), 200),
    )
    measure(
        "  needled_with_lot alone",
        lambda run: list(selectors.needled_with_lot(world.admin, RECALLED)),
    )

    signing = _drafts(world, [DRAFT_SITES] * RUNS)

    def sign(run: int) -> None:
        session = services.sign_session(session=signing[run], by=world.therapist)
        if session.status != Status.SIGNED:
            raise SystemExit(f"not signed: {session.status}")

    measure(f"sign_session ({DRAFT_SITES} sites)", sign)

    print(f"{'what':<44} {'median ms':>9} {'queries':>7}")
    for label, median, queries in results:
        print(f"{label:<44} {median:>9.1f} {queries:>7}")
    _explain(world.admin)


def _client(user: User) -> Client:
    # Not "testserver": the script runs outside the test runner, with the app's ALLOWED_HOSTS.
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    return client


def _expect(response, status: int):
    if response.status_code != status:
        raise SystemExit(f"{response.request['PATH_INFO']}: {response.status_code}, not {status}")
    return response


def _chart_fields(chart: Chart) -> dict:
    return {name: getattr(chart, name) for name in Chart.FIELDS}


def _site_form() -> dict:
    return {
        "key": uuid.uuid4(),
        "muscle": SAFE_MUSCLE,
        "side": "left",
        "needles": 2,
        "needle_length_mm": 50,
        "needle_gauge_mm": "0.30",
        "depth_mm": "35",
        "technique": Technique.PISTONING,
        "twitch_response": TwitchResponse.SOME,
        "retention_minutes": 0,
        "lot_number": LOTS[-1],
    }


# --- The history ------------------------------------------------------------


def _world() -> World | None:
    """The filled database's people, or None before the first fill (it is one transaction)."""
    organization = Organization.objects.filter(name=ORGANIZATION).first()
    if organization is None:
        return None
    therapist = User.objects.get(email=_email(organization, "therapist00"))
    return World(
        organization=organization,
        clinic=Membership.objects.get(user=therapist).clinic,
        therapist=therapist,
        admin=User.objects.get(email=_email(organization, "admin")),
        regular=Patient.objects.get(organization=organization, email="regular@example.test"),
    )


def _email(organization: Organization, name: str) -> str:
    return f"{name}@{organization.name.lower().replace(' ', '-')}.test"


def _fill(count: int) -> World:
    started = time.perf_counter()
    Faker.seed(count)
    fake = Faker(["en_CA", "fr_CA", "en_GB"])
    rng = Faker().random  # the generator Faker.seed seeded: the same history each time
    muscles = list(Muscle.objects.all())
    # One transaction, so that a fill is whole or absent. Its foreign keys are checked at
    # each statement's end: left to the commit, the pending checks slow down every later
    # row's triggers, and the fill takes hours instead of minutes.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        organization, staff = _organization(
            ORGANIZATION, ["North Shore", "Downtown"], 10, count, fake
        )
        _, other_staff = _organization(OTHER, ["Harbour"], 2, count // 10, fake)
        admin = User.objects.create_user(
            _email(organization, "admin"), full_name=fake.name(), password=None
        )
        Membership.objects.create(organization=organization, user=admin, role=Role.ORG_ADMIN)
        clinic, therapists, _ = staff[0]
        regular = _regular(clinic, therapists[0])
        history = [
            *_visits(clinic, therapists[0], regular),
            *_history(staff, count),
            *_history(other_staff, count // 10),
        ]
        for first in range(0, len(history), BATCH):
            _write(history[first : first + BATCH], muscles, rng)
            reset_queries()  # DEBUG keeps every query: not these
            if first // BATCH % 10 == 9:
                with connection.cursor() as cursor:  # the planner's row counts, as they grow
                    cursor.execute("ANALYZE")
                print(f"  {first + BATCH} of {len(history)} sessions written", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    print(f"Filled in {time.perf_counter() - started:.0f} s")
    return _world()


def _organization(name: str, clinic_names: list[str], therapists: int, sessions: int, fake):
    """An organisation, its clinics with their therapists, and a patient for every 10 sessions."""
    organization = Organization.objects.create(name=name)
    patients = max(sessions // 10 // len(clinic_names), 20)
    staff = []
    for clinic_name in clinic_names:
        clinic = Clinic.objects.create(
            organization=organization, name=clinic_name, timezone="America/Vancouver"
        )
        people = []
        for _ in range(therapists):
            number = Membership.objects.filter(organization=organization).count()
            person = User.objects.create_user(
                _email(organization, f"therapist{number:02d}"),
                full_name=fake.name(),
                password=None,
            )
            Membership.objects.create(
                organization=organization,
                clinic=clinic,
                user=person,
                role=Role.THERAPIST,
                credential="Dry needling certificate",
                credential_expires_on=datetime.date.today() + datetime.timedelta(days=365),
            )
            people.append(person)
        staff.append((clinic, people, _patients(clinic, patients, fake)))
    return organization, staff


def _patients(clinic: Clinic, number: int, fake) -> list:
    made = []
    while len(made) < number:
        batch = []
        for _ in range(min(5000, number - len(made))):
            first, last = fake.first_name(), fake.last_name()
            address = f"{first}.{last}.{len(made) + len(batch)}".lower().replace(" ", "")
            batch.append(
                Patient(
                    organization_id=clinic.organization_id,
                    home_clinic=clinic,
                    first_name=first,
                    last_name=last,
                    date_of_birth=fake.date_between(
                        datetime.date(1930, 1, 1), datetime.date(2010, 1, 1)
                    ),
                    email=f"{address}@example.test",
                    phone=fake.numerify("+1 ### 555 ####"),
                )
            )
        made += [patient.pk for patient in Patient.objects.bulk_create(batch)]
    return made


def _regular(clinic: Clinic, therapist: User) -> Patient:
    """A patient in a long course of treatment: intake, screening and consent on file."""
    patient = Patient.objects.create(
        organization_id=clinic.organization_id,
        home_clinic=clinic,
        first_name="Rosalind",
        last_name="Regular",
        date_of_birth=datetime.date(1968, 4, 2),
        email="regular@example.test",
        phone="+1 250 555 0142",
    )
    organization = clinic.organization
    patient_services.save_intake(
        patient=patient,
        by=therapist,
        presenting_complaint=COMPLAINTS[0],
        pain_areas=["neck", "upper_back"],
        activity_level="light",
    )
    questionnaire = patient_services.current_questionnaire(organization)
    patient_services.submit_screening(
        patient=patient,
        by=therapist,
        answers={question: False for question in questionnaire.questions.all()},
    )
    patient_services.sign_consent(
        patient=patient,
        by=therapist,
        template=patient_services.current_consent_template(organization),
        signer_name=patient.full_name,
    )
    return patient


def _visits(clinic: Clinic, therapist: User, patient: Patient) -> list:
    """The regular's sessions: at 16:00 on the therapist's last 40 working days."""
    day = timezone.localdate(timezone=clinic.zone)
    visits = []
    while len(visits) < REGULAR_VISITS:
        day -= datetime.timedelta(days=1)
        if day.toordinal() % 2 == 0:
            starts_at = datetime.datetime.combine(day, datetime.time(16), tzinfo=clinic.zone)
            visits.append((clinic, therapist, patient.pk, starts_at))
    return visits


def _history(staff, count: int) -> Iterator[tuple]:
    """`count` sessions, one day after another back from yesterday.

    Each therapist works every other day (half of a clinic's team a day), six
    sessions a day. The patients of one hour all differ, as the database demands.
    """
    day = timezone.localdate(timezone=staff[0][0].zone)
    made = 0
    while True:
        day -= datetime.timedelta(days=1)
        for slot in SLOTS:
            for clinic, therapists, patients in staff:
                for index, therapist in enumerate(therapists):
                    if (day.toordinal() + index) % 2:
                        continue
                    if made == count:
                        return
                    starts_at = datetime.datetime.combine(day, slot, tzinfo=clinic.zone)
                    patient = patients[(made * 7919) % len(patients)]
                    yield clinic, therapist, patient, starts_at
                    made += 1


def _write(batch: list, muscles: list, rng: random.Random) -> None:
    """Sessions as a therapist leaves them: started, charted, needled, then signed.

    The triggers allow no other order: nothing is added to a signed chart.
    """
    sessions, charts, sites = [], [], []
    for clinic, therapist, patient, starts_at in batch:
        session = _session(clinic, therapist, patient, starts_at, starts_at)
        lot = RECALLED if rng.random() < RECALLED_SHARE else rng.choice(IN_USE)
        needled = _sites(session, rng.choice((2, 3, 4, 4, 5, 6)), lot, muscles, rng)
        sessions.append(session)
        charts.append(_chart(session, needled, rng))
        sites += needled
    TreatmentSession.objects.bulk_create(sessions)
    Chart.objects.bulk_create(charts)
    NeedleSite.objects.bulk_create(sites)
    TreatmentSession.objects.filter(pk__in=[session.pk for session in sessions]).update(
        status=Status.SIGNED,
        signed_at=F("ends_at") + datetime.timedelta(minutes=20),
        signed_by_id=F("therapist_id"),
        version=F("version") + 1,
    )


def _session(clinic, therapist, patient, starts_at, started_at, length=LENGTH):
    return TreatmentSession(
        organization_id=clinic.organization_id,
        clinic=clinic,
        patient_id=patient,
        therapist=therapist,
        starts_at=starts_at,
        ends_at=starts_at + length,
        status=Status.IN_PROGRESS,
        booked_at=starts_at - datetime.timedelta(days=7),
        booked_by=therapist,
        started_at=started_at,
        started_by=therapist,
        version=2,
    )


def _sites(session, count: int, lot: str, muscles: list, rng: random.Random) -> list:
    sites = []
    for number in range(count):
        muscle = rng.choice(muscles)
        length = rng.choice((30, 40, 50, 60))
        recorded_at = session.started_at + datetime.timedelta(minutes=5 + 3 * number)
        risky = muscle.pneumothorax_risk
        sites.append(
            NeedleSite(
                organization_id=session.organization_id,
                session=session,
                recorded_by=session.therapist,
                recorded_at=recorded_at,
                muscle=muscle,
                muscle_name=muscle.name,
                side=rng.choice(("left", "right", "both")),
                needles=rng.randint(1, 3),
                needle_length_mm=length,
                needle_gauge_mm=rng.choice((Decimal("0.25"), Decimal("0.30"))),
                depth_mm=Decimal(rng.randint(10, 2 * min(length, 45))) / 2,
                technique=rng.choice(Technique.values),
                twitch_response=rng.choice(TwitchResponse.values),
                retention_minutes=rng.choice((0, 0, 5, 10)),
                lot_number=lot,
                pneumothorax_risk=risky,
                risk_acknowledged_at=recorded_at if risky else None,
                risk_acknowledged_by=session.therapist if risky else None,
            )
        )
    return sites


def _chart(session, sites: list, rng: random.Random) -> Chart:
    needles = sum(site.needles for site in sites)
    before = rng.randint(3, 8)
    return Chart(
        organization_id=session.organization_id,
        session=session,
        complaint=rng.choice(COMPLAINTS),
        pain_before=before,
        subjective_notes=rng.choice(NOTES),
        findings=rng.choice(FINDINGS),
        assessment=rng.choice(ASSESSMENTS),
        plan=rng.choice(PLANS),
        pain_after=max(0, before - rng.randint(0, 3)),
        needles_inserted=needles,
        needles_removed=needles,
        version=2 + len(sites),
        updated_at=session.ends_at,
        updated_by=session.therapist,
    )


def _drafts(world: World, site_counts: list[int]) -> list[TreatmentSession]:
    """Sessions in progress for this run, one after another after the therapist's last."""
    rng = Faker().random
    muscles = list(Muscle.objects.filter(pneumothorax_risk=False))
    last = TreatmentSession.objects.filter(therapist=world.therapist).aggregate(Max("ends_at"))
    now = timezone.now().replace(second=0, microsecond=0)
    starts_at = max(last["ends_at__max"], now) + datetime.timedelta(minutes=1)
    patients = list(
        Patient.objects.filter(home_clinic=world.clinic)
        .exclude(pk=world.regular.pk)
        .values_list("pk", flat=True)[:1000]
    )
    sessions, charts, sites = [], [], []
    for count in site_counts:
        session = _session(
            world.clinic,
            world.therapist,
            rng.choice(patients),
            starts_at,
            now,
            length=datetime.timedelta(minutes=10),
        )
        needled = _sites(session, count, LOTS[-1], muscles, rng)
        sessions.append(session)
        charts.append(_chart(session, needled, rng))
        sites += needled
        starts_at = session.ends_at
    TreatmentSession.objects.bulk_create(sessions)
    Chart.objects.bulk_create(charts)
    NeedleSite.objects.bulk_create(sites)
    return sessions


# --- The plan ---------------------------------------------------------------


def _explain(admin: User) -> None:
    sql, params = selectors.needled_with_lot(admin, RECALLED).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, BUFFERS OFF) " + sql, params)
        print("\nPlan of needled_with_lot (the recall):")
        for (line,) in cursor.fetchall():
            print("  " + line)


if __name__ == "__main__":
    main()
