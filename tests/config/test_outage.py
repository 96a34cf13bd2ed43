"""With the database down, pages answer a plain 503 page and the API a JSON 503, both with
Retry-After, within 2 seconds; when it is back, the next request succeeds.

Real processes, no mocks: a web server (runserver, DEBUG off) on a PostgreSQL server of this
module's own (tests/private_database.py), which the tests stop and start under it. The suite's
own database is taken away too, for one test, by refusing connections to it. And the task
worker (`manage.py worker`) on the same private database: it waits out an outage, and one
started before the database beats once it is up.
"""

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.test import Client, RequestFactory
from psycopg import sql

from clinics.models import Role
from config import outage
from tests.accounts.factories import api_token_for
from tests.clinics.factories import ClinicFactory, OrganizationFactory, staff
from tests.private_database import PrivateDatabase
from tests.processes import WORKER, wait_for

ROOT = Path(__file__).resolve().parents[2]
# The bound for an answer while the database is down: a behaviour, not a benchmark.
ANSWER_WITHIN_SECONDS = 2.0
OUTAGE_SECONDS = 4
PAGE, API = "/clinics/", "/api/v1/clinics/"  # both read the session or token, then clinics
SERVED = {
    "DJANGO_SETTINGS_MODULE": "tests.config.served_settings",
    "DEBUG": "false",
    "SECRET_KEY": "outage-test-secret-key-only-for-this-module-0123456789",
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "false",
    "FASCIA_REQUIRE_STAFF_MFA": "false",
    "EMAIL_URL": "consolemail://",
}
# An organisation admin, logged in with a session and holding an API token.
ARRANGE = """
import json
from django.test import Client
from clinics import row_security
from clinics.models import Role
from tests.accounts.factories import api_token_for
from tests.clinics.factories import ClinicFactory, OrganizationFactory, staff

with row_security.every_organization():  # a shell sees no organisation's rows by itself
    organization = OrganizationFactory(name="Kelowna Physio")
    ClinicFactory(organization=organization, name="Kelowna")
    admin = staff(Role.ORG_ADMIN, email="olivia@kelowna.test", organization=organization)
browser = Client()
browser.force_login(admin)
print(json.dumps({"session": browser.cookies["sessionid"].value,
                  "token": api_token_for(admin)}))
"""


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Fascia:
    """The running web server, and what a logged-in organisation admin sends it."""

    port: int
    log: Path
    session: str
    token: str

    def page(self) -> Answer:
        return self.get(PAGE, Cookie=f"sessionid={self.session}")

    def api(self) -> Answer:
        return self.get(API, Authorization=f"Bearer {self.token}")

    def get(self, path: str, **headers: str) -> Answer:
        started = time.monotonic()
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            client.request("GET", path, headers=headers)
            response = client.getresponse()
            body = response.read()
        finally:
            client.close()
        return Answer(response.status, response.headers, body, time.monotonic() - started)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def fascia(private_database, tmp_path_factory) -> Iterator[Fascia]:
    arranged = json.loads(
        private_database.manage("shell", "-v", "0", "-c", ARRANGE, **SERVED).stdout
    )
    port = free_port()
    log = tmp_path_factory.mktemp("outage") / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", str(port)],
            cwd=ROOT,
            env=private_database.environment(**SERVED),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(server, port)
        yield Fascia(port, log, arranged["session"], arranged["token"])
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_until_serving(server: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "the web server ended before it served"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            threading.Event().wait(0.1)
    pytest.fail(f"the web server did not listen on port {port}")


@pytest.fixture
def database(private_database) -> Iterator[PrivateDatabase]:
    """The private database, running again after the test whatever the test did to it."""
    yield private_database
    if not private_database.is_running:
        private_database.start()


@pytest.mark.django_db  # the private database copies the test database
def test_with_the_database_down_pages_and_api_answer_503_fast_and_recover_at_once(fascia, database):
    """One outage, what everything does in it: pages, the API and the health check answer
    503 at once and 200 when it is back; the task worker waits it out and runs the next job."""
    with worker_on(database, TASK_WORKER_LEASE_SECONDS="4") as (worker, worker_log):
        wait_for(lambda: heartbeats(database) > 0, seconds=60, what="the worker's heartbeat")
        an_outage_and_back(fascia, database)
        assert worker.poll() is None, "the worker exited when the database went away"
        job = queue_a_job(database)
        wait_for(
            lambda: status_of(database, job) == "SUCCESSFUL",
            seconds=60,
            what="the worker to run a job after the outage",
        )
        assert worker.poll() is None
        assert "the database is not answering" in worker_log.read_text()


def an_outage_and_back(fascia, database):
    assert fascia.page().status == 200
    assert fascia.api().status == 200

    database.stop()
    stopped = time.monotonic()
    page, api = fascia.page(), fascia.api()

    assert page.status == 503
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Retry-After"] == str(outage.RETRY_AFTER_SECONDS)
    assert b"Briefly unavailable" in page.body
    assert b"Nothing was changed. Try again in a moment." in page.body
    assert "sessionid" not in (page.headers["Set-Cookie"] or "")  # still logged in after
    assert api.status == 503
    assert api.headers["Content-Type"] == "application/json"
    assert api.headers["Retry-After"] == str(outage.RETRY_AFTER_SECONDS)
    assert api.json() == {
        "detail": outage.API_MESSAGE,
        "code": "database_unavailable",
        "fields": {},
    }
    print(f"while down: page {page.seconds:.2f} s, API {api.seconds:.2f} s")
    assert page.seconds < ANSWER_WITHIN_SECONDS
    assert api.seconds < ANSWER_WITHIN_SECONDS
    health = fascia.get("/healthz")
    assert health.status == 503
    assert health.json() == {"status": "unavailable", "database": "not answering"}

    # Down for a while, as in a restart: long enough that the pool's own retries, left to
    # themselves (after 1, 3, 7 s...), would come after the first requests once it is back.
    threading.Event().wait(stopped + OUTAGE_SECONDS - time.monotonic())
    database.start()
    page, api = fascia.page(), fascia.api()

    print(f"back: page {page.seconds:.2f} s, API {api.seconds:.2f} s")
    assert (page.status, api.status) == (200, 200)
    assert fascia.get("/healthz?scope=web").status == 200
    assert b"Kelowna" in page.body
    assert [clinic["name"] for clinic in api.json()["results"]] == ["Kelowna"]
    # Told once each, in a line, not as a server error with its traceback.
    log = fascia.log.read_text()
    assert log.count("the database is unavailable: GET") == 2
    assert "Traceback" not in log


def test_after_a_restart_no_dead_pooled_connection_is_handed_out(fascia, database):
    """A restart with nobody using Fascia in between: every connection the server's pool
    held died with it, and the next page and the next API call do not meet one."""
    pooled = hold_connections(fascia, database, count=4)
    assert pooled >= 4, f"the web server's pool held {pooled} connections, not 4"

    database.stop()
    database.start()
    page, api = fascia.page(), fascia.api()

    print(f"after the restart: page {page.seconds:.2f} s, API {api.seconds:.2f} s")
    assert (page.status, api.status) == (200, 200)


def hold_connections(fascia: Fascia, database: PrivateDatabase, count: int) -> int:
    """Make the web server's pool open `count` connections, and say how many it holds.

    Its requests are held inside the database (the sessions table locked) until all
    `count` wait there at once, each on a connection of its own; then they finish, and
    the connections go back to the pool, idle."""
    with psycopg.connect(database.url) as locker:
        locker.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")
        requests = [threading.Thread(target=fascia.page) for _ in range(count)]
        for request in requests:
            request.start()
        deadline = time.monotonic() + 30
        while waiting_on_the_lock(database) < count and time.monotonic() < deadline:
            threading.Event().wait(0.05)
        locker.rollback()
    for request in requests:
        request.join(timeout=30)
    return len(database.query(WEB_SERVER_CONNECTIONS))


WEB_SERVER_CONNECTIONS = """
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend'
      AND pid <> pg_backend_pid()
"""


def waiting_on_the_lock(database: PrivateDatabase) -> int:
    return len(database.query(WEB_SERVER_CONNECTIONS + " AND wait_event_type = 'Lock'"))


@pytest.mark.django_db(transaction=True)
def test_the_suite_database_refusing_connections_is_a_503_and_its_return_a_200():
    """The same through Django's test client, in this process: the suite's own database
    stops accepting connections (those open are ended), then accepts them again. It takes
    about 3 s: two answers that wait out the pool's timeout (1.5 s), the behaviour under test."""
    organization = OrganizationFactory()
    ClinicFactory(organization=organization, name="Vernon")
    admin = staff(Role.ORG_ADMIN, organization=organization)
    token = api_token_for(admin)
    browser, api = Client(raise_request_exception=False), Client(raise_request_exception=False)
    browser.force_login(admin)
    api.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    connection.close()  # its connection goes back to the pool, to die there with the rest
    owner = settings.DATABASES["owner"]  # ALTER DATABASE is the owner's
    as_owner = {**connection.settings_dict, "USER": owner["USER"], "PASSWORD": owner["PASSWORD"]}
    with connections_refused(as_owner):
        reading = browser.get(PAGE)
        saving = browser.post("/patients/register/", {"first_name": "Ada", "last_name": "Quinn"})

    assert (reading.status_code, saving.status_code) == (503, 503)
    assert reading["Retry-After"] == saving["Retry-After"] == str(outage.RETRY_AFTER_SECONDS)
    assert b"Nothing was changed. Try again in a moment." in reading.content
    assert f'href="{PAGE}"'.encode() in reading.content  # "Try again"
    assert b"What you were saving was not saved." in saving.content
    assert browser.get(PAGE).status_code == 200
    assert [clinic["name"] for clinic in api.get(API).json()["results"]] == ["Vernon"]


@contextlib.contextmanager
def connections_refused(settings: dict) -> Iterator[None]:
    """The test database refuses new connections and its open ones are ended, as in a
    restart; on leaving, it accepts them again (whatever happened inside)."""
    name = settings["NAME"]
    server = {
        "dbname": "postgres",
        "user": settings["USER"] or None,
        "host": settings["HOST"] or None,
        "port": settings["PORT"] or None,
        "password": settings["PASSWORD"] or None,
        "autocommit": True,
    }
    allow = sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}")
    with psycopg.connect(**server) as admin:
        admin.execute(allow.format(sql.Identifier(name), sql.SQL("false")))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
    try:
        yield
    finally:
        with psycopg.connect(**server) as admin:
            admin.execute(allow.format(sql.Identifier(name), sql.SQL("true")))


