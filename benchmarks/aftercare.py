"""Aftercare at clinic scale: what a patient and a therapist wait for, and the catch-up job.

    DEBUG=true .venv/bin/python benchmarks/aftercare.py [--sessions 50000]

It uses a database of its own, `fascia_benchmark_aftercare`, on the same server
as the app (the embedded one, or DATABASE_URL's), created and filled on the
first run and kept for the next ones (`--fresh` starts again, also to change
`--sessions`). The history is dated back from when it was filled, and open
check-ins and the alerts of the last 14 days move on with the clock: a
database filled more than two days before is filled again.

One organisation has two clinics, 20 therapists, a patient (with a portal
login) for every 10 sessions and `--sessions` signed sessions, day after day
back from yesterday (30 a day at each clinic); a second organisation has a
tenth as many. Every signed session has its aftercare plan issued (the
organisation's advice, the muscles needled, 0 to 2 home exercises), most of
them read, and its check-ins 24, 48 and 72 hours after it ended. Most
check-ins that fell due were e-mailed and answered; aftercare.triage reads
the answers (about 2% alert, 0.3% urgent), and each alert was acknowledged
and resolved with its notes. At North Shore, the measured clinic, the last 14
days raised alerts far more often, so that its alert list holds about 60 open
alerts and a few hundred resolved ones. One patient there has 40 sessions and
a check-in open.

Each run then times, through Django's test client (middleware, access checks
and templates included), the median of 25 runs of: that patient's portal home
and plan, answering a check-in through the portal form (a fresh check-in each
run), the clinic's alert list and one alert as a therapist, the staff
aftercare page of a session and the patient page with its pain chart; then
the catch-up job with 201 check-ins due (fresh ones each run; e-mail to
Django's locmem backend) and with nothing due. Prints PostgreSQL's plans of
the catch-up's query of due check-ins and of the alert list.
"""

import argparse
import datetime
import itertools
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
os.environ["TEST_DATABASE_NAME"] = "fascia_benchmark_aftercare"

import django

django.setup()

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core import mail
from django.db import connection, reset_queries, transaction
from django.db.models import F, Min, OuterRef, Q, Subquery
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from faker import Faker

from accounts.models import User
from aftercare import selectors as aftercare_selectors
from aftercare import tasks, triage
from aftercare.models import (
    DEFAULT_CHECK_IN_HOURS,
    AftercarePlan,
    AftercareTemplate,
    Alert,
    AlertLevel,
    AlertNote,
    Bruising,
    CheckIn,
    CheckInAnswer,
    Fatigue,
    HeatOrIce,
    NoteKind,
    PlanExercise,
    PlanRead,
    PlanStatus,
    Trend,
    Triage,
)
from aftercare.services import OPEN_FOR, current_template
from benchmarks.database import open_benchmark_database
from clinics.models import Clinic, Membership, Organization, Role
from patients import services as patient_services
from patients.models import Patient
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

# The catch-up's check-in e-mails go to memory (django.core.mail.outbox), not to a console.
settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}

RUNS = 25
BATCH = 2000
"""Sessions written at a time, with their charts, needle sites, plans and check-ins."""
ORGANIZATION = "Aftercare Physio"
OTHER = "Other Physio"
SLOTS = [datetime.time(hour) for hour in (8, 9, 10, 11, 13, 14)]
LENGTH = datetime.timedelta(minutes=45)
SIGNED_AFTER = datetime.timedelta(minutes=20)
"""A session is signed this long after it ends (its plan issued, its check-ins counted from)."""
REGULAR_VISITS = 40
STALE_AFTER = datetime.timedelta(days=2)

ANSWERED = 0.85
"""The share of check-ins answered (those still open may be answered later)."""
READ = 0.7
"""The share of plans their patient marked read."""
HOT_WINDOW = datetime.timedelta(days=14)
HOT_SHARE = 0.33
"""At the measured clinic, the share of the last 14 days' answers with a red flag."""
OPEN_WINDOW = datetime.timedelta(hours=54)
"""Alerts at the measured clinic raised this recently are still open; all others resolved."""
ESCALATE_AFTER = datetime.timedelta(minutes=30)

RUN_LENGTH = datetime.timedelta(minutes=2)
"""The sessions made for the runs: short, so that many fit in the hours they need."""
RUNS_ENDED = datetime.timedelta(hours=73)
"""The runs' sessions ended at least this long ago: all three of their check-ins are due."""
CATCH_UP_SESSIONS = 67
"""Sessions whose check-ins (3 each) the catch-up job finds due and unsent, each run; each
has a therapist of its own (created for the runs) and a patient of its own."""

LOAD_LIMIT = 1.5
LOAD_POLL = 30
LOAD_WAIT = 20 * 60

