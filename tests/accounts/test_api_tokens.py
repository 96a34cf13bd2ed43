"""Personal API tokens: stored as a hash, shown once, named, expiring, revocable.

Priya (a therapist at Kelowna) makes tokens for her scripts on /accounts/api-token/.
"""

import datetime
import hashlib
import threading

import pytest
import time_machine
from django.apps import apps
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import services
from accounts.models import ApiToken
from accounts.signals import api_token_created, api_token_revoked
from tests.accounts.factories import PASSWORD, UserFactory, api_token_for
from tests.processes import race

NOW = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)


def make_token(client, name="Reporting script", days="90"):
    """Make a token on the page as its owner does; the secret as the next page shows it."""
    made = client.post(reverse("api_token"), {"action": "create", "name": name, "days": days})
    assert made.status_code == 302, made.content.decode()
    return client.get(reverse("api_token")).context["new_secret"]


def api_me(secret):
    return Client().get(reverse("api-me"), headers={"Authorization": f"Bearer {secret}"})


def tables_holding(text: str) -> set[str]:
    """Every table of the database with a row whose text holds `text`."""
    found = set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        for schema, table in cursor.fetchall():
            name = f"{connection.ops.quote_name(schema)}.{connection.ops.quote_name(table)}"
            cursor.execute(
                f"SELECT EXISTS (SELECT FROM {name} AS row WHERE row::text LIKE %s)",  # noqa: S608 (names from pg_tables)
                [f"%{text}%"],
            )
            if cursor.fetchone()[0]:
                found.add(table)
    return found


# --- Making one, and the secret ----------------------------------------------------


def test_a_new_token_is_shown_once_works_and_its_secret_is_nowhere_in_the_database(
    world, client_of
):
    client = client_of(world.therapist)
    made = client.post(
        reverse("api_token"), {"action": "create", "name": "Reporting script", "days": "30"}
    )
    assert made.status_code == 302  # POST, redirect, GET: a reload makes nothing
    page = client.get(reverse("api_token"))
    secret = page.context["new_secret"]
    assert secret.startswith("fascia_") and len(secret) > 40
    assert secret in page.content.decode()
    assert "shown this once" in page.content.decode()
    assert "no-store" in page.headers["Cache-Control"]
    again = client.get(reverse("api_token")).content.decode()
    assert secret not in again
    assert "Reporting script" in again and secret[:12] in again  # listed by name and prefix

    assert api_me(secret).json()["email"] == world.therapist.email
    token = ApiToken.objects.get(user=world.therapist)
    assert token.expires_at - token.created_at == datetime.timedelta(days=30)
    assert tables_holding(secret) == set()
    # The search finds what is there: the hash is stored, in the token and its history.
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert tables_holding(digest) == {"accounts_apitoken", "accounts_apitokenevent"}


def test_a_token_lives_the_configured_days_unless_its_owner_chooses(world, settings):
    settings.FASCIA_API_TOKEN_DAYS = 90
    with time_machine.travel(NOW, tick=False):
        api_token_for(world.therapist, name="Default")
        api_token_for(world.therapist, name="Short", days=7)
    lives = {t.name: t.expires_at - t.created_at for t in ApiToken.objects.all()}
    assert lives == {"Default": datetime.timedelta(days=90), "Short": datetime.timedelta(days=7)}


@pytest.mark.parametrize("days", ["0", "366"])
def test_an_expiry_outside_1_to_365_days_is_refused_on_its_field(world, client_of, days):
    page = client_of(world.therapist).post(
        reverse("api_token"), {"action": "create", "name": "Reporting script", "days": days}
    )
    assert page.status_code == 200
    assert page.context["form"].errors.keys() == {"days"}
    assert not ApiToken.objects.exists()


def test_a_second_token_of_the_same_name_is_refused_with_a_clear_error_and_one_is_made(
    world, client_of
):
    client = client_of(world.therapist)
    make_token(client, name="Reporting script")
    second = client.post(
        reverse("api_token"), {"action": "create", "name": "Reporting  script ", "days": "90"}
    )
    assert second.status_code == 200
    errors = second.context["form"].errors
    assert list(errors) == ["name"]
    assert "already have a token named “Reporting script”" in errors["name"][0]
    assert "already have a token named" in second.content.decode()
    assert ApiToken.objects.filter(user=world.therapist).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_double_click_racing_the_first_makes_one_token_and_names_the_field(world):
    """The second click's insert waits on the first's uncommitted row; once the first
    commits, the database's unique index refuses it, and the page says why. (A real race
    needs committed rows and two connections: hence a transactional test.)"""
    made, release = threading.Event(), threading.Event()
    answers = {}

    def first():  # the first click's token, uncommitted until told
        try:
            with transaction.atomic():
                services.create_api_token(user=world.therapist, name="Reporting script")
                made.set()
                release.wait(10)
        finally:
            connection.close()

    def second():
        try:
            client = Client()
            client.force_login(world.therapist)
            answers["second"] = client.post(
                reverse("api_token"),
                {"action": "create", "name": "Reporting script", "days": "90"},
            )
        finally:
            connection.close()

    race(first, second, holding=made, release=release)  # the second's INSERT waits
    answer = answers["second"]
    assert answer.status_code == 200
    assert list(answer.context["form"].errors) == ["name"]
    assert "already have a token named" in answer.context["form"].errors["name"][0]
    assert ApiToken.objects.filter(user=world.therapist).count() == 1


