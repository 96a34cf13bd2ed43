"""The embedded PostgreSQL server: from nothing, and the one-line refusals."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from config.embedded_db import server
from config.environment import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


def test_the_suite_runs_on_postgresql(db):
    from django.db import connection

    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        assert cursor.fetchone()[0].startswith(server.BUNDLED_MAJOR)


def test_embedded_server_starts_from_an_empty_directory_and_creates_the_database(tmp_path):
    data_dir = tmp_path / "postgres"
    running = server._start(data_dir, "clinic_records")
    try:
        assert (data_dir / "PG_VERSION").read_text().strip() == server.BUNDLED_MAJOR
        with psycopg.connect(running.uri("clinic_records")) as connection:
            connection.execute("CREATE TABLE seen (id int)")
            connection.execute("INSERT INTO seen VALUES (1)")
            assert connection.execute("SELECT count(*) FROM seen").fetchone() == (1,)
    finally:
        running.stop()
    assert not (data_dir / "postmaster.pid").exists()


def test_data_of_another_postgresql_version_is_refused_in_one_line(tmp_path):
    data_dir = tmp_path / "postgres"
    data_dir.mkdir()
    (data_dir / "PG_VERSION").write_text("15\n")
    with pytest.raises(ConfigurationError) as refusal:
        server._start(data_dir, "fascia")
    message = str(refusal.value)
    assert "holds PostgreSQL 15 data" in message
    assert "\n" not in message


def test_a_data_directory_held_by_another_server_is_refused_in_one_line(tmp_path):
    data_dir = tmp_path / "postgres"
    data_dir.mkdir()
    (data_dir / "PG_VERSION").write_text(f"{server.BUNDLED_MAJOR}\n")
    foreign_postgres = tmp_path / "postgres-bin" / "postgres"  # another installation's server
    foreign_postgres.parent.mkdir()
    shutil.copy("/bin/sleep", foreign_postgres)
    holder = subprocess.Popen([foreign_postgres, "30"])
    try:
        (data_dir / "postmaster.pid").write_text(f"{holder.pid}\n{data_dir}\n")
        with pytest.raises(ConfigurationError) as refusal:
            server._start(data_dir, "fascia")
    finally:
        holder.kill()
        holder.wait()
    message = str(refusal.value)
    assert f"is held by another server (process {holder.pid}" in message
    assert "\n" not in message


def test_a_stale_pid_file_whose_pid_was_reused_does_not_stop_the_start(tmp_path):
    data_dir = tmp_path / "postgres"
    server._start(data_dir, "fascia").stop()
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (data_dir / "postmaster.pid").write_text(f"{unrelated.pid}\n{data_dir}\n")
        running = server._start(data_dir, "fascia")
        with psycopg.connect(running.uri()) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
        running.stop()
    finally:
        unrelated.kill()
        unrelated.wait()


def test_with_database_url_fascia_uses_that_server(tmp_path):
    """Pointing Fascia at an existing server: here, a second one started for the test."""
    existing = server._start(tmp_path / "existing", "clinic_db")
    try:
        url = f"postgresql://postgres@/clinic_db?host={existing.socket_dir}&port={existing.port}"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "clinics"],
            cwd=ROOT,
            env={**env, "DEBUG": "true", "DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        with psycopg.connect(existing.uri("clinic_db")) as connection:
            tables = connection.execute(
                "SELECT count(*) FROM pg_tables WHERE tablename = 'clinics_clinic'"
            ).fetchone()
        assert tables == (1,)
    finally:
        existing.stop()


def test_processes_starting_at_once_on_a_new_checkout_all_get_the_database(tmp_path):
    """Test workers on a fresh clone: one of them creates the database, none fails.

    (They also race to make the data directory, in a window of microseconds that
    a test cannot aim at: a fresh clone's `make test` found it.)
    """
    data_dir = tmp_path / "postgres"
    running = server._start(data_dir, "fascia")
    go = tmp_path / "go"
    joining = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from config.embedded_db import server\n"
        "while not Path(sys.argv[1]).exists(): time.sleep(0.001)\n"
        "server.ensure_running(Path(sys.argv[2]), 'clinic_records')\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", joining, str(go), str(data_dir)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        go.touch()
        failures = [p.communicate(timeout=60)[1] for p in processes if p.wait(timeout=60) != 0]
        assert failures == []
        with psycopg.connect(running.uri("clinic_records")) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    finally:
        for process in processes:
            process.kill()
            process.wait()
        running.stop()


def test_the_server_held_open_for_other_tools_answers_and_stops_on_sigterm(tmp_path):
    """`python -m config.embedded_db`: how a run under faketime reaches the database."""
    data_dir = tmp_path / "postgres"
    holder = subprocess.Popen(
        [sys.executable, "-m", "config.embedded_db"],
        cwd=ROOT,
        env={**os.environ, "FASCIA_POSTGRES_DIR": str(data_dir)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = holder.stdout.readline().strip()
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT current_database()").fetchone() == ("fascia",)
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(timeout=10) == 0
    finally:
        holder.kill()
        holder.wait()
    assert not (data_dir / "postmaster.pid").exists()


def test_fascia_database_name_names_another_database_on_the_same_server(tmp_path, monkeypatch):
    """make bench's data (FASCIA_DATABASE_NAME=fascia_bench) sits beside the demo's."""
    data_dir = tmp_path / "postgres"
    running = server._start(data_dir, "fascia")
    try:
        monkeypatch.setitem(server._running, data_dir.resolve(), running)
        monkeypatch.setenv("FASCIA_DATABASE_NAME", "fascia_bench")
        assert server.ensure_running(data_dir) is running
        assert running.app_uri().split("?")[0].endswith("/fascia_bench")
        with psycopg.connect(running.uri("postgres")) as connection:
            names = connection.execute("SELECT datname FROM pg_database").fetchall()
        assert {("fascia",), ("fascia_bench",)} <= set(names)
    finally:
        running.stop()
