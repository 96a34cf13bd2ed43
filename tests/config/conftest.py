import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.config.test_run_stops import ROOT, environment, kill_what_is_left
from tests.private_database import PrivateDatabase


@pytest.fixture(scope="module")
def private_database(
    tmp_path_factory, django_db_setup, django_db_blocker
) -> Iterator[PrivateDatabase]:
    """A PostgreSQL server of the module's own, with the suite's schema, for tests that stop
    and start the database under real processes (tests/private_database.py says how).
    Stopped at the end of the module, however its tests ended."""
    database = PrivateDatabase(tmp_path_factory.mktemp("private") / "postgres")
    database.start()
    try:
        with django_db_blocker.unblock():
            database.copy_schema_of_the_suite()
        yield database
    finally:
        database.stop()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """For `make run` and `make serve` (test_run_stops, test_serve, test_least_privilege): a
    database with the task worker's table, made once for the module, migrated as `make run`
    migrates: by the owner, who then grants the app role.

    Only that table: the worker needs it, the health check needs none, and
    migrating everything would take about 20 seconds.
    """
    path = tmp_path_factory.mktemp("make_run").resolve() / "postgres"
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "django_tasks_database"],
        cwd=ROOT,
        env=environment(path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "Granted the role Fascia runs as its privileges" in migrated.stdout
    yield path
    kill_what_is_left(path)