def test_another_person_may_use_the_same_name(world):
    api_token_for(world.therapist, name="Reporting script")
    api_token_for(world.manager, name="Reporting script")
    assert ApiToken.objects.filter(name="Reporting script").count() == 2


def test_an_expired_tokens_name_may_be_given_to_a_new_token(world):
    with time_machine.travel(NOW, tick=False):
        api_token_for(world.therapist, name="Reporting script", days=1)
    with time_machine.travel(NOW + datetime.timedelta(days=2), tick=False):
        secret = api_token_for(world.therapist, name="Reporting script")
        assert api_me(secret).status_code == 200
        old, new = ApiToken.objects.order_by("created_at")
        assert new.is_active
    assert old.revoked_at is not None and "a new token took its name" in old.revoke_reason


# --- Using one ---------------------------------------------------------------------


def test_an_expired_token_gets_401_saying_when_it_expired(world):
    with time_machine.travel(NOW, tick=False):
        secret = api_token_for(world.therapist, days=1)
    with time_machine.travel(NOW + datetime.timedelta(days=1, seconds=1), tick=False):
        response = api_me(secret)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["detail"].startswith("This API token expired on 2026-03-03 09:30 UTC.")


def test_a_revoked_token_gets_401_saying_it_was_revoked(world, client_of):
    client = client_of(world.therapist)
    secret = make_token(client)
    token = ApiToken.objects.get()
    with time_machine.travel(NOW, tick=False):
        revoked = client.post(reverse("api_token"), {"action": "revoke", "token": str(token.pk)})
    assert revoked.status_code == 302
    assert "was revoked" in client.get(reverse("api_token")).content.decode()
    response = api_me(secret)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["detail"].startswith(
        "This API token was revoked on 2026-03-02 09:30 UTC (revoked by its owner)."
    )
    token.refresh_from_db()
    assert token.revoked_by == world.therapist


def test_an_unknown_token_gets_401(db):
    response = api_me("fascia_not-a-token-anyone-made")
    assert response.status_code == 401
    assert response.json()["detail"].startswith("This API token is not known")


def test_a_person_cannot_revoke_anothers_token(world, client_of):
    api_token_for(world.manager)
    token = ApiToken.objects.get()
    response = client_of(world.therapist).post(
        reverse("api_token"), {"action": "revoke", "token": str(token.pk)}
    )
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_last_used_is_written_at_most_once_a_minute_not_on_every_request(world):
    secret = api_token_for(world.therapist)
    token = ApiToken.objects.get()
    assert token.last_used_at is None

    def use_and_count_writes() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api_me(secret).status_code == 200
        return sum('UPDATE "accounts_apitoken"' in query["sql"] for query in queries)

    with time_machine.travel(NOW, tick=False):
        assert use_and_count_writes() == 1
    token.refresh_from_db()
    assert token.last_used_at == NOW
    with time_machine.travel(NOW + datetime.timedelta(seconds=59), tick=False):
        assert [use_and_count_writes() for _ in range(3)] == [0, 0, 0]
    token.refresh_from_db()
    assert token.last_used_at == NOW
    with time_machine.travel(NOW + datetime.timedelta(seconds=61), tick=False):
        assert use_and_count_writes() == 1
    token.refresh_from_db()
    assert token.last_used_at == NOW + datetime.timedelta(seconds=61)
    # Each use is no history: only the making of the token is.
    assert token.events.count() == 1


def test_the_owners_list_costs_the_same_queries_for_many_tokens(world, client_of):
    client = client_of(world.therapist)
    api_token_for(world.therapist)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("api_token"))
    for _ in range(5):
        api_token_for(world.therapist)
    services.revoke_tokens(user=world.therapist, by=world.org_admin, reason="left the clinic")
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("api_token"))
    assert len(page.context["tokens"]) == 6
    assert len(many) == len(one)


# --- A new password ends them ------------------------------------------------------


