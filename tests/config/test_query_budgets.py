"""Query budgets, generated from the URL conf: every page and API endpoint answers a GET
in the same number of queries whether its lists hold 3 rows or 30, and in no more than
its budget (tests/config/query_budgets.json).

Two scenes, each an organisation seen by its therapist, its admin and a patient's
portal login, on the day of its bookings:
- few: Kelowna Physio with 3 full patient records, the first patient with 3 visits;
- many: Harbourside with 30 full records, the first patient with 30 visits.
Every URL in the URL conf (the admin's lists among them) is requested in both, with
its ids filled from the scene's first record (the access matrix's rows), by the first
of its roles that it answers 200 (a portal page: the patient first). The answer must
be the same in both scenes, and so must the number of queries. A page that costs a
query a row fails here however few rows the test data has.

A new URL fails until it has a budget. After a change that adds or removes queries on
purpose, `make query-budgets` measures every URL again and writes the file: its diff
says which pages got dearer.
"""

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
import time_machine
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import User
from aftercare.services import check_ins as check_in_services
from clinics.models import Clinic, Membership, Organization
from config.urls import router
from patients.models import FhirExport, PatientImport, PatientImportFile
from patients.services import fhir_export
from sessions.models import Reminder
from sessions.services import feeds, reminders
from tests.aftercare.factories import signed_session
from tests.clinics.test_access_matrix import OTHER_ORGANIZATION_ROWS
from tests.conftest import import_at, import_file_of, make_world
from tests.patients.factories import PatientRecord, full_record
from tests.sessions.factories import ScheduleRecord, schedule_at

BUDGETS = Path(__file__).with_name("query_budgets.json")

ROWS = {"few": 3, "many": 30}

PORTAL = ("portal:", "aftercare_portal:", "sessions_portal:")
ROLES = ("therapist", "admin", "patient")

# The admin's pages by id (change, delete, history) are one row each, and its other
# lists (the log, the auth tables) hold no clinical data; its changelists are measured.
ADMIN_MEASURED = ("_changelist", "admin:index")


@dataclass
class Scene:
    """One organisation with its records, under the names the access matrix gives the
    other organisation's rows (OTHER_ORGANIZATION_ROWS reads them)."""

    other_organization: Organization
    halifax: Clinic
    therapist: User
    other_admin: User
    records: list[PatientRecord]
    schedule: ScheduleRecord
    day: datetime.datetime
    rows: dict = field(default_factory=dict)
    feed_secret: str = ""
    clients: dict = field(default_factory=dict)

    @property
    def other_therapist(self) -> User:
        return self.therapist

    def other_record(self) -> PatientRecord:
        return self.records[0]

    def other_schedule(self) -> ScheduleRecord:
        return self.schedule

    def other_membership(self) -> Membership:
        return Membership.objects.get(user=self.therapist)

    def other_import(self) -> PatientImport:
        if not hasattr(self, "_import"):
            self._import = import_at(self.halifax, by=self.other_admin)
        return self._import

    def other_import_file(self) -> PatientImportFile:
        if not hasattr(self, "_import_file"):
            self._import_file = import_file_of(self.records[0].patient)
        return self._import_file

    def other_export(self) -> FhirExport:
        """The organisation's records exported as FHIR by its admin (made once)."""
        if not hasattr(self, "_export"):
            export = fhir_export.start_export(
                organization=self.other_organization, by=self.other_admin
            )
            fhir_export.run_export(export_id=export.pk)
            export.refresh_from_db()
            self._export = export
        return self._export

    def user(self, role: str) -> User:
        return {
            "therapist": self.therapist,
            "admin": self.other_admin,
            "patient": self.records[0].patient.user,
        }[role]


