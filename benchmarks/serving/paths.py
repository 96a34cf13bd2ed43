"""The hot paths `make bench` measures, whom it measures them as, and what each asks.

`prepare()` picks, in seed_bench's data, the people and rows the paths need (the first
clinic's busiest therapist and its front desk, the patient with the most sessions there,
a patient of it with a portal login and a recent plan), logs them in, and makes drafts
for the writes. `World.requests(path, target)` gives the load generator each request of
a path, to Fascia or to the floor; `World.queries(path)` runs the path once in this
process, through Django's test client, for the number of queries it costs and the
statements the floor runs in its place.
"""

import datetime
import itertools
import random
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, Max, OuterRef
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from aftercare.models import AftercarePlan
from benchmarks.serving.load import Request
from clinics import row_security
from clinics.models import Clinic, Membership, Role
from patients.models import Patient
from sessions.models import Chart, Muscle, NeedleSite, Status, TreatmentSession


@dataclass(frozen=True)
class Path:
    name: str
    label: str
    who: str
    """"therapist", "desk", "patient" or "drafts" (the therapist whose drafts are written)."""
    write: bool = False


PATHS = [
    Path("day", "therapist's day list", "therapist"),
    Path("patient", "patient page with pain chart", "therapist"),
    Path("session", "session page (chart)", "therapist"),
    Path("api_chart", "API: a session's chart", "therapist"),
    Path("search", "search, misspelt name", "therapist"),
    Path("alerts", "alert list", "therapist"),
    Path("week", "calendar, week", "desk"),
    Path("portal", "portal home", "patient"),
    Path("plan", "portal: current aftercare plan", "patient"),
    Path("save_draft", "save a chart draft (POST)", "drafts", write=True),
    Path("sign", "sign a chart (POST)", "drafts", write=True),
]

PLUMBING = re.compile(
    r'FROM "(django_session|accounts_user|mfa_authenticator|account_emailaddress|fascia_cache)"'
)
"""Statements only a framework needs (the session, the login, its second factor): the
floor does without them."""


@dataclass
class Queries:
    count: int
    floor: list[str]