COMPLAINTS = [
    "Neck pain and headaches after long days at the desk",
    "Low back pain since moving house",
    "Right shoulder pain reaching overhead",
    "Tight calves and heel pain when running",
    "Hip pain on stairs",
]
ACTIVITY_LIMITS = [
    "",
    "No running or heavy lifting for 48 hours.",
    "Avoid overhead work until Thursday; walking is fine.",
    "No gym for two days, then half your usual weights.",
]
NEXT_VISITS = ["", "In one week.", "In two weeks.", "Next Tuesday, as booked."]
OTHER_ADVICE = [
    "",
    "",
    "Get up from the screen every 30 minutes.",
    "Sleep on your back or the other side for two nights.",
]
EXERCISES = [
    ("Chin tucks", 2, 10, 5, "Three times a day"),
    ("Upper trapezius stretch", 3, 2, 30, "Twice a day"),
    ("Doorway pectoral stretch", 3, None, 30, "Twice a day"),
    ("Cat-camel", 2, 10, None, "Morning and evening"),
    ("Calf stretch against a wall", 3, None, 30, "After each run"),
    ("Clamshells", 3, 15, None, "Once a day"),
    ("Figure-four stretch", 2, None, 45, "Before bed"),
]
SORENESS = {
    24: (1, 2, 2, 3, 3, 4, 4, 5, 6),
    48: (0, 1, 1, 2, 2, 3, 3, 4),
    72: (0, 0, 1, 1, 2, 2, 3),
}
COMMENTS = [
    "Sore for the rest of the day, as you said.",
    "A small bruise on the shoulder.",
    "Much better this morning.",
    "Slept badly but moving more easily.",
]
FLAGGED_COMMENTS = [
    "One of the spots is red and warm.",
    "Pins and needles down the arm since yesterday.",
    "Worse than before the session.",
    "Tight across the chest when I breathe in.",
]
ACKNOWLEDGED = ["", "", "Calling the patient now.", "Left a voicemail; trying again at noon."]
RESOLVED = [
    "Called the patient: soreness settling, advised heat and gentle movement.",
    "Seen at the clinic: local redness only, no fever. To call us if it spreads.",
    "Spoke with the patient: tingling gone overnight. Nothing further.",
    "The patient went to the emergency department; chest X-ray clear. Follow-up booked.",
]
CALM = {
    "chest_pain": "no",
    "short_of_breath": "no",
    "infection_signs": "no",
    "nerve_symptoms": "no",
    "soreness": "2",
    "pain": "2",
    "trend": Trend.BETTER,
    "bruising": Bruising.NONE,
    "fatigue": Fatigue.NONE,
    "comments": "Much better today.",
}
"""The portal form as a patient sends it who is doing well."""

SERIAL = itertools.count()


@dataclass
class World:
    organization: Organization
    clinic: Clinic
    therapist: User
    runners: list[User]
    regular: Patient
    answering: Patient
    catching_up: list[Patient]
    muscles: list[Muscle]
    cursor: datetime.datetime | None = None
    """Where the runs' next sessions end (see _window)."""

    @property
    def filled_at(self) -> datetime.datetime:
        return self.regular.created_at


@dataclass
class Signed:
    """A session as the fill wrote it, with what its check-ins need."""

    session: TreatmentSession
    plan: AftercarePlan
    pain_before: int
    signed_at: datetime.datetime
    user_id: uuid.UUID


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--fresh", action="store_true", help="drop and refill the database")
    options = parser.parse_args()

    _database(fresh=options.fresh)
    world = _world()
    if world is not None and timezone.now() - world.filled_at > STALE_AFTER:
        print(
            f"Filled on {world.filled_at:%Y-%m-%d %H:%M}: its open check-ins and alerts have "
            "moved on since, so it is filled again."
        )
        _database(fresh=True)
        world = None
    world = world or _fill(options.sessions)
    _describe(world)

    # What fell due since the fill (or the last run) goes out first, as the worker would send it.
    flushed = tasks.catch_up.call()
    print(f"Sent before measuring, as the worker would have: {flushed}")

    patient, answerer = _client(world.regular.user), _client(world.answering.user)
    therapist = _client(world.therapist)
    answering = _answering_check_ins(world, RUNS)
    load = _wait_for_quiet()
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

    plans = AftercarePlan.objects.filter(patient=world.regular, status=PlanStatus.ISSUED)
    open_now = len(aftercare_selectors.open_check_ins(world.regular.user, world.regular))
    home = reverse("portal:home")
    measure(
        f"portal home ({plans.count()} plans, {open_now} open check-in)",
        lambda run: _expect(patient.get(home), 200),
    )
    plan_url = reverse("aftercare_portal:plan", args=[plans.latest("issued_at").pk])
    measure("  the newest plan (portal)", lambda run: _expect(patient.get(plan_url), 200))

    def answer(run: int) -> None:
        url = reverse("aftercare_portal:check_in", args=[answering[run].pk])
        _expect(answerer.post(url, {**CALM, "submission_key": uuid.uuid4()}), 302)

    measure("answer a check-in (portal form, POST, 302)", answer)
    filed = CheckInAnswer.objects.filter(check_in__in=answering, triage=Triage.FILED).count()
    if filed != RUNS:
        raise SystemExit(f"{filed} of the {RUNS} check-ins answered were filed")

    listed = aftercare_selectors.alerts_at(world.therapist, world.clinic)
    still_open = sum(alert.is_open for alert in listed)
    alerts_url = reverse("aftercare:alerts")
    measure(
        f"alert list ({still_open} open, {len(listed) - still_open} resolved)",
        lambda run: _expect(therapist.get(alerts_url), 200),
    )
    measure(
        "  alerts_at alone",
        lambda run: list(aftercare_selectors.alerts_at(world.therapist, world.clinic)),
    )
    alert = Alert.objects.filter(clinic=world.clinic, resolved_at__isnull=True).order_by(
        "-level", "-raised_at"
    )[0]
    alert_url = reverse("aftercare:alert", args=[alert.pk])
    notes = alert.notes.count()
    measure(
        f"one alert ({alert.level}, {notes} note{'' if notes == 1 else 's'})",
        lambda run: _expect(therapist.get(alert_url), 200),
    )

    session = _session_answered(world)
    session_url = reverse("aftercare:plan", args=[session.pk])
    measure(
        "staff aftercare page (3 check-ins answered)",
        lambda run: _expect(therapist.get(session_url), 200),
    )
    visits = TreatmentSession.objects.filter(patient=world.regular, status=Status.SIGNED).count()
    patient_url = reverse("patients:detail", kwargs={"patient_id": world.regular.pk})
    measure(
        f"patient page with pain chart ({visits} sessions)",
        lambda run: _expect(therapist.get(patient_url), 200),
    )

    _measure_catch_up(world, results)
    measure("catch-up, nothing due (the whole sweep)", lambda run: _idle_catch_up())

    print(f"\n{'what':<48} {'median ms':>9} {'queries':>7}")
    for label, median, queries in results:
        print(f"{label:<48} {median:>9.1f} {queries:>7}")
    print(f"1-minute load: {load:.2f} before the runs, {os.getloadavg()[0]:.2f} after them")
    _explain(world)