def test_changing_the_password_through_allauth_revokes_every_token(
    db, django_capture_on_commit_callbacks
):
    person = UserFactory(email="pat@example.test")
    secrets = [api_token_for(person, name=name) for name in ("Script", "Spreadsheet")]
    revoked = []
    api_token_revoked.connect(lambda **kw: revoked.append(kw), weak=False, dispatch_uid="t")
    client = Client()
    client.force_login(person)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("account_change_password"),
                {
                    "oldpassword": PASSWORD,
                    "password1": "a new long passphrase 42",
                    "password2": "a new long passphrase 42",
                },
            )
    finally:
        api_token_revoked.disconnect(dispatch_uid="t")
    assert response.status_code == 302
    assert [api_me(secret).status_code for secret in secrets] == [401, 401]
    assert set(ApiToken.objects.values_list("revoke_reason", flat=True)) == {"password changed"}
    assert len(revoked) == 2
    assert {call["reason"] for call in revoked} == {"password changed"}
    assert all(call["by"] is None and call["request"] is not None for call in revoked)


def test_resetting_the_password_by_email_link_revokes_every_token(db, client):
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str

    person = UserFactory(email="pat@example.test")
    secret = api_token_for(person)
    url = reverse(
        "account_reset_password_from_key",
        kwargs={
            "uidb36": user_pk_to_url_str(person),
            "key": default_token_generator.make_token(person),
        },
    )
    form_url = client.get(url, follow=True).redirect_chain[-1][0]
    response = client.post(
        form_url, {"password1": "a new long passphrase 42", "password2": "a new long passphrase 42"}
    )
    assert response.status_code == 302
    assert api_me(secret).status_code == 401


def test_the_operator_changing_a_password_in_the_admin_revokes_every_token(world):
    operator = UserFactory(email="op@example.test", is_superuser=True, is_staff=True)
    secret = api_token_for(world.therapist)
    client = Client()
    client.force_login(operator)
    response = client.post(
        reverse("admin:auth_user_password_change", args=[world.therapist.pk]),
        {
            "password1": "a new long passphrase 42",
            "password2": "a new long passphrase 42",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()
    assert api_me(secret).status_code == 401


# --- Signals for the security log --------------------------------------------------


def test_making_and_revoking_send_their_signals_once_committed(
    world, client_of, django_capture_on_commit_callbacks
):
    sent = []
    api_token_created.connect(
        lambda **kw: sent.append(("created", kw)), weak=False, dispatch_uid="c"
    )
    api_token_revoked.connect(
        lambda **kw: sent.append(("revoked", kw)), weak=False, dispatch_uid="r"
    )
    client = client_of(world.therapist)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            make_token(client)
            assert sent == []  # nothing before the commit
        for callback in callbacks:
            callback()
        token = ApiToken.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("api_token"), {"action": "revoke", "token": str(token.pk)})
            client.post(reverse("api_token"), {"action": "revoke", "token": str(token.pk)})
    finally:
        api_token_created.disconnect(dispatch_uid="c")
        api_token_revoked.disconnect(dispatch_uid="r")
    assert [kind for kind, _ in sent] == ["created", "revoked"]  # the second click: nothing
    created, revoked = sent[0][1], sent[1][1]
    assert created["token"] == token and created["request"].user == world.therapist
    assert revoked["by"] == world.therapist and revoked["reason"] == "revoked by its owner"


# --- The platform operator ---------------------------------------------------------


def test_the_operator_lists_and_revokes_tokens_in_the_admin_through_the_service(world):
    operator = UserFactory(email="op@example.test", is_superuser=True, is_staff=True)
    secret = api_token_for(world.therapist, name="Reporting script")
    token = ApiToken.objects.get()
    client = Client()
    client.force_login(operator)
    listed = client.get(reverse("admin:accounts_apitoken_changelist")).content.decode()
    assert "Reporting script" in listed and token.secret_hash not in listed
    assert client.get(reverse("admin:accounts_apitoken_add")).status_code == 403
    response = client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [str(token.pk)]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_by == operator
    assert api_me(secret).status_code == 401


# --- The migration from DRF's clear tokens -----------------------------------------


def test_the_migration_turns_an_old_clear_token_into_a_hashed_one_that_still_works(
    as_database_owner, world
):
    key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamptz NOT NULL, user_id uuid NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)",
            [key, NOW, world.therapist.pk],
        )
    migration = next(
        migration
        for (app, name), migration in MigrationLoader(None).disk_migrations.items()
        if app == "accounts" and name.endswith("_api_tokens_from_clear_tokens")
    )
    with time_machine.travel(NOW + datetime.timedelta(days=10), tick=False):
        with connection.schema_editor() as editor:
            migration.operations[0].code(apps, editor)
        token = ApiToken.objects.get()
        assert api_me(key).status_code == 200
    assert token.user == world.therapist
    assert token.name == "Token made before names"
    assert token.created_at == NOW
    assert token.expires_at == NOW + datetime.timedelta(days=100)
    assert tables_holding(key) == set()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('authtoken_token')")
        assert cursor.fetchone()[0] is None