@dataclass
class World:
    urls: dict[str, str]
    people: dict[str, User]
    """Who makes each path's requests: "therapist", "desk", "patient", "drafts"."""
    cookies: dict[str, str]
    csrf: str
    drafts: dict[tuple[str, str], list[uuid.UUID]]
    """(path, "fascia", "floor" or "spare"): drafts for that path's writes there."""
    data: str
    server_version: str
    _taken: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _next_draft(self, target: str, path: str) -> uuid.UUID:
        with self._lock:
            number = next(self._taken.setdefault((target, path), itertools.count()))
        drafts = self.drafts[path, target]
        if number >= len(drafts):
            raise RuntimeError(f"make bench: too few drafts for {path}")
        return drafts[number]

    def log_in_again(self, who: str) -> None:
        """A fresh login for `who`: an idle staff login ends after 15 minutes
        (config/idle_timeout.py), and a run of several paths takes longer."""
        self.cookies[who] = _log_in(self.people[who])

    def requests(self, path: Path, target: str):
        """The load generator's request maker for `path` against `target`."""
        if target == "floor":
            if path.write:
                floor = "/save-draft" if path.name == "save_draft" else "/sign"

                def write_floor(number: int) -> Request:
                    draft = self._next_draft("floor", path.name)
                    return Request("POST", f"{floor}?session={draft}", body=b"")

                return write_floor
            return Request("GET", f"/read/{path.name}")
        headers = {
            "Host": "localhost",
            "X-Forwarded-Proto": "https",
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={self.cookies[path.who]}; "
            f"{settings.CSRF_COOKIE_NAME}={self.csrf}",
        }
        if not path.write:
            return Request("GET", self.urls[path.name], headers=headers)
        posted = {
            **headers,
            "Content-Type": "application/x-www-form-urlencoded",
            "X-CSRFToken": self.csrf,
            "Origin": "https://localhost",
            "Referer": "https://localhost/",
        }

        def write_fascia(number: int) -> Request:
            draft = self._next_draft("fascia", path.name)
            if path.name == "save_draft":
                return Request(
                    "POST",
                    reverse("sessions:save_chart", kwargs={"session_id": draft}),
                    headers={**posted, "Accept": "application/json"},
                    body=urlencode(_chart_form(number)).encode(),
                )
            return Request(
                "POST",
                reverse("sessions:sign", kwargs={"session_id": draft}),
                headers=posted,
                body=b"",
                expect=302,
            )

        return write_fascia

    def queries(self, path: Path) -> Queries:
        """Run `path` once here: the queries it costs, and the floor's statements (the
        person's row-level security scope first, as Fascia sets it)."""
        client = Client(SERVER_NAME="localhost")
        client.cookies[settings.SESSION_COOKIE_NAME] = self.cookies[path.who]
        client.cookies[settings.CSRF_COOKIE_NAME] = self.csrf
        draft = self.drafts[path.name, "spare"][0] if path.write else None
        with CaptureQueriesContext(connection) as captured:
            if path.name == "save_draft":
                url = reverse("sessions:save_chart", kwargs={"session_id": draft})
                answer = client.post(
                    url, _chart_form(-1), secure=True, headers={"Accept": "application/json"}
                )
            elif path.name == "sign":
                url = reverse("sessions:sign", kwargs={"session_id": draft})
                answer = client.post(url, secure=True)
            else:
                answer = client.get(self.urls[path.name], secure=True)
        with row_security.every_organization():
            done = {
                "save_draft": lambda: (
                    answer.status_code == 200
                    and Chart.objects.get(session=draft).version > DRAFT_VERSION
                ),
                "sign": lambda: (
                    answer.status_code == 302
                    and TreatmentSession.objects.get(pk=draft).status == Status.SIGNED
                ),
            }.get(path.name, lambda: answer.status_code == 200)()
        if not done:
            raise RuntimeError(f"make bench: {path.label} answered {answer.status_code}")
        statement, params = row_security.of_user(self.people[path.who]).statement()
        with connection.cursor() as cursor:
            scope = cursor.mogrify(statement, params)
        floor = [
            query["sql"]
            for query in captured.captured_queries
            if query["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
            and not PLUMBING.search(query["sql"])
        ]
        return Queries(count=len(captured.captured_queries), floor=[scope, *floor])


def prepare(*, drafts: int) -> World:
    """The people and rows the paths need, logged in, with `drafts` drafts per write path."""
    with row_security.every_organization():
        clinic = Clinic.objects.order_by("name").first()
        day, therapist = _busiest(clinic)
        desk = Membership.objects.get(clinic=clinic, role=Role.FRONT_DESK).user
        signed = TreatmentSession.objects.filter(clinic=clinic, status=Status.SIGNED)
        regular = signed.values("patient").annotate(visits=Count("id")).order_by("-visits").first()
        patient = Patient.objects.get(pk=regular["patient"])
        session = signed.filter(patient=patient).latest("starts_at")
        plan = (
            AftercarePlan.objects.filter(clinic=clinic, patient__user__isnull=False)
            .select_related("patient__user")
            .latest("issued_at")
        )
        for staff in (therapist, desk):
            _second_factor(staff)
        urls = {
            "day": f"{reverse('sessions:day')}?date={day.isoformat()}",
            "patient": reverse("patients:detail", kwargs={"patient_id": patient.pk}),
            "session": reverse("sessions:detail", kwargs={"session_id": session.pk}),
            "api_chart": f"/api/v1/sessions/{session.pk}/chart/",
            "search": f"{reverse('patients:list')}?{urlencode({'q': _misspelt(patient)})}",
            "alerts": reverse("aftercare:alerts"),
            "week": f"{reverse('sessions:calendar_week')}?date={day.isoformat()}",
            "portal": reverse("portal:home"),
            "plan": reverse("aftercare_portal:plan", kwargs={"plan_id": plan.pk}),
        }
        # At another clinic than the one read; a small seeding (SCALE=0.01) has one only.
        other = Clinic.objects.exclude(pk=clinic.pk).order_by("name").first()
        writer = _writer(other or clinic)
        _second_factor(writer)
        made = {
            (path.name, target): _drafts(writer, count=drafts if target != "spare" else 1)
            for path in PATHS
            if path.write
            for target in ("fascia", "floor", "spare")
        }
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            (version,) = cursor.fetchone()
            cursor.execute(
                "SELECT relname, reltuples::bigint FROM pg_class WHERE relname IN "
                "('patients_patient', 'treatment_sessions_treatmentsession')"
            )
            sizes = dict(cursor.fetchall())
    people = {"therapist": therapist, "desk": desk, "patient": plan.patient.user, "drafts": writer}
    return World(
        urls=urls,
        people=people,
        cookies={who: _log_in(person) for who, person in people.items()},
        csrf=secrets.token_hex(16),
        drafts=made,
        data=(
            f"about {sizes.get('treatment_sessions_treatmentsession', 0):,} sessions, "
            f"{sizes.get('patients_patient', 0):,} patients"
        ),
        server_version=version,
    )


def _busiest(clinic: Clinic) -> tuple[datetime.date, User]:
    """The clinic's latest day with sessions up to today, and its busiest therapist then."""
    now = timezone.now()
    latest = TreatmentSession.objects.filter(clinic=clinic, starts_at__lte=now).aggregate(
        Max("starts_at")
    )["starts_at__max"]
    day = timezone.localdate(latest, timezone=clinic.zone)
    busiest = (
        TreatmentSession.objects.filter(clinic=clinic, starts_at__date=day)
        .values("therapist")
        .annotate(sessions=Count("id"))
        .order_by("-sessions")
        .first()
    )
    return day, User.objects.get(pk=busiest["therapist"])


def _misspelt(patient: Patient) -> str:
    """The patient's name with two letters of the first name swapped, as typed in a hurry."""
    first = patient.first_name
    if len(first) > 2:
        first = first[0] + first[2] + first[1] + first[3:]
    return f"{first} {patient.last_name}"


def _second_factor(user: User) -> None:
    """Staff log in with a second factor in production; the benchmark's have one."""
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, generate_totp_secret())