@pytest.mark.django_db
def test_a_query_the_database_cancels_is_a_server_error_not_an_outage():
    """A statement timeout is an OperationalError too, but the database answered."""
    with (
        pytest.raises(OperationalError) as cancelled,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")
    assert not outage.database_unavailable(cancelled.value)
    try:
        raise cancelled.value
    except OperationalError:
        answer = outage.server_error(RequestFactory().get(API))
    assert answer.status_code == 500


def test_a_pool_timeout_that_is_not_seconds_stops_startup_in_one_line():
    started = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true", "DATABASE_POOL_TIMEOUT": "soon"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert started.stderr.strip().splitlines() == [
        "fascia: DATABASE_POOL_TIMEOUT='soon' is not a number of seconds above 0, such as 1.5"
    ]


# The task worker in an outage: it waits, it does not exit (clinics/worker.py).


def heartbeats(database) -> int:
    return database.query("SELECT count(*) FROM clinics_workerheartbeat")[0][0]


def queue_a_job(database) -> str:
    """The catch-up job, queued as django-tasks-db queues it (to run at once)."""
    job = str(uuid.uuid4())
    database.query(
        "INSERT INTO django_tasks_database_dbtaskresult (id, status, enqueued_at, args_kwargs, "
        "priority, task_path, worker_ids, queue_name, backend_name, run_after, "
        "exception_class_path, traceback) VALUES (%s, 'READY', now(), "
        """'{"args": [], "kwargs": {}}', 0, 'aftercare.tasks.catch_up', '[]', 'default', """
        "'default', '9999-01-01 00:00+00', '', '')",
        (job,),
    )
    return job


