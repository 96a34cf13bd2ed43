"""Fascia runs as a database role that owns nothing and cannot rewrite the evidence.

The whole suite runs as that role (tests/conftest.py); these tests say what it may
not do, as someone who takes over Fascia's connection would try it, and that
`make run` serves as it. docs/security.md, "Least privilege in the database".
"""

import os
import signal
import threading
import time

import pghistory.models
import pgtrigger
import psycopg
import pytest
from django.apps import apps
from django.conf import settings
from django.db import ProgrammingError, connection, transaction

from clinics import database_roles, row_security
from clinics.audit_chain import chained_models
from patients.models import ConsentSignature, Patient
from tests.config.test_configuration import manage
from tests.config.test_run_stops import (
    assert_all_stop_in_time,
    free_port,
    make_run,
    wait_until_serving,
)

APP_ROLE = settings.DATABASE_APP_ROLE
HISTORY, ACCESS_LOG, SECURITY_LOG = (
    "patients_patientevent",
    "patients_recordread",
    "clinics_securityevent",
)


def refused(sql: str, params=(), *, because: str = "permission denied") -> None:
    with (
        pytest.raises(ProgrammingError, match=because),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def one_value(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def test_the_suite_runs_as_a_role_that_is_no_superuser_and_cannot_bypass_row_security(db):
    assert APP_ROLE == "fascia_app"  # the embedded database's (config/embedded_db)
    assert one_value("SELECT current_user") == APP_ROLE
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolreplication "
            "FROM pg_roles WHERE rolname = current_user"
        )
        assert cursor.fetchone() == (False, False, False, False, False)
        # Nor may it become a role that can: it is a member of none.
        cursor.execute("SELECT count(*) FROM pg_auth_members WHERE member = current_user::regrole")
        assert cursor.fetchone() == (0,)


def test_the_app_role_owns_nothing_and_the_owner_owns_every_table(db):
    owned = one_value(
        "SELECT count(*) FROM pg_class WHERE relowner = current_user::regrole"
        " UNION ALL SELECT count(*) FROM pg_proc WHERE proowner = current_user::regrole"
        " ORDER BY 1 DESC LIMIT 1"
    )
    assert owned == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
        assert cursor.fetchall() == [(settings.DATABASES["owner"]["USER"],)]


@pytest.mark.parametrize("table", [HISTORY, "pghistory_context", ACCESS_LOG, SECURITY_LOG])
def test_history_the_access_log_and_the_security_log_refuse_delete_and_truncate(db, table):
    refused(f"DELETE FROM {table}")  # noqa: S608 (our own table names)
    refused(f"TRUNCATE {table}")


@pytest.mark.parametrize("table", [HISTORY, ACCESS_LOG, SECURITY_LOG, "patients_consentsignature"])
def test_history_the_logs_and_signed_records_refuse_update(db, table):
    refused(f"UPDATE {table} SET organization_id = organization_id")  # noqa: S608


def test_no_table_may_be_truncated_altered_dropped_or_have_its_triggers_disabled(db):
    refused("TRUNCATE clinics_clinic")
    refused("ALTER TABLE patients_recordread DISABLE TRIGGER ALL", because="must be owner")
    refused("ALTER TABLE patients_patientevent DROP COLUMN last_name", because="must be owner")
    refused("DROP TABLE clinics_securityevent", because="must be owner")
    refused("CREATE TABLE public.shadow (id int)", because="permission denied for schema")
    refused("SET session_replication_role = replica", because="permission denied to set")
    refused("ALTER TABLE patients_patient NO FORCE ROW LEVEL SECURITY", because="must be owner")


def test_asking_pgtrigger_to_ignore_the_protection_does_not_open_an_evidence_table(world):
    signature = world.kelowna_record().consent
    with pgtrigger.ignore("patients.ConsentSignature:never_changed"):
        refused(
            "UPDATE patients_consentsignature SET signer_name = 'Someone' WHERE id = %s",
            [signature.pk],
        )
    # Set by hand, naming every trigger of the table: the privilege is checked before them.
    triggers = one_value(
        "SELECT string_agg(tgname, ',') FROM pg_trigger WHERE tgrelid = %s::regclass",
        [ACCESS_LOG],
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + triggers + "}"]
            )
        refused(f"DELETE FROM {ACCESS_LOG}")  # noqa: S608
        refused(f"UPDATE {ACCESS_LOG} SET part = part")  # noqa: S608
    assert ConsentSignature.objects.get(pk=signature.pk).signer_name == signature.signer_name