def _database(*, fresh: bool) -> None:
    # A pooled connection to the database being dropped would stop the DROP.
    connection.close()
    connection.close_pool()
    open_benchmark_database(fresh=fresh)
    if not Muscle.objects.exists():
        sync_default_muscles()


def _client(user: User) -> Client:
    # Not "testserver": the script runs outside the test runner, with the app's ALLOWED_HOSTS.
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    return client


def _expect(response, status: int):
    if response.status_code != status:
        raise SystemExit(f"{response.request['PATH_INFO']}: {response.status_code}, not {status}")
    return response


def _wait_for_quiet() -> float:
    """Wait (up to LOAD_WAIT) for the machine to be quiet enough to measure; the load then."""
    waited = 0
    while (load := os.getloadavg()[0]) >= LOAD_LIMIT and waited < LOAD_WAIT:
        print(f"  1-minute load {load:.2f}: waiting for it to fall below {LOAD_LIMIT}", flush=True)
        time.sleep(LOAD_POLL)
        waited += LOAD_POLL
    if load >= LOAD_LIMIT:
        print(f"The load is still {load:.2f} after {LOAD_WAIT // 60} minutes: measuring anyway.")
    else:
        print(f"1-minute load {load:.2f}: measuring.")
    return load


def _describe(world: World) -> None:
    organization, clinic = world.organization, world.clinic
    signed = (
        TreatmentSession.objects.filter(organization=organization, status=Status.SIGNED)
        .exclude(therapist__in=world.runners)
        .count()
    )
    print(
        f"Filled {world.filled_at:%Y-%m-%d %H:%M}. {signed} signed sessions in the measured "
        f"organisation (besides the runs'), {TreatmentSession.objects.count()} in all;"
    )
    print(
        f"  {CheckIn.objects.count()} check-ins, {CheckInAnswer.objects.count()} answers, "
        f"{Alert.objects.count()} alerts, {AlertNote.objects.count()} alert notes in all."
    )
    since = world.filled_at - HOT_WINDOW
    hot_answers = Q(check_in__clinic=clinic, answered_at__gt=since)
    hot_alerts = Q(clinic=clinic, raised_at__gt=since)
    answers = CheckInAnswer.objects.exclude(hot_answers).exclude(answered_by=world.answering.user)
    alerts = Alert.objects.exclude(hot_alerts)
    calm = answers.count()
    print(
        f"  Outside {clinic.name}'s last 14 days: {calm} answers, "
        f"{100 * alerts.filter(level=AlertLevel.ALERT).count() / calm:.2f}% alert, "
        f"{100 * alerts.filter(level=AlertLevel.URGENT).count() / calm:.2f}% urgent, "
        f"{alerts.filter(resolved_at__isnull=True).count()} open."
    )
    hot = Alert.objects.filter(hot_alerts)
    print(
        f"  {clinic.name}'s last 14 days before the fill: "
        f"{CheckInAnswer.objects.filter(hot_answers).count()} answers, {hot.count()} alerts "
        f"({hot.filter(level=AlertLevel.URGENT).count()} urgent), "
        f"{hot.filter(resolved_at__isnull=True).count()} open."
    )


