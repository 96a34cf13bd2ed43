"""Backups that restore: `manage.py backup` and `manage.py restore` with the embedded server's
own pg_dump and pg_restore, into a real database made for the restore and dropped after."""

import json
import os
import threading
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import override_settings
from psycopg import sql
from psycopg.conninfo import make_conninfo

from clinics import backup
from clinics.database_roles import OWNER
from clinics.models import Organization


def run(command: str, *args, **options) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=out, **options)
    return out.getvalue()


class Fresh:
    """An empty database beside the test database, on the same server."""

    def __init__(self, name: str):
        configured = backup.configured_database(OWNER)  # a restore makes tables: the owner
        self.database = backup.Database(
            params={**configured.params, "dbname": name},
            password=configured.password,
            bundled_first=configured.bundled_first,
        )

    @property
    def url(self) -> str:
        return make_conninfo(self.database.conninfo(), password=self.database.password)

    def connect(self) -> psycopg.Connection:
        return self.database.connect(autocommit=True)

    def table_count(self) -> int:
        with self.connect() as target:
            return len(backup._tables(target.cursor()))


@pytest.fixture
def fresh(db):
    name = f"{connection.settings_dict['NAME']}_restored"
    with connections[OWNER]._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield Fresh(name)
    with connections[OWNER]._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def migrated_backup(tmp_path_factory, django_db_setup, django_db_blocker) -> Path:
    """A backup of the migrated test database, made once for the refusals below."""
    path = tmp_path_factory.mktemp("backups") / "migrated.dump"
    with django_db_blocker.unblock():
        run("backup", str(path))
    return path


@pytest.fixture
def copy_of(migrated_backup, tmp_path):
    """A copy of the module's backup (dump and manifest) that a test may damage."""

    def make(name: str = "copy.dump") -> Path:
        path = tmp_path / name
        path.write_bytes(migrated_backup.read_bytes())
        backup.manifest_path(path).write_bytes(backup.manifest_path(migrated_backup).read_bytes())
        return path

    return make


def rows_of(cursor, table: str) -> list[str]:
    """Every row of `table` as text, in a fixed order: equal lists mean equal rows."""
    cursor.execute(sql.SQL("SELECT t::text FROM {} t").format(sql.SQL(table)))
    return sorted(row for (row,) in cursor.fetchall())


@pytest.mark.django_db(transaction=True)  # pg_dump reads only what is committed
def test_the_demo_backed_up_and_restored_has_every_row_history_entry_trigger_and_constraint(
    tmp_path, fresh
):
    with override_settings(DEBUG=True):
        call_command("demo_data", stdout=StringIO())
    path = tmp_path / "fascia.dump"

    backed_up = run("backup", str(path))
    report = run("restore", str(path), database_url=fresh.url)

    assert "Backup complete" in backed_up
    assert "Restore verified" in report
    manifest = json.loads(backup.manifest_path(path).read_text())
    with connection.cursor() as source, fresh.connect() as target:
        tables = backup._tables(source)
        assert sorted(manifest["tables"]) == tables
        for table in tables:
            assert rows_of(target.cursor(), table) == rows_of(source, table), table
        source.execute("SELECT count(*) FROM treatment_sessions_chartevent")
        assert source.fetchone()[0] > 0, "the demo's charts should have history to restore"
    history = manifest["history_tables"]
    assert {"treatment_sessions_chartevent", "patients_patientevent", "pghistory_context"} <= set(
        history
    )
    for table in history:
        assert f"    {table} " in report  # the report names every history table

    with fresh.connect() as target:
        # A signed chart is still locked by its trigger...
        with pytest.raises(psycopg.errors.CheckViolation, match="The session is signed"):
            target.execute(
                "UPDATE treatment_sessions_chart SET plan = 'changed after signing' "
                "WHERE session_id IN (SELECT id FROM treatment_sessions_treatmentsession "
                "WHERE status = 'signed')"
            )
        # ...a change is still written to the history, with a fresh key...
        events = "SELECT count(*) FROM clinics_clinicevent WHERE pgh_label = 'update'"
        before = target.execute(events).fetchone()[0]
        target.execute("UPDATE clinics_clinic SET phone = '+1 250 555 0199' WHERE name = 'Kelowna'")
        assert target.execute(events).fetchone()[0] == before + 1
        # ...and two sites of one organisation still cannot share a name.
        with pytest.raises(psycopg.errors.UniqueViolation, match="clinic_name_unique"):
            target.execute("UPDATE clinics_clinic SET name = 'Toronto' WHERE name = 'Kelowna'")