def scene(organization, clinic, therapist, admin, rows: int) -> Scene:
    # The first patient's name is rare, so that the search for it (misspelt) finds the
    # same in both scenes whatever names the factories gave the others.
    records = [
        full_record(
            clinic=clinic,
            therapist=therapist,
            admin=admin,
            **({"first_name": "Philippa", "last_name": "Quennell"} if number == 0 else {}),
        )
        for number in range(rows)
    ]
    # The records' sessions are booked for tomorrow: measured on that day, the day list
    # and the calendar show them. The first patient comes back on each of the days after
    # (consent was withdrawn today: each visit signs it again first).
    day = records[0].session.starts_at.astimezone(clinic.zone).replace(hour=12, minute=0)
    for days_on in range(1, rows):
        signed_session(
            records[0].patient,
            therapist=therapist,
            starts_at=day + datetime.timedelta(days=days_on, hours=3),
        )
    made = Scene(
        other_organization=organization,
        halifax=clinic,
        therapist=therapist,
        other_admin=admin,
        records=records,
        schedule=schedule_at(clinic, admin=admin),
        day=day,
    )
    made.rows = {model: row(made) for model, row in OTHER_ORGANIZATION_ROWS.items()}
    # The links' secrets, as their messages carry them: the therapist's calendar feed (every
    # booking of theirs), the first check-in's e-mail and the first session's reminder.
    _feed, made.feed_secret = feeds.create_calendar_feed(
        organization=organization, therapist=therapist, by=therapist
    )
    # Each role logged in once for the module, on the scene's day (a login writes to the
    # security log: once per test would cost more than the requests measured).
    with time_machine.travel(day, tick=False):
        for role in ROLES:
            made.clients[role] = Client()
            made.clients[role].force_login(made.user(role))
    return made