def test_skipping_every_trigger_of_a_signed_session_still_writes_its_history(world):
    """What the app role may update it may reach past a protection with pgtrigger.ignore
    (the merge must), but never past the history: the change is always on record."""
    session = world.kelowna_record().session
    history = apps.get_model("treatment_sessions", "TreatmentSessionEvent")
    before = history.objects.filter(pgh_obj_id=session.pk).count()
    every_trigger = one_value(
        "SELECT string_agg(tgname, ',') FROM pg_trigger WHERE tgrelid = %s::regclass",
        ["treatment_sessions_treatmentsession"],
    )
    with transaction.atomic(), connection.cursor() as cursor:
        ignored = "{" + every_trigger + "}"
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [ignored])
        cursor.execute(
            "UPDATE treatment_sessions_treatmentsession SET cancellation_reason = 'Rewritten'"
            " WHERE id = %s",
            [session.pk],
        )
    assert history.objects.filter(pgh_obj_id=session.pk).count() == before + 1
    history_triggers = one_value(
        "SELECT array_agg(tgname) FROM pg_trigger WHERE tgname LIKE 'pgtrigger_update_update%%'"
    )
    assert set(database_roles.never_skipped()) >= set(history_triggers)


def test_a_merge_may_move_a_signed_row_to_another_patient_and_change_nothing_else(world):
    """The merge's one need (patients/services/merge.py): the patient column, with the
    protection ignored; its own check refuses a move that changed anything else."""
    signature = world.kelowna_record().consent
    with pgtrigger.ignore("patients.ConsentSignature:never_changed"):
        moved = ConsentSignature.objects.filter(pk=signature.pk).update(patient=signature.patient)
    assert moved == 1
    assert database_roles.updatable_columns()["patients_consentsignature"] == {"patient_id"}


def test_ordinary_writes_work(world, patient):
    assert Patient.objects.filter(pk=patient.pk).update(phone="+1 250 555 0199") == 1
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM fascia_cache WHERE expires < now()")


def test_every_history_log_and_never_changed_table_is_closed_to_update_and_delete(db):
    """Read off the models, as the grants are: a new history or log table is covered."""
    expected = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if issubclass(model, pghistory.models.Event) or model in chained_models()
    }
    tables = database_roles.evidence_tables()
    assert expected <= set(tables)
    assert {"patients_consentsignature", "aftercare_checkinanswer", "pghistory_context"} <= set(
        tables
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'"
            " AND (has_table_privilege(current_user, oid, 'DELETE')"
            "  OR has_table_privilege(current_user, oid, 'TRUNCATE')"
            "  OR (has_table_privilege(current_user, oid, 'UPDATE') AND relname <> ALL(%s)))",
            [list(tables), ["pghistory_context"]],
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT count(*) FROM pg_class"
            " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            " AND NOT has_table_privilege(current_user, oid, 'SELECT, INSERT')"
        )
        assert cursor.fetchone() == (0,)


