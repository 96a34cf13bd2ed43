"""`make bench`: Fascia under its production server beside the floor, on seed_bench's data.

    make seed-bench            # once: the clinic network, in the embedded server's
                               # fascia_bench database (SCALE=0.1 for a smaller one)
    make bench                 # this: about 8 minutes; BENCH_ARGS="--requests 30" for less

It starts Fascia as `make serve` does (gunicorn, 2 sync workers, DEBUG off, the task
worker beside it) and the floor (benchmarks/serving/floor.py) under the same gunicorn
settings, then measures each hot path (`paths.PATHS`) at concurrency 1 and 8 with the
bounded load generator (load.py): rounds of Fascia and of the floor taking turns, so
that a noisy moment falls on both. The logins are made here, as a login would make them
(a session in the database, its cookie sent), for a therapist, the front desk and a
patient of the first clinic; staff have a second factor, as production demands. The
API's limit per user is off (one login makes every request of a path). The writes work
on drafts made here, one per request, for a therapist of another clinic. `--server`
measures gunicorn's gthread workers or granian instead, for both.

It writes benchmarks/results/serving-<date>.json, .md and .svg (report.py), and prints
the table; the servers' logs and the floor's statements are in benchmarks/results/last-run/.
"""

import argparse
import datetime
import json
import os
import platform
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(BASE_DIR))
# The harness reads and prepares with the settings the server runs with.
os.environ["DEBUG"] = "false"
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("ALLOWED_HOSTS", "localhost")
os.environ.setdefault("FASCIA_DATABASE_NAME", "fascia_bench")
# One login makes every request of a path: the API's limit per user would refuse most.
os.environ.setdefault("FASCIA_API_RATE_USER", "off")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.core.management import call_command
from django.db import connection

from benchmarks.serving import explain, load, paths, report
from clinics import database_roles, row_security
from clinics.models import Organization

RESULTS = BASE_DIR / "benchmarks" / "results"
FASCIA_PORT, FLOOR_PORT = 8431, 8432
WORKERS = 2
WARMUP = 10
"""Requests sent before each measured run, not counted: connections, caches, plans."""
SERVERS = ("sync", "gthread", "granian")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="measured per round (c=1)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each, taking turns")
    parser.add_argument("--only", nargs="*", help="these paths only (their names)")
    parser.add_argument(
        "--server",
        choices=SERVERS,
        default="sync",
        help="gunicorn's sync workers (make serve's), its gthread workers (4 threads each), "
        "or granian (when installed by hand: it is not in requirements.txt), for both",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print PostgreSQL's plan of each path's statements instead (explain.py)",
    )
    options = parser.parse_args(argv)
    with row_security.every_organization():
        seeded = Organization.objects.exists()
    if not seeded:
        print(
            f"make bench: the {os.environ['FASCIA_DATABASE_NAME']} database has no data: "
            "run make seed-bench first",
            file=sys.stderr,
        )
        return 2
    # The pages rendered here, before the server starts (which collects them too), name
    # their static files by the manifest: a fresh clone has none yet.
    call_command("collectstatic", "--noinput", verbosity=0)
    _vacuum_new_rows()
    chosen = [path for path in paths.PATHS if not options.only or path.name in options.only]
    # A draft for each write: both concurrencies, their warm-ups, every round.
    per_target = (options.requests * 3 + 2 * WARMUP) * options.rounds
    world = paths.prepare(drafts=per_target if any(path.write for path in chosen) else 0)
    queries = {path.name: world.queries(path) for path in chosen}
    if options.explain:
        return _explain({path.name: queries[path.name] for path in chosen if not path.write})
    # The servers' logs and the floor's statements are kept beside the report.
    kept = RESULTS / "last-run"
    kept.mkdir(parents=True, exist_ok=True)
    statements = kept / "floor.json"
    statements.write_text(json.dumps({name: q.floor for name, q in queries.items()}, indent=1))
    servers = [
        _fascia(options.server, kept / "fascia.log"),
        _floor(options.server, statements, kept / "floor.log"),
    ]
    try:
        _wait_for(FASCIA_PORT, "/healthz", servers[0], kept / "fascia.log")
        _wait_for(FLOOR_PORT, "/healthz", servers[1], kept / "floor.log")
        results = _measure(chosen, world, queries, options)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
    stem = f"serving-{datetime.date.today().isoformat()}"
    stem += "" if options.server == "sync" else f"-{options.server}"
    written = report.write(results, _machine(world, options.server), RESULTS, stem)
    print(written["md"].read_text())
    print(f"Written: {', '.join(str(path.relative_to(BASE_DIR)) for path in written.values())}")
    return 0


VACUUM_AFTER = 100_000
"""Rows added to a table since its last vacuum past which the bench vacuums it first."""