def status_of(database, job: str) -> str:
    return database.query(
        "SELECT status FROM django_tasks_database_dbtaskresult WHERE id = %s", (job,)
    )[0][0]


@contextlib.contextmanager
def worker_on(database, **variables) -> Iterator[tuple[subprocess.Popen, Path]]:
    """`manage.py worker` on the private database, its output in a file; stopped at the end."""
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        worker = subprocess.Popen(
            [*WORKER, "--interval=0.2", "--no-startup-delay"],
            cwd=ROOT,
            env=database.environment(
                DEBUG="true",
                TASKS_BACKEND="django_tasks_db.DatabaseBackend",
                EMAIL_URL="consolemail://",
                **variables,
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield worker, Path(log.name)
        finally:
            worker.terminate()
            worker.wait(10)
            print(Path(log.name).read_text())  # shown when the test fails


def beat_ages(database) -> list[float]:
    return [
        age
        for (age,) in database.query(
            "SELECT extract(epoch FROM now() - seen_at) FROM clinics_workerheartbeat"
        )
    ]


@pytest.mark.django_db
def test_a_worker_started_while_the_database_is_down_beats_once_it_is_up(database):
    """At boot a worker may start before PostgreSQL: its heartbeat, which takes back the
    jobs of dead workers, must start beating when the database comes."""
    database.query("DELETE FROM clinics_workerheartbeat")
    database.stop()
    with worker_on(database, TASK_WORKER_LEASE_SECONDS="2") as (worker, _):
        threading.Event().wait(1.5)  # it started, and found no database
        database.start()
        wait_for(lambda: beat_ages(database), seconds=60, what="a first heartbeat")
        threading.Event().wait(1)  # two beats' time
        assert max(beat_ages(database)) < 1.5, "the heartbeat stopped after one beat"
        assert worker.poll() is None