def test_a_table_a_later_migration_makes_gets_the_ordinary_grants(as_database_owner, db):
    """The owner's default privileges; `migrate` then closes an evidence table (above)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE later_table (id bigint GENERATED BY DEFAULT AS IDENTITY)")
        cursor.execute(
            "SELECT has_table_privilege(%s, 'later_table', privilege)"
            " FROM unnest(%s::text[]) AS privilege",
            [APP_ROLE, ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER"]],
        )
        assert [granted for (granted,) in cursor.fetchall()] == [True] * 4 + [False] * 2
        cursor.execute(
            "SELECT has_sequence_privilege("
            "  %s, pg_get_serial_sequence('later_table', 'id'), 'USAGE')",
            [APP_ROLE],
        )
        assert cursor.fetchone() == (True,)


_APP = "postgresql://fascia_app:secret@db.example:5432/fascia"


@pytest.mark.parametrize(
    ("environment", "cause"),
    [
        ({"DATABASE_OWNER_URL": _APP}, "DATABASE_OWNER_URL is set but DATABASE_URL is not"),
        (
            {"DATABASE_URL": _APP, "DATABASE_OWNER_URL": "owner@db.example/fascia"},
            "DATABASE_OWNER_URL must be a PostgreSQL URL",
        ),
        (
            {
                "DATABASE_URL": _APP,
                "DATABASE_OWNER_URL": "postgresql://fascia_owner:s@db.example:5432/other",
            },
            "DATABASE_OWNER_URL must name the same server and database as DATABASE_URL",
        ),
        (
            {"DATABASE_URL": _APP, "DATABASE_OWNER_URL": _APP},
            "DATABASE_OWNER_URL names the same role as DATABASE_URL",
        ),
    ],
    ids=["owner-alone", "not-a-url", "another-database", "same-role"],
)
def test_an_owner_url_that_cannot_be_right_is_refused_in_one_line(environment, cause):
    done = manage("check", DEBUG="true", **environment)
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("fascia: ")
    assert cause in line


# --- make run -----------------------------------------------------------------------------


def test_make_run_serves_and_works_as_the_app_role(data_dir):
    port = free_port()
    make = make_run(data_dir, port)
    try:
        wait_until_serving(make, port)  # the web server has queried the database
        port_line = (data_dir / "postmaster.pid").read_text().splitlines()[3]
        url = f"postgresql://postgres@/fascia?host={data_dir}&port={port_line}"
        users: list[str] = []
        deadline = time.monotonic() + 30
        # The web server's connection, and the worker's once it first polls its queue.
        while len(users) < 2 and time.monotonic() < deadline:
            with psycopg.connect(url, autocommit=True) as probe:
                users = [
                    user
                    for (user,) in probe.execute(
                        "SELECT usename FROM pg_stat_activity WHERE datname = 'fascia'"
                        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                    )
                ]
            threading.Event().wait(0.2)
        assert len(users) >= 2
        assert set(users) == {APP_ROLE}
    finally:
        since = time.monotonic()
        os.killpg(make.pid, signal.SIGTERM)
        assert_all_stop_in_time(make, data_dir, since)


def test_an_owner_that_is_no_superuser_makes_the_functions_and_they_work(as_database_owner, world):
    """A managed PostgreSQL's owner is no superuser (docs/operations.md): `migrate` makes the
    policies' functions as such an owner, and they read a person's organisations through
    row-level security, leaving the transaction's setting as it was."""
    owner = f"fascia_managed_owner_{os.getpid()}"
    statements = row_security.policy_statements(
        tables={},
        existing=set(connection.introspection.table_names()),
        quote=connection.ops.quote_name,
        role=None,
    )
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {owner} NOSUPERUSER NOBYPASSRLS")
        cursor.execute(f"CREATE SCHEMA fascia_managed AUTHORIZATION {owner}")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {owner}")
        cursor.execute(f"GRANT SELECT ON clinics_membership, patients_patient TO {owner}")
        cursor.execute(f"SET LOCAL ROLE {owner}")
        cursor.execute("SET LOCAL search_path = fascia_managed, public")
        cursor.execute("; ".join(statements))
        cursor.execute("SELECT set_config(%s, '', true)", [row_security.EVERY])
        cursor.execute(
            "SELECT fascia_managed.fascia_organizations_of(%s), current_setting(%s, true)",
            [world.therapist.pk, row_security.EVERY],
        )
        reached, every = cursor.fetchone()
    assert set(reached) == {world.organization.pk}
    assert every == ""