# --- The history ------------------------------------------------------------


def _world() -> World | None:
    """The filled database's people, or None before the first fill (it is one transaction)."""
    organization = Organization.objects.filter(name=ORGANIZATION).first()
    if organization is None:
        return None
    therapist = User.objects.get(email=_email(organization, "therapist00"))
    patients = Patient.objects.filter(organization=organization).select_related("user")
    return World(
        organization=organization,
        clinic=Membership.objects.get(user=therapist).clinic,
        therapist=therapist,
        runners=list(
            User.objects.filter(
                email__startswith="runs", memberships__organization=organization
            ).order_by("email")
        ),
        regular=patients.get(email="regular@example.test"),
        answering=patients.get(email="answering@example.test"),
        catching_up=list(patients.filter(email__startswith="catch-up.").order_by("email")),
        muscles=list(Muscle.objects.filter(pneumothorax_risk=False)),
    )


def _email(organization: Organization, name: str) -> str:
    return f"{name}@{organization.name.lower().replace(' ', '-')}.test"


def _fill(count: int) -> World:
    started = time.perf_counter()
    now = timezone.now()
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
        other, other_staff = _organization(OTHER, ["Harbour"], 2, count // 10, fake)
        templates = {org.pk: current_template(org) for org in (organization, other)}
        clinic, therapists, _ = staff[0]
        for number in range(CATCH_UP_SESSIONS):
            _staff_member(clinic, f"runs{number:02d}", fake)
        for number in range(CATCH_UP_SESSIONS):
            _login_patient(clinic, f"catch-up.{number:03d}@example.test", fake)
        _login_patient(clinic, "answering@example.test", fake)
        regular = _regular(clinic, therapists[0])
        visits = _visits(clinic, therapists[0], regular)
        # The regular's check-in due last is left open; all their others were answered.
        open_due = max(
            due for *_, starts_at in visits for _, due in _dues(starts_at + LENGTH) if due <= now
        )
        course = Course(
            now=now, rng=rng, hot_clinic=clinic.pk, regular=regular.pk, open_due=open_due
        )
        history = [
            *visits,
            *_history(staff, count),
            *_history(other_staff, count // 10),
        ]
        for first in range(0, len(history), BATCH):
            signed = _signed(history[first : first + BATCH], muscles, rng, templates)
            course.follow(signed)
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
    """An organisation, its admin, its clinics with their therapists, and a patient (with a
    portal login) for every 10 sessions."""
    organization = Organization.objects.create(name=name)
    admin = User.objects.create_user(
        _email(organization, "admin"), full_name=fake.name(), password=None
    )
    Membership.objects.create(organization=organization, user=admin, role=Role.ORG_ADMIN)
    patients = max(sessions // 10 // len(clinic_names), 20)
    staff = []
    for clinic_name in clinic_names:
        clinic = Clinic.objects.create(
            organization=organization, name=clinic_name, timezone="America/Vancouver"
        )
        people = []
        for _ in range(therapists):
            number = Membership.objects.filter(organization=organization, clinic=clinic).count()
            number += len(staff) * therapists
            people.append(_staff_member(clinic, f"therapist{number:02d}", fake))
        staff.append((clinic, people, _patients(clinic, patients, fake)))
    return organization, staff


def _staff_member(clinic: Clinic, name: str, fake) -> User:
    person = User.objects.create_user(
        _email(clinic.organization, name), full_name=fake.name(), password=None
    )
    Membership.objects.create(
        organization=clinic.organization,
        clinic=clinic,
        user=person,
        role=Role.THERAPIST,
        credential="Dry needling certificate",
        credential_expires_on=datetime.date.today() + datetime.timedelta(days=365),
    )
    return person


def _patients(clinic: Clinic, number: int, fake) -> list[tuple]:
    """Patients of the clinic, each with a portal login: [(patient id, user id)]."""
    made = []
    while len(made) < number:
        users, patients = [], []
        for _ in range(min(5000, number - len(made))):
            first, last = fake.first_name(), fake.last_name()
            address = f"{first}.{last}.{next(SERIAL)}@example.test".lower().replace(" ", "")
            user = User(email=address, full_name=f"{first} {last}", password=make_password(None))
            users.append(user)
            patients.append(_patient(clinic, first, last, address, user, fake))
        User.objects.bulk_create(users)
        Patient.objects.bulk_create(patients)
        made += [(patient.pk, patient.user_id) for patient in patients]
    return made


def _patient(clinic: Clinic, first: str, last: str, email: str, user: User, fake) -> Patient:
    return Patient(
        organization_id=clinic.organization_id,
        home_clinic=clinic,
        first_name=first,
        last_name=last,
        date_of_birth=fake.date_between(datetime.date(1930, 1, 1), datetime.date(2010, 1, 1)),
        email=email,
        phone=fake.numerify("+1 ### 555 ####"),
        user=user,
    )


def _login_patient(clinic: Clinic, email: str, fake) -> Patient:
    first, last = fake.first_name(), fake.last_name()
    user = User.objects.create_user(email, full_name=f"{first} {last}", password=None)
    patient = _patient(clinic, first, last, email, user, fake)
    patient.save()
    return patient


def _regular(clinic: Clinic, therapist: User) -> Patient:
    """A patient in a long course of treatment: intake, screening, consent and a portal login."""
    user = User.objects.create_user(
        "regular@example.test", full_name="Rosalind Regular", password=None
    )
    patient = Patient.objects.create(
        organization_id=clinic.organization_id,
        home_clinic=clinic,
        first_name="Rosalind",
        last_name="Regular",
        date_of_birth=datetime.date(1968, 4, 2),
        email="regular@example.test",
        phone="+1 250 555 0142",
        user=user,
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
            visits.append((clinic, therapist, patient.pk, patient.user_id, starts_at))
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
                    patient, user = patients[(made * 7919) % len(patients)]
                    yield clinic, therapist, patient, user, starts_at
                    made += 1


def _dues(ends_at: datetime.datetime) -> list[tuple[int, datetime.datetime]]:
    """The check-ins of a session that ended at `ends_at`: (hours after, when due)."""
    return [(hours, ends_at + datetime.timedelta(hours=hours)) for hours in DEFAULT_CHECK_IN_HOURS]


def _signed(
    batch: list,
    muscles: list,
    rng: random.Random,
    templates: dict,
    *,
    length: datetime.timedelta = LENGTH,
) -> list[Signed]:
    """Sessions as a therapist leaves them: started, charted, needled, aftercare written,
    then signed, which issues the plan with the organisation's advice.

    The triggers allow no other order: nothing is added to a signed chart or an issued plan.
    """
    sessions, charts, sites, plans, exercises, written = [], [], [], [], [], []
    for clinic, therapist, patient, user, starts_at in batch:
        session = _session(clinic, therapist, patient, starts_at, length)
        needled = _sites(session, rng.choice((2, 3, 4, 4, 5, 6)), muscles, rng)
        chart = _chart(session, needled, rng)
        plan = _plan(session, needled, templates[clinic.organization_id], rng)
        sessions.append(session)
        charts.append(chart)
        sites += needled
        plans.append(plan)
        exercises += _exercises(plan, rng)
        written.append(
            Signed(
                session=session,
                plan=plan,
                pain_before=chart.pain_before,
                signed_at=session.ends_at + SIGNED_AFTER,
                user_id=user,
            )
        )
    TreatmentSession.objects.bulk_create(sessions)
    Chart.objects.bulk_create(charts)
    NeedleSite.objects.bulk_create(sites)
    AftercarePlan.objects.bulk_create(plans)
    PlanExercise.objects.bulk_create(exercises)
    TreatmentSession.objects.filter(pk__in=[session.pk for session in sessions]).update(
        status=Status.SIGNED,
        signed_at=F("ends_at") + SIGNED_AFTER,
        signed_by_id=F("therapist_id"),
        version=F("version") + 1,
    )
    its_session = TreatmentSession.objects.filter(pk=OuterRef("session_id"))
    for organization, template in templates.items():
        AftercarePlan.objects.filter(
            organization=organization, pk__in=[plan.pk for plan in plans]
        ).update(
            status=PlanStatus.ISSUED,
            template=template,
            issued_at=Subquery(its_session.values("signed_at")[:1]),
            issued_by_id=Subquery(its_session.values("signed_by_id")[:1]),
        )
    return written


def _session(clinic, therapist, patient, starts_at, length):
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
        started_at=starts_at,
        started_by=therapist,
        version=2,
    )


def _sites(session, count: int, muscles: list, rng: random.Random) -> list:
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
                lot_number=f"DN-2026-{rng.randint(1, 300):04d}",
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
        subjective_notes="No change in pattern; morning stiffness about twenty minutes.",
        findings="Taut bands palpable, tender on pressure, range full but guarded.",
        assessment="Myofascial trigger points contributing to the presenting pain.",
        plan="Review in one week; continue home exercises.",
        pain_after=max(0, before - rng.randint(0, 3)),
        needles_inserted=needles,
        needles_removed=needles,
        version=2 + len(sites),
        updated_at=session.ends_at,
        updated_by=session.therapist,
    )


def _plan(session, sites: list, template: AftercareTemplate, rng: random.Random):
    """The session's plan as a draft, with the copy signing freezes into it already made
    (the draft's constraint allows it; the template itself is set when it is issued)."""
    return AftercarePlan(
        organization_id=session.organization_id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        session=session,
        heat_or_ice=rng.choice(HeatOrIce.values),
        activity_limits=rng.choice(ACTIVITY_LIMITS),
        next_visit=rng.choice(NEXT_VISITS),
        other_advice=rng.choice(OTHER_ADVICE),
        updated_at=session.ends_at,
        updated_by=session.therapist,
        template_version=template.version,
        title=template.title,
        advice=template.body,
        needled_muscles=list(dict.fromkeys(str(site) for site in sites)),
    )


def _exercises(plan: AftercarePlan, rng: random.Random) -> list[PlanExercise]:
    chosen = rng.sample(EXERCISES, rng.choice((0, 1, 1, 2, 2)))
    return [
        PlanExercise(
            organization_id=plan.organization_id,
            plan=plan,
            position=position,
            name=name,
            sets=sets,
            reps=reps,
            hold_seconds=hold,
            frequency=frequency,
        )
        for position, (name, sets, reps, hold, frequency) in enumerate(chosen)
    ]


@dataclass
class Course:
    """What happened after the fill's sessions: check-ins sent and answered, alerts raised,
    acknowledged and resolved, plans read; all before `now`."""

    now: datetime.datetime
    rng: random.Random
    hot_clinic: uuid.UUID
    regular: uuid.UUID
    open_due: datetime.datetime

    def follow(self, signed: list[Signed]) -> None:
        check_ins, answers, alerts, notes, reads = [], [], [], [], []
        for written in signed:
            session = written.session
            for hours, due in _dues(session.ends_at):
                check_in = _check_in(written, hours, due)
                if due <= self.now:
                    check_in.sent_at = min(
                        due + datetime.timedelta(seconds=self.rng.randint(5, 90)), self.now
                    )
                    check_in.send_attempts = 1
                check_ins.append(check_in)
                answered_at = self._answered_at(session, due)
                if answered_at is None:
                    continue
                hot = session.clinic_id == self.hot_clinic and answered_at > self.now - HOT_WINDOW
                answer = _answer(check_in, written, answered_at, self.rng, hot=hot)
                answers.append(answer)
                if answer.triage != Triage.FILED:
                    alert, its_notes = self._alert(answer, session)
                    alerts.append(alert)
                    notes += its_notes
            read_at = written.signed_at + datetime.timedelta(hours=self.rng.uniform(1, 20))
            regular = session.patient_id == self.regular
            if (regular or self.rng.random() < READ) and read_at < self.now:
                reads.append(
                    PlanRead(
                        organization_id=session.organization_id,
                        plan=written.plan,
                        read_at=read_at,
                        read_by_id=written.user_id,
                    )
                )
        CheckIn.objects.bulk_create(check_ins)
        CheckInAnswer.objects.bulk_create(answers)
        Alert.objects.bulk_create(alerts)
        AlertNote.objects.bulk_create(notes)
        PlanRead.objects.bulk_create(reads)

    def _answered_at(self, session, due) -> datetime.datetime | None:
        if due > self.now:
            return None
        delay = _delay(self.rng)
        if session.patient_id == self.regular:  # answers all but the one left open
            return None if due == self.open_due else due + min(delay, (self.now - due) / 2)
        answered_at = due + delay
        if self.rng.random() >= ANSWERED or answered_at >= min(due + OPEN_FOR, self.now):
            return None
        return answered_at

    def _alert(self, answer: CheckInAnswer, session) -> tuple[Alert, list[AlertNote]]:
        rng, raised = self.rng, answer.answered_at
        urgent = answer.triage == Triage.URGENT
        alert = Alert(
            organization_id=session.organization_id,
            clinic_id=session.clinic_id,
            patient_id=session.patient_id,
            session=session,
            therapist_id=session.therapist_id,
            check_in=answer.check_in,
            level=AlertLevel.URGENT if urgent else AlertLevel.ALERT,
            raised_at=raised,
            escalate_at=raised + ESCALATE_AFTER if urgent else None,
        )
        minutes = rng.choice((4, 7, 10, 12, 15, 20, 25, 40, 55) if urgent else (10, 30, 60, 180))
        delay = datetime.timedelta(minutes=minutes)
        if session.clinic_id == self.hot_clinic and raised > self.now - OPEN_WINDOW:
            # Still open: urgent ones acknowledged (so nothing is left to escalate), half the
            # others.
            if urgent or rng.random() < 0.5:
                alert.acknowledged_at = raised + min(delay, (self.now - raised) / 2)
                alert.acknowledged_by_id = session.therapist_id
                return alert, [self._note(alert, NoteKind.ACKNOWLEDGED, alert.acknowledged_at)]
            return alert, []
        latest = self.now - datetime.timedelta(minutes=1)
        alert.acknowledged_at = max(raised, min(raised + delay, latest))
        alert.resolved_at = max(
            alert.acknowledged_at,
            min(alert.acknowledged_at + datetime.timedelta(minutes=rng.uniform(10, 1200)), latest),
        )
        alert.acknowledged_by_id = alert.resolved_by_id = session.therapist_id
        notes = []
        if urgent and alert.acknowledged_at > alert.escalate_at:
            alert.escalated_at = alert.escalate_at
            notes.append(self._note(alert, NoteKind.ESCALATED, alert.escalate_at))
        notes.append(self._note(alert, NoteKind.ACKNOWLEDGED, alert.acknowledged_at))
        notes.append(self._note(alert, NoteKind.RESOLVED, alert.resolved_at))
        return alert, notes

    def _note(self, alert: Alert, kind: NoteKind, at: datetime.datetime) -> AlertNote:
        if kind == NoteKind.ESCALATED:
            text = "Not acknowledged in time: e-mailed to the organisation admin."
        else:
            text = self.rng.choice(RESOLVED if kind == NoteKind.RESOLVED else ACKNOWLEDGED)
        return AlertNote(
            organization_id=alert.organization_id,
            alert=alert,
            kind=kind,
            text=text,
            written_at=at,
            written_by_id=None if kind == NoteKind.ESCALATED else alert.therapist_id,
        )


def _check_in(written: Signed, hours: int, due: datetime.datetime) -> CheckIn:
    session = written.session
    return CheckIn(
        organization_id=session.organization_id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        session=session,
        hours_after=hours,
        due_at=due,
        closes_at=due + OPEN_FOR,
        created_at=written.signed_at,
    )


def _delay(rng: random.Random) -> datetime.timedelta:
    """How long after the e-mail a patient answers: mostly within hours, some a day or two."""
    draw = rng.random()
    low, high = (5, 180) if draw < 0.6 else (180, 1440) if draw < 0.9 else (1440, 3600)
    return datetime.timedelta(minutes=rng.uniform(low, high))


def _answer(check_in, written: Signed, answered_at, rng: random.Random, *, hot: bool):
    """Answers as patients give them, triaged by the app's own rules (aftercare.triage)."""
    hours = check_in.hours_after
    values = {
        "soreness": rng.choice(SORENESS[hours]),
        "pain": max(0, min(7, written.pain_before - rng.randint(0, 3))),
        "trend": rng.choices(Trend.values, weights=(12, 7, 1) if hours < 48 else (7, 3, 0))[0],
        "chest_pain": rng.random() < 0.001,
        "short_of_breath": rng.random() < 0.002,
        "infection_signs": rng.random() < 0.004,
        "nerve_symptoms": rng.random() < 0.004,
    }
    if rng.random() < 0.003:
        values["pain"] = rng.choice((8, 9))
    if hours >= 48 and rng.random() < 0.006:
        values["trend"] = Trend.WORSE
    if hours >= 72 and rng.random() < 0.006:
        values["soreness"] = rng.choice((5, 6))
    if hot and rng.random() < HOT_SHARE:
        _red_flag(values, hours, rng)
    # The rules read the hours since the session ended, at least the check-in's own.
    since = int((answered_at - written.session.ends_at).total_seconds() // 3600)
    assessment = triage.assess(triage.Answers(hours_after=max(hours, since), **values))
    flagged = assessment.level != Triage.FILED
    comments = rng.choice(FLAGGED_COMMENTS if flagged else COMMENTS) if rng.random() < 0.3 else ""
    return CheckInAnswer(
        organization_id=check_in.organization_id,
        check_in=check_in,
        patient_id=check_in.patient_id,
        answered_at=answered_at,
        answered_by_id=written.user_id,
        bruising=rng.choices(Bruising.values, weights=(70, 27, 3))[0],
        fatigue=rng.choices(Fatigue.values, weights=(65, 30, 5))[0],
        comments=comments,
        triage=assessment.level,
        triage_reasons=list(assessment.reasons),
        **values,
    )


def _red_flag(values: dict, hours: int, rng: random.Random) -> None:
    flag = rng.choices(
        ("chest_pain", "short_of_breath", "infection_signs", "nerve_symptoms", "pain", "worse"),
        weights=(3, 7, 35, 25, 20, 10),
    )[0]
    if flag == "pain":
        values["pain"] = rng.choice((8, 9))
    elif flag == "worse" and hours >= 48:
        values["trend"] = Trend.WORSE
    elif flag == "worse":
        values["infection_signs"] = True
    else:
        values[flag] = True


# --- What each run needs of its own -------------------------------------------


def _window(world: World, span: datetime.timedelta) -> datetime.datetime:
    """The start of `span` free for the runs' sessions, just before the last one taken.

    The first ends `RUNS_ENDED` ago, or before the runs' sessions of a run of the
    script a little earlier: their three check-ins are all due, and none has closed.
    """
    if world.cursor is None:
        now = timezone.now().replace(second=0, microsecond=0)
        earlier = TreatmentSession.objects.filter(
            therapist__in=world.runners, ends_at__gt=now - OPEN_FOR - datetime.timedelta(days=1)
        ).aggregate(Min("starts_at"))["starts_at__min"]
        world.cursor = min(now - RUNS_ENDED, earlier or now)
    world.cursor -= span
    return world.cursor


def _runs_sessions(world: World, visits: list[tuple[User, Patient, datetime.datetime]]):
    """Signed sessions for the runs, each with its plan and three check-ins, none sent."""
    templates = {world.organization.pk: current_template(world.organization)}
    batch = [
        (world.clinic, therapist, patient.pk, patient.user_id, starts_at)
        for therapist, patient, starts_at in visits
    ]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        signed = _signed(batch, world.muscles, Faker().random, templates, length=RUN_LENGTH)
        CheckIn.objects.bulk_create(
            [
                _check_in(written, hours, due)
                for written in signed
                for hours, due in _dues(written.session.ends_at)
            ]
        )
    reset_queries()
    return signed


def _catch_up_sessions(world: World) -> list[Signed]:
    """A session of each catch-up patient, at one time, each with a therapist of its own."""
    starts_at = _window(world, RUN_LENGTH)
    visits = [
        (therapist, patient, starts_at)
        for therapist, patient in zip(world.runners, world.catching_up, strict=True)
    ]
    return _runs_sessions(world, visits)


def _answering_check_ins(world: World, count: int) -> list[CheckIn]:
    """A check-in open for each run: the 72 h one of a session of the answering patient,
    e-mailed; the 24 h and 48 h ones answered already."""
    first = _window(world, count * RUN_LENGTH)
    visits = [
        (world.runners[0], world.answering, first + number * RUN_LENGTH) for number in range(count)
    ]
    signed = _runs_sessions(world, visits)
    check_ins = CheckIn.objects.filter(session__in=[written.session for written in signed])
    earlier = []
    for check_in in check_ins.select_related("session"):
        if check_in.hours_after != 72:
            earlier.append(
                CheckInAnswer(
                    organization_id=check_in.organization_id,
                    check_in=check_in,
                    patient_id=check_in.patient_id,
                    answered_at=check_in.due_at + datetime.timedelta(hours=2),
                    answered_by_id=world.answering.user_id,
                    soreness=3,
                    pain=3,
                    bruising=Bruising.NONE,
                    fatigue=Fatigue.SOME,
                    trend=Trend.BETTER,
                    chest_pain=False,
                    short_of_breath=False,
                    infection_signs=False,
                    nerve_symptoms=False,
                    triage=Triage.FILED,
                )
            )
    with transaction.atomic():
        check_ins.update(sent_at=F("due_at") + datetime.timedelta(seconds=30), send_attempts=1)
        CheckInAnswer.objects.bulk_create(earlier)
    reset_queries()
    return list(check_ins.filter(hours_after=72).order_by("due_at", "session__starts_at"))


def _measure_catch_up(world: World, results: list) -> None:
    """The catch-up job with 3 check-ins due and unsent for each of CATCH_UP_SESSIONS
    sessions, fresh ones each run: the time per check-in sent, and the whole run."""
    per_check_in, whole, queries, expected = [], [], 0, 3 * CATCH_UP_SESSIONS
    for _ in range(RUNS):
        _catch_up_sessions(world)
        mail.outbox = []
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            done = tasks.catch_up.call()
            elapsed = (time.perf_counter() - start) * 1000
        queries = len(captured)
        reset_queries()
        if done["check_ins_sent"] != expected or len(mail.outbox) != expected:
            raise SystemExit(f"catch-up sent {done} ({len(mail.outbox)} e-mails), not {expected}")
        per_check_in.append(elapsed / expected)
        whole.append(elapsed)
    results.append(
        (
            f"catch-up, {expected} due: per check-in sent",
            statistics.median(per_check_in),
            round(queries / expected, 1),
        )
    )
    results.append(("  the whole run", statistics.median(whole), queries))


def _idle_catch_up() -> None:
    done = tasks.catch_up.call()
    if done["check_ins_sent"] or done["alerts_escalated"]:
        raise SystemExit(f"the idle catch-up found work: {done}")


def _session_answered(world: World) -> TreatmentSession:
    """The regular's newest session whose three check-ins were all answered."""
    for session in TreatmentSession.objects.filter(patient=world.regular).order_by("-starts_at"):
        if CheckInAnswer.objects.filter(check_in__session=session).count() == 3:
            return session
    raise SystemExit("the regular has no session with its three check-ins answered")


# --- The plans ----------------------------------------------------------------


def _explain(world: World) -> None:
    # The catch-up's own query of due check-ins, as it sent it (its first query), run again
    # once fresh check-ins are due (they fell due before it was sent), then those are sent.
    with CaptureQueriesContext(connection) as captured:
        tasks.catch_up.call()
    due = next(query["sql"] for query in captured if '"aftercare_checkin"' in query["sql"])
    _plan_of("the catch-up's due check-ins, nothing due", due, None)
    _catch_up_sessions(world)
    _plan_of(f"the same, {3 * CATCH_UP_SESSIONS} due", due, None)
    tasks.catch_up.call()
    query = aftercare_selectors.alerts_at(world.therapist, world.clinic).query
    _plan_of("alerts_at (the alert list)", *query.sql_with_params())


def _plan_of(title: str, sql: str, params) -> None:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, BUFFERS OFF) " + sql, params)
        print(f"\nPlan of {title}:")
        for (line,) in cursor.fetchall():
            print("  " + line)


if __name__ == "__main__":
    main()