def _log_in(user: User) -> str:
    """A login's session, made as logging in makes it: its cookie's value."""
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


DRAFT_VERSION = 3


def _chart_form(number: int | None = None) -> dict:
    """A draft's chart as `_drafts` makes it; with a `number`, the autosave of a word more
    (an autosave that changes nothing writes nothing)."""
    return {
        "complaint": "Neck pain after long hours at the desk",
        "pain_before": 6,
        "subjective_notes": "Better since last visit. Slept well."
        + ("" if number is None else f" Word {number}."),
        "findings": "Taut band with local tenderness.",
        "assessment": "Myofascial pain, improving.",
        "plan": "Continue weekly.",
        "pain_after": 3,
        "needles_inserted": 4,
        "needles_removed": 4,
        "version": DRAFT_VERSION,
    }


def _writer(clinic: Clinic) -> User:
    """The therapist whose drafts the writes save and sign: one of the benchmark's own, at
    another clinic than the one read, with no bookings for the drafts to clash with."""
    email = f"bench.writer@{clinic.pk}.bench.test"
    writer = User.objects.filter(email=email).first()
    if writer is None:
        writer = User.objects.create_user(email=email, full_name="Bench Writer")
        Membership.objects.create(
            organization_id=clinic.organization_id,
            clinic=clinic,
            user=writer,
            role=Role.THERAPIST,
            credential="Dry needling certificate",
            credential_expires_on=timezone.localdate() + datetime.timedelta(days=365),
        )
    return writer


def _drafts(therapist: User, *, count: int) -> list[uuid.UUID]:
    """`count` sessions in progress at the therapist's clinic, each with a chart ready to
    sign and two needle sites, a minute each, one after another from now (or from the
    therapist's last), each of a patient with nothing booked at those times."""
    clinic = Membership.objects.get(user=therapist).clinic
    rng = random.Random(2026)  # noqa: S311 (repeatable data, no secret)
    muscles = list(Muscle.objects.filter(pneumothorax_risk=False)[:20])
    last = TreatmentSession.objects.filter(therapist=therapist).aggregate(Max("ends_at"))
    now = timezone.now().replace(second=0, microsecond=0)
    starts_at = max(last["ends_at__max"] or now, now) + datetime.timedelta(minutes=1)
    ends = starts_at + datetime.timedelta(minutes=count)
    booked = TreatmentSession.objects.filter(
        patient=OuterRef("pk"), ends_at__gt=starts_at, starts_at__lt=ends
    )
    patients = list(
        Patient.objects.filter(home_clinic=clinic)
        .exclude(Exists(booked))
        .values_list("pk", flat=True)[:1000]
    )
    if not patients:
        raise RuntimeError(f"make bench: every patient of {clinic} is booked then")
    sessions, charts, sites = [], [], []
    for _ in range(count):
        session = TreatmentSession(
            organization_id=clinic.organization_id,
            clinic=clinic,
            patient_id=rng.choice(patients),
            therapist=therapist,
            starts_at=starts_at,
            ends_at=starts_at + datetime.timedelta(minutes=1),
            status=Status.IN_PROGRESS,
            booked_at=now,
            booked_by=therapist,
            started_at=now,
            started_by=therapist,
            version=2,
        )
        sessions.append(session)
        charts.append(
            Chart(
                organization_id=clinic.organization_id,
                session=session,
                version=DRAFT_VERSION,
                updated_at=now,
                updated_by=therapist,
                **{key: value for key, value in _chart_form().items() if key != "version"},
            )
        )
        for number in range(2):
            muscle = rng.choice(muscles)
            sites.append(
                NeedleSite(
                    organization_id=clinic.organization_id,
                    session=session,
                    recorded_by=therapist,
                    recorded_at=now + datetime.timedelta(minutes=number),
                    muscle=muscle,
                    muscle_name=muscle.name,
                    side="left",
                    needles=2,
                    needle_length_mm=40,
                    needle_gauge_mm=Decimal("0.30"),
                    depth_mm=Decimal("20"),
                    technique="pistoning",
                    twitch_response="some",
                    retention_minutes=5,
                    lot_number="DN-BENCH-0001",
                )
            )
        starts_at = session.ends_at
    TreatmentSession.objects.bulk_create(sessions)
    Chart.objects.bulk_create(charts)
    NeedleSite.objects.bulk_create(sites)
    return [session.pk for session in sessions]