def _vacuum_new_rows() -> None:
    """Vacuum the tables seed_bench just filled, before measuring. Otherwise autovacuum
    does it during the first bench after a seeding (about ten minutes here, reading and
    writing every new page): on 2026-12-07 that run measured Fascia and the floor 1.5 to 2
    times slower than the one after it."""
    with database_roles.as_owner(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE n_ins_since_vacuum > %s "
            "ORDER BY n_ins_since_vacuum DESC",
            [VACUUM_AFTER],
        )
        tables = [name for (name,) in cursor.fetchall()]
        for number, table in enumerate(tables, 1):
            print(f"make bench: vacuuming {table} ({number} of {len(tables)}), once after seeding")
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")


def _explain(queries: dict) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"explain-{datetime.date.today().isoformat()}"
    text = explain.report(queries)
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(explain.dump(queries))
    print(text)
    return 0


def _measure(chosen, world, queries, options) -> list:
    results = []
    for path in chosen:
        world.log_in_again(path.who)
        for concurrency in (1, 8):
            count = options.requests * (1 if concurrency == 1 else 2)
            fascia, floor = [], []
            for round_ in range(options.rounds):
                # Taking turns, and in turn first: a noisy moment falls on both alike.
                order = [("fascia", fascia), ("floor", floor)]
                for target, samples in order if round_ % 2 == 0 else reversed(order):
                    port = FASCIA_PORT if target == "fascia" else FLOOR_PORT
                    samples.append(
                        load.run(
                            "127.0.0.1",
                            port,
                            world.requests(path, target),
                            concurrency=concurrency,
                            count=count,
                            warmup=WARMUP,
                        )
                    )
            result = report.Result(
                path=path.name,
                label=path.label,
                concurrency=concurrency,
                fascia=load.merge(fascia),
                floor=load.merge(floor),
                queries=queries[path.name].count,
            )
            print(
                f"c={concurrency} {path.label:<32} Fascia p50 {report.number(result.fascia.p50)}"
                f" ms, floor {report.number(result.floor.p50)} ms"
                + "".join(
                    f"; {target} errors {sample.errors}: {sample.error_examples[:1]}"
                    for target, sample in (("Fascia", result.fascia), ("floor", result.floor))
                    if sample.errors
                ),
                flush=True,
            )
            results.append(result)
    # The table shows every path at one concurrency, then at the other.
    return sorted(results, key=lambda result: result.concurrency)


def _environment(server: str, **extra: str) -> dict:
    threads = {"GUNICORN_CMD_ARGS": "--worker-class gthread --threads 4"}
    return {
        **os.environ,
        "DEBUG": "false",
        "WEB_CONCURRENCY": str(WORKERS),
        "PYTHONDONTWRITEBYTECODE": "",
        **(threads if server == "gthread" else {}),
        **extra,
    }


def _granian(application: str, port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "granian", "--interface", "wsgi", "--workers", str(WORKERS)),
        *("--host", "127.0.0.1", "--port", str(port), "--no-ws", application),
    ]


def _gunicorn(application: str) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", application]


def _fascia(server: str, log: Path) -> subprocess.Popen:
    """Fascia as `make serve` runs it (with the worker beside it), on the benchmark's
    database; or under granian."""
    if server == "granian":
        command = _granian("config.wsgi:application", FASCIA_PORT)
    else:
        command = [sys.executable, "-m", "config.run", "--production", "--serve-only"]
        command += ["--port", str(FASCIA_PORT)]
    with log.open("wb") as output:
        return subprocess.Popen(  # noqa: S603 (our own commands)
            command, cwd=BASE_DIR, env=_environment(server), stdout=output, stderr=subprocess.STDOUT
        )


def _floor(server: str, statements: Path, log: Path) -> subprocess.Popen:
    from config.embedded_db import server as database

    floor = "benchmarks.serving.floor:application"
    command = _granian(floor, FLOOR_PORT) if server == "granian" else _gunicorn(floor)
    with log.open("wb") as output:
        return subprocess.Popen(  # noqa: S603 (our own commands)
            command,
            cwd=BASE_DIR,
            env=_environment(
                server,
                FASCIA_BIND=f"127.0.0.1:{FLOOR_PORT}",
                FLOOR_DATABASE_URL=database.ensure_running().app_uri(),
                FLOOR_STATEMENTS=str(statements),
            ),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _wait_for(port: int, path: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"make bench: a server stopped at its start:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{port}{path}",
                    headers={"Host": "localhost", "X-Forwarded-Proto": "https"},
                ),
                timeout=5,
            ) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"make bench: no answer on port {port} within 2 minutes:\n{log.read_text()}")


def _machine(world, server: str) -> dict:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgresql": world.server_version,
        "server": {
            "sync": f"gunicorn, {WORKERS} sync workers",
            "gthread": f"gunicorn, {WORKERS} gthread workers of 4 threads",
            "granian": f"granian (WSGI), {WORKERS} workers",
        }[server]
        + ", DEBUG off",
        "data": world.data,
    }


if __name__ == "__main__":
    sys.exit(main())