@pytest.mark.django_db(transaction=True)
def test_a_backup_taken_while_organisations_sign_up_is_one_moment_and_restores_whole(
    tmp_path, fresh
):
    stop, writing = threading.Event(), threading.Event()

    def sign_up_organisations():
        try:
            number = 0
            while not stop.is_set():
                Organization.objects.create(name=f"Walk-in Physio {number}")
                number += 1
                writing.set()
        finally:
            connection.close()

    writer = threading.Thread(target=sign_up_organisations)
    writer.start()
    path = tmp_path / "busy.dump"
    try:
        assert writing.wait(timeout=10)
        run("backup", str(path))
    finally:
        stop.set()
        writer.join()

    report = run("restore", str(path), database_url=fresh.url)

    assert "Restore verified" in report  # the counts, taken beside pg_dump, agree with its dump
    backed_up = json.loads(backup.manifest_path(path).read_text())["tables"]
    assert 0 < backed_up["clinics_organization"] < Organization.objects.count()
    assert backed_up["clinics_organizationevent"] == backed_up["clinics_organization"]


def test_a_restore_that_finds_other_counts_than_the_backup_says_so_and_fails(copy_of, fresh):
    path = copy_of()
    manifest_file = backup.manifest_path(path)
    manifest = json.loads(manifest_file.read_text())
    manifest["tables"]["clinics_clinic"] += 1
    manifest["triggers"].append("clinics_clinic.pgtrigger_lost_in_the_copy")
    manifest_file.write_text(json.dumps(manifest))

    with pytest.raises(CommandError, match="differs from the backup in 2 ways"):
        run("restore", str(path), database_url=fresh.url)


def test_a_dump_with_one_byte_changed_is_refused_and_nothing_is_restored(copy_of, fresh):
    path = copy_of()
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    path.write_bytes(bytes(damaged))

    with pytest.raises(CommandError, match=f"{path} is damaged: its SHA-256 is"):
        run("restore", str(path), database_url=fresh.url)
    assert fresh.table_count() == 0


def test_a_dump_without_its_manifest_is_refused(copy_of, fresh):
    path = copy_of()
    backup.manifest_path(path).unlink()

    with pytest.raises(CommandError, match="has no manifest beside it"):
        run("restore", str(path), database_url=fresh.url)
    assert fresh.table_count() == 0


def test_a_database_that_is_not_empty_is_refused(copy_of, db):
    with pytest.raises(CommandError, match=r"the target database \S+ is not empty: it has \d+"):
        run("restore", str(copy_of()))  # the configured database: the migrated test database


def test_an_existing_backup_is_not_overwritten_without_force(tmp_path, db):
    path = tmp_path / "nightly.dump"
    path.write_bytes(b"last night's backup")

    with pytest.raises(CommandError, match=f"{path} already exists: .* --force"):
        run("backup", str(path))
    assert path.read_bytes() == b"last night's backup"

    run("backup", str(path), force=True)
    manifest = json.loads(backup.manifest_path(path).read_text())
    assert manifest["sha256"] == backup.sha256_of(path)
    assert sorted(os.listdir(tmp_path)) == ["nightly.dump", "nightly.dump.manifest.json"]
    assert path.stat().st_mode & 0o077 == 0, "a backup holds patient records: owner only"


def test_a_pg_dump_of_another_postgresql_version_is_refused(tmp_path, db):
    # A stand-in that only answers --version, as another installation's pg_dump would.
    other = tmp_path / "bin" / "pg_dump"
    other.parent.mkdir()
    other.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 12.22'\n")
    other.chmod(0o755)
    server_major = connection.cursor().connection.info.server_version // 10000

    with pytest.raises(CommandError) as refusal:
        run("backup", str(tmp_path / "x.dump"), pg_bin=str(other.parent))
    message = str(refusal.value)
    assert f"pg_dump must be of the server's version, PostgreSQL {server_major}" in message
    assert f"{other} is PostgreSQL 12" in message
    assert not list(tmp_path.glob("*.dump*"))