@pytest.fixture(scope="module")
def scenes(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        world = make_world(mailbox="budgets")
        yield {
            "few": scene(
                world.organization, world.kelowna, world.therapist, world.org_admin, ROWS["few"]
            ),
            "many": scene(
                world.other_organization,
                world.halifax,
                world.other_therapist,
                world.other_admin,
                ROWS["many"],
            ),
        }
        transaction.set_rollback(True)


def every_url(resolver=None, namespace: str = ""):
    """(name, pattern, view) of every named URL, namespaces joined with ':'."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from every_url(pattern, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield f"{namespace}{pattern.name}", pattern


LOT = "LOT-2026-A"  # every needle site of tests.sessions.factories


def misspelt(scene: Scene) -> str:
    """The first patient's name with two letters swapped, as typed in a hurry."""
    first, last = scene.records[0].patient.first_name, scene.records[0].patient.last_name
    return f"{first} {last[1]}{last[0]}{last[2:]}"


# The URLs that list more with a query than without (a search, a lot number, a day): each
# is measured bare and, as `name?query`, with its query filled from the scene.
QUERIES = {
    "patients:list": lambda scene: {"q": misspelt(scene)},
    "patient-list": lambda scene: {"q": misspelt(scene)},
    "session-list": lambda scene: {"date": scene.day.date().isoformat()},
    "sessions:recall": lambda scene: {"lot": LOT},
    "sessions:recall_csv": lambda scene: {"lot": LOT},
    "needle-site-list": lambda scene: {"lot_number": LOT},
    "recall-patient-list": lambda scene: {"lot_number": LOT},
    "slot-list": lambda scene: {
        "clinic": scene.halifax.pk,
        "appointment_type": scene.schedule.appointment_type.pk,
    },
}


def measured_urls() -> dict[str, URLPattern]:
    """Every named URL (of the admin, its lists) by name, and by `name?query` those of QUERIES."""
    urls = {}
    for name, pattern in every_url():
        if name.startswith("admin:") and not name.endswith(ADMIN_MEASURED):
            continue
        urls.setdefault(name, pattern)
        if name in QUERIES:
            urls.setdefault(f"{name}?query", pattern)
    return urls


VIEWSET_MODELS = {basename: viewset.queryset.model for _, viewset, basename in router.registry}


def api_model(name: str):
    basename = name.rsplit("-", 1)[0]
    while basename not in VIEWSET_MODELS and "-" in basename:
        basename = basename.rsplit("-", 1)[0]
    return VIEWSET_MODELS[basename]


# How to fill each id in a URL from a scene (its first record, or the access matrix's row).
def link_token(url: str) -> str:
    """The token at the end of a signed link."""
    return url.rstrip("/").rsplit("/", 1)[1]


# The links whose token names a row: the one their message carried.
TOKENS = {
    "aftercare_portal:check_in_link": lambda scene: link_token(
        check_in_services.link_to(scene.records[0].aftercare.check_in)
    ),
    "sessions:reminder_link": lambda scene: link_token(
        reminders.link_to(scene.rows[Reminder], "confirm")
    ),
}


def ids(scene: Scene, name: str) -> dict:
    record = scene.records[0]
    return {
        "patient_id": record.patient.pk,
        "other_id": scene.records[1].patient.pk,
        "screening_id": record.screening.pk,
        "consent_id": record.consent.pk,
        "session_id": record.session.pk,
        "event_id": record.charted.adverse_event.pk,
        "kind": "needle-sites",
        "row_id": record.charted.needle_site.pk,
        "alert_id": record.aftercare.alert.pk,
        "plan_id": record.aftercare.plan.pk,
        "check_in_id": record.aftercare.check_in.pk,
        "exercise_id": record.aftercare.exercise.pk,
        "clinic_id": scene.halifax.pk,
        "export_id": scene.rows[FhirExport].pk,
        "file_id": scene.rows[PatientImportFile].pk,
        "resource_type": "Patient",
        "secret": scene.feed_secret,
        "token": TOKENS[name](scene) if name in TOKENS else "not-a-token",
        # An invitation's token and an API token's id are only in what carried them (their
        # rows keep a hash): a wrong one, answered 404, is measured.
        "token_id": "00000000-0000-4000-8000-000000000000",
        "key": "not-a-key",
        "uidb36": "0",
    }


def url_of(measured: str, pattern: URLPattern, scene: Scene) -> str:
    name, with_query, _ = measured.partition("?")
    wanted = list(pattern.pattern.regex.groupindex)
    known = ids(scene, name)
    kwargs = {}
    for kwarg in wanted:
        if kwarg == "pk":
            kwargs[kwarg] = scene.rows[api_model(name)].pk
        else:
            assert kwarg in known, f"{name}: say in ids() how to fill <{kwarg}>"
            kwargs[kwarg] = known[kwarg]
    url = reverse(name, kwargs=kwargs)
    return f"{url}?{urlencode(QUERIES[name](scene))}" if with_query else url


def measure(scene: Scene, role: str, url: str) -> tuple[int, int]:
    """The answer and the number of queries of a GET of `url` by `role`, the second time in
    its scene (the first fills what a process caches once, and a calendar feed notes its
    first poll)."""
    with time_machine.travel(scene.day, tick=False):
        client = scene.clients[role]
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
    return response.status_code, len(queries)


def roles_for(name: str) -> tuple[str, ...]:
    if name.startswith(PORTAL):
        return ("patient", "therapist", "admin")
    return ROLES


def budgets() -> dict:
    return json.loads(BUDGETS.read_text()) if BUDGETS.exists() else {}


WRITTEN = {}


@pytest.fixture(scope="module", autouse=True)
def write_budgets(request):
    """With --write-query-budgets: the file, from what this run measured."""
    yield
    if request.config.getoption("write_query_budgets"):
        missed = set(measured_urls()) - set(WRITTEN)
        if missed:  # a scene that failed to build measured nothing: keep the file as it was
            pytest.fail(f"Budgets not written: {len(missed)} URLs were not measured.")
        BUDGETS.write_text(json.dumps(dict(sorted(WRITTEN.items())), indent=1) + "\n")


def test_every_budget_names_a_url_that_exists():
    assert set(QUERIES) <= set(measured_urls())
    assert set(budgets()) <= set(measured_urls())


@pytest.mark.parametrize("name", sorted(measured_urls()))
def test_a_get_costs_the_same_for_3_rows_or_30_and_stays_within_its_budget(
    name, scenes, db, request
):
    pattern = measured_urls()[name]
    writing = request.config.getoption("write_query_budgets")
    budget = budgets().get(name)
    if budget is None and not writing:
        pytest.fail(f"{name} has no query budget: run `make query-budgets` and commit the file")
    if writing:
        answers = {
            role: measure(scenes["few"], role, url_of(name, pattern, scenes["few"]))
            for role in roles_for(name)
        }
        role = next((role for role, (status, _) in answers.items() if status == 200), None)
        role = role or roles_for(name)[0]
    else:
        role = budget["as"]
    few = measure(scenes["few"], role, url_of(name, pattern, scenes["few"]))
    many = measure(scenes["many"], role, url_of(name, pattern, scenes["many"]))
    assert few[0] == many[0], f"{name} as {role}: {few[0]} with 3 rows, {many[0]} with 30"
    assert many[0] != 400 or name in QUERIES, f"{name}: 400; say in QUERIES what it needs"
    assert few[1] == many[1], (
        f"{name} as {role}: {few[1]} queries with 3 rows, {many[1]} with 30: one a row"
    )
    if writing:
        WRITTEN[name] = {"as": role, "status": many[0], "queries": many[1]}
        return
    assert many[0] == budget["status"], f"{name} as {role} answered {many[0]}"
    assert many[1] <= budget["queries"], (
        f"{name} as {role}: {many[1]} queries, budget {budget['queries']}"
    )
