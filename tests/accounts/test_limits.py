"""Limits that hold across processes: failed logins per account and address, the used TOTP
codes, the API's throttling; all in the shared cache (PostgreSQL).

The cross-process tests run a real second Python process against this test's database (so
they commit: `transaction=True`), which spends attempts or a code; this process is then
refused. Every other test runs in its own transaction, the cache's rows with it.
"""

import datetime
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.signals import login_locked_out
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.totp import code_for

ROOT = Path(__file__).resolve().parents[2]
LOGIN = reverse("account_login")
MALLORY = "198.51.100.66"  # someone typing wrong passwords for another person's e-mail
PRIYA_AT_WORK = "203.0.113.10"


def browser(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


def log_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(LOGIN, {"login": email, "password": password})


def logged_in(response, client: Client) -> bool:
    return response.status_code == 302 and "_auth_user_id" in client.session


def form_errors(response) -> list[str]:
    return response.context["form"].non_field_errors()


@pytest.fixture
def lockouts():
    """Every login_locked_out sent during the test, as (email, address)."""
    sent = []

    def receive(sender, request, email, **kwargs):
        sent.append((email, request.META["REMOTE_ADDR"]))

    login_locked_out.connect(receive)
    yield sent
    login_locked_out.disconnect(receive)


def test_wrong_passwords_lock_that_account_only_from_that_address(world, lockouts):
    priya = world.therapist.email
    mallory = browser(MALLORY)
    for _ in range(5):
        wrong = log_in(mallory, priya, "not-her-password")
        assert "are not correct" in wrong.content.decode()

    refused = log_in(mallory, priya)  # even the right password, from there
    assert not logged_in(refused, mallory)
    assert form_errors(refused) == [
        "Too many failed logins for this account from your address. Try again in 5 minutes."
    ]
    assert lockouts == [(priya, MALLORY)]

    at_work = browser(PRIYA_AT_WORK)
    assert logged_in(log_in(at_work, priya), at_work)


def test_the_lock_ends_when_its_window_has_passed(world):
    start = timezone.now()
    mallory = browser(MALLORY)
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            log_in(mallory, world.therapist.email, "not-her-password")
    with time_machine.travel(start + datetime.timedelta(minutes=3), tick=False):
        refused = log_in(mallory, world.therapist.email)
        assert form_errors(refused) == [
            "Too many failed logins for this account from your address. Try again in 2 minutes."
        ]
    with time_machine.travel(start + datetime.timedelta(minutes=5, seconds=1), tick=False):
        assert logged_in(log_in(mallory, world.therapist.email), mallory)


def test_a_right_password_does_not_count_as_a_failure(world):
    client = browser(PRIYA_AT_WORK)
    for _ in range(4):
        log_in(client, world.therapist.email, "a-typo")
    for _ in range(3):
        assert logged_in(log_in(client, world.therapist.email), client)
        client.post(reverse("account_logout"))
    # Four failures and three logins: one failure left before the lock.
    log_in(client, world.therapist.email, "a-typo")
    assert "Too many failed logins" in form_errors(log_in(client, world.therapist.email))[0]


def test_one_address_trying_many_accounts_is_stopped(db, lockouts):
    mallory = browser(MALLORY)
    for number in range(10):
        log_in(mallory, f"guess{number}@nowhere.test", "guess")
    someone = UserFactory()
    refused = log_in(mallory, someone.email)
    assert form_errors(refused) == [
        "Too many failed logins from your address. Try again in 1 minute."
    ]
    assert lockouts == [(someone.email, MALLORY)]
    elsewhere = browser(PRIYA_AT_WORK)
    assert logged_in(log_in(elsewhere, someone.email), elsewhere)


def test_guessing_from_many_addresses_is_stopped_but_not_where_the_owner_logs_in(world):
    priya = world.therapist.email
    at_work = browser(PRIYA_AT_WORK)
    assert logged_in(log_in(at_work, priya), at_work)
    at_work.post(reverse("account_logout"))

    for number in range(50):  # one guess from each address of a botnet
        log_in(browser(f"198.51.100.{number + 1}"), priya, f"guess-{number}")
    new_address = browser("192.0.2.200")
    refused = log_in(new_address, priya)
    assert form_errors(refused) == [
        "Too many failed logins for this account. Try again in 60 minutes."
    ]
    assert logged_in(log_in(at_work, priya), at_work)  # where she logged in before


def test_the_address_behind_trusted_proxies_is_the_one_limited(world, settings):
    settings.FASCIA_TRUSTED_PROXIES = 1
    through_the_proxy = Client(REMOTE_ADDR="10.0.0.2")

    def attempt(client_address, password):
        return through_the_proxy.post(
            LOGIN,
            {"login": world.therapist.email, "password": password},
            HTTP_X_FORWARDED_FOR=f"203.0.113.1, {client_address}",  # the first one forged
        )

    for _ in range(5):
        attempt(MALLORY, "not-her-password")
    assert "Too many failed logins" in form_errors(attempt(MALLORY, PASSWORD))[0]
    assert attempt(PRIYA_AT_WORK, PASSWORD).status_code == 302


# --- across processes ---------------------------------------------------------------------


def run_in_another_process(code: str) -> None:
    """Run `code` in a new Python process of Fascia on this test's database.

    No `timeout=`: waiting with one fails at random under faketime (docs/testing.md), and
    these processes end on their own in about a second."""
    connection.ensure_connection()
    where = connection.connection.info  # as connected, however the settings spelt it
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_OWNER_URL"},  # Fascia's role
        "DEBUG": "true",
        "DATABASE_URL": (
            f"postgresql://{where.user}@/{where.dbname}?host={where.host}&port={where.port}"
        ),
    }
    setup = "import django; django.setup()\n"
    done = subprocess.run(
        [sys.executable, "-c", setup + textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def shared_cache_emptied():
    """The cross-process tests commit; Django's flush after them leaves the cache table."""
    yield
    cache.clear()


@pytest.mark.django_db(transaction=True)
def test_attempts_spent_in_another_process_lock_this_one(shared_cache_emptied):
    priya = UserFactory(email="priya@kelowna.test")
    run_in_another_process(
        f"""
        from django.test import Client
        client = Client(REMOTE_ADDR="{MALLORY}", HTTP_HOST="localhost")
        for _ in range(5):
            answer = client.post("{LOGIN}", {{"login": "{priya.email}", "password": "wrong"}})
            assert answer.status_code == 200, answer.status_code
        """
    )
    here = browser(MALLORY)
    refused = log_in(here, priya.email)
    assert not logged_in(refused, here)
    assert "Too many failed logins for this account from your address" in form_errors(refused)[0]


@pytest.mark.django_db(transaction=True)
def test_a_totp_code_used_in_another_process_is_refused_in_this_one(shared_cache_emptied):
    priya = UserFactory(email="priya@kelowna.test")
    secret = "JBSWY3DPEHPK3PXP"
    authenticator = TOTP.activate(priya, secret).instance
    now = timezone.now()
    code = code_for(secret, at=now.timestamp())
    run_in_another_process(
        f"""
        import time_machine
        from allauth.mfa.models import Authenticator
        from allauth.mfa.totp.internal.auth import TOTP
        with time_machine.travel({now.timestamp()!r}, tick=False):
            totp = TOTP(Authenticator.objects.get(pk={authenticator.pk}))
            assert totp.validate_code("{code}"), "the code was refused the first time"
        """
    )
    with time_machine.travel(now, tick=False):
        client = browser(PRIYA_AT_WORK)
        assert log_in(client, priya.email).headers["Location"] == reverse("mfa_authenticate")
        replayed = client.post(reverse("mfa_authenticate"), {"code": code})
        assert "Incorrect code." in replayed.content.decode()
        assert "_auth_user_id" not in client.session
    assert Authenticator.objects.filter(user=priya).count() == 1


# --- the API's throttling -----------------------------------------------------------------


@pytest.fixture(scope="module")
def real_rates() -> dict[str, str]:
    """The API's rates as production has them: the settings read without the tests' raised
    rates (pyproject.toml), in a process of their own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASCIA_API_RATE_")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from config import settings; "
            "print(json.dumps(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']))",
        ],
        cwd=ROOT,
        env={**env, "DEBUG": "false", "SECRET_KEY": "x" * 50},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_api_answers_429_with_retry_after_past_the_real_rate(
    world, client_of, settings, real_rates
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": real_rates}
    assert real_rates == {"user": "120/minute", "anon": "20/minute"}
    me = reverse("api-me")
    priya = client_of(world.therapist)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(120):
            assert priya.get(me).status_code == 200
    with time_machine.travel(start + datetime.timedelta(seconds=10), tick=False):
        throttled = priya.get(me)
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "50"
        assert throttled.json() == {
            "detail": "Request was throttled. Expected available in 50 seconds.",
            "code": "throttled",
            "fields": {},
        }
        assert client_of(world.manager).get(me).status_code == 200  # per person
    with time_machine.travel(start + datetime.timedelta(seconds=61), tick=False):
        assert priya.get(me).status_code == 200


def test_requests_without_a_login_are_throttled_by_address(db, settings, real_rates):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": real_rates}
    docs = reverse("api-docs")  # with the schema, the API's only pages open without a login
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(20):
            assert browser(MALLORY).get(docs).status_code == 200
        throttled = browser(MALLORY).get(docs)
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "60"
        assert browser(PRIYA_AT_WORK).get(docs).status_code == 200


def test_the_schema_documents_the_429_of_every_operation(db):
    schema = Client().get(reverse("api-schema"), {"format": "json"}).json()
    operations = [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) > 50
    for path, method, operation in operations:
        too_many = operation["responses"].get("429")
        assert too_many, f"{method.upper()} {path} does not document its 429"
        assert too_many["headers"]["Retry-After"]["required"] is True
        assert too_many["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }


def test_an_ipv6_network_counts_as_one_address(db, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "1/minute", "anon": "1/minute"},
    }
    docs = reverse("api-docs")
    assert browser("2001:db8:0:7::1").get(docs).status_code == 200
    assert browser("2001:db8:0:7::ffff").get(docs).status_code == 429  # the same /64
    assert browser("2001:db8:0:8::1").get(docs).status_code == 200


def test_a_rate_that_is_not_one_stops_fascia_with_one_line():
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true", "FASCIA_API_RATE_USER": "120 a minute"},
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert done.stderr.strip() == (
        "fascia: FASCIA_API_RATE_USER='120 a minute' is not a rate: a number of requests per "
        "second, minute, hour or day, such as 120/minute, or off"
    )
