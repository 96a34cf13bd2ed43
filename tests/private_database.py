"""A PostgreSQL server of a test's own, to stop and start under running Fascia processes.

The suite's server (var/postgres, or the one DATABASE_URL names) serves every test process
and must never be stopped. A test that takes the database away from a web server or a
worker starts one of these, in a temporary directory, with the suite's schema copied in.
tests/config/conftest.py has it as the fixture `private_database`, one per test module:

    def test_...(private_database):
        worker = subprocess.Popen([..., "manage.py", ...], env=private_database.environment())
        private_database.stop()
        ...
        private_database.start()  # at the same address: the processes connect again

Measured on a 2-core machine shared with other work: initdb and start take about 0.7 s,
a restart 0.15 s. Migrating from nothing takes over a minute there, so the schema (and
the rows the migrations make) is copied instead from this test process's own database,
itself a copy of the suite's migrated template: a pg_dump and a psql, about a second.
"""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from django.db import connection as suite_connection
from psycopg.conninfo import make_conninfo

from clinics import database_roles
from config.embedded_db import APP_ROLE, server

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "fascia"
# Set by pytest (the immediate task backend, which the worker refuses) or by a `make test`
# around us (make's jobserver), or naming the suite's database: not for a process of ours.
NOT_PASSED_ON = {"DATABASE_URL", "TASKS_BACKEND", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}


class PrivateDatabase:
    """One embedded server in `data_dir`, serving the database `fascia`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._running: server.RunningServer | None = None

    @property
    def url(self) -> str:
        """The DATABASE_URL that reaches it as the role Fascia runs as; the same after a
        restart."""
        return self._server.app_uri(DATABASE)

    @property
    def owner_url(self) -> str:
        """The DATABASE_OWNER_URL: as the owner of the tables (the server's superuser)."""
        return self._server.uri(DATABASE)

    @property
    def _server(self) -> server.RunningServer:
        if self._running is None:
            raise RuntimeError("the private database was never started")
        return self._running

    @property
    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def start(self) -> None:
        """Start the server (again): same directory, same socket, same URL."""
        self._running = server._start(self.data_dir, DATABASE)

    def stop(self) -> None:
        """Stop the server as an operator would (pg_ctl's fast shutdown): the connections
        of every process using it are closed, and new ones are refused until `start`."""
        if self._running is not None and self.is_running:
            assert self._running.stop(), f"the private database in {self.data_dir} still runs"

    def environment(self, **variables: str) -> dict[str, str]:
        """The environment for a Fascia process that uses this database, and `variables`."""
        passed_on = {name: value for name, value in os.environ.items() if name not in NOT_PASSED_ON}
        return {
            **passed_on,
            "DATABASE_URL": self.url,
            "DATABASE_OWNER_URL": self.owner_url,
            **variables,
        }

    def manage(self, *arguments: str, **variables: str) -> subprocess.CompletedProcess:
        """`manage.py <arguments>` on this database; fails the test if the command fails."""
        done = subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=ROOT,
            env=self.environment(**variables),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done

    def query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        """Rows of one statement, on a connection of the test's own (closed after it), as the
        owner: what an operator sees."""
        with psycopg.connect(self.owner_url, autocommit=True) as connection:
            cursor = connection.execute(sql, parameters)
            return cursor.fetchall() if cursor.description else []

    def copy_schema_of_the_suite(self) -> None:
        """The suite database's tables, triggers, constraints and rows, into this one."""
        suite_connection.ensure_connection()  # the embedded server's address is found here
        settings = suite_connection.settings_dict
        # pytest-django makes the test database only when a collected test asks for it;
        # otherwise this is the developer's own database, which is not to be copied.
        assert settings["NAME"].startswith("test_"), (
            f"no test database to copy (the connection is to {settings['NAME']}): mark the "
            "module's tests with pytest.mark.django_db"
        )
        source = make_conninfo(
            dbname=settings["NAME"],
            user=settings["USER"] or None,
            host=settings["HOST"] or None,
            port=settings["PORT"] or None,
        )
        password = {"PGPASSWORD": settings["PASSWORD"]} if settings["PASSWORD"] else {}
        dump = subprocess.run(
            [
                *(server.BIN_DIR / "pg_dump", "--no-owner", "--no-privileges"),
                *("--enable-row-security", "--dbname", source),
            ],
            # Every organisation's rows, past row-level security (clinics/row_security.py).
            env={**os.environ, **password, "PGOPTIONS": "-c fascia.every_organization=on"},
            capture_output=True,
            timeout=120,
        )
        assert dump.returncode == 0, dump.stderr.decode(errors="replace")
        restore = subprocess.run(
            [
                *(server.BIN_DIR / "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"),
                *("--dbname", self.owner_url),
            ],
            input=dump.stdout,
            capture_output=True,
            timeout=120,
        )
        assert restore.returncode == 0, restore.stderr.decode(errors="replace")
        # The dump leaves out privileges (another server's roles): granted as `migrate` does.
        grants = database_roles.grant_statements(
            role=APP_ROLE, quote=suite_connection.ops.quote_name
        )
        self.query("; ".join(grants))
