"""`make run` (the local demo) and `make serve` (as in production), started and stopped by one
process.

`python -m config.run` starts the embedded PostgreSQL server (unless
DATABASE_URL names another), applies the migrations and loads the demo data,
then runs the development server and the task worker (`manage.py worker`) as
its children until Ctrl-C, SIGTERM or SIGHUP. With `--production` (`make
serve`) it collects the static files instead of loading the demo, and the web
server is gunicorn (config/gunicorn.py) with DEBUG off. It then stops the children
(SIGTERM, and SIGKILL for any still running after a few seconds) and, last,
the database. A task worker that dies is started again (five times a minute
at most); when the web server ends by itself, the rest is stopped and the exit
status is 1.

Why one process rather than a shell recipe:
- a shell waiting for its foreground command runs its traps only once that
  command ends, so SIGTERM passed on by make stopped nothing;
- started in the background by a script, every process inherits SIGINT as
  ignored: the worker, which sets its own handler, stopped and the development
  server never did. The handlers set here give the children SIGINT back;
- Django's autoreloader kills its child outright when it is signalled, so the
  child never takes itself off the embedded server's list of users, and the
  server outlived them all. Here the database is stopped after the children,
  once the users that died are forgotten;
- a child still starting up when the database had stopped (a reloader's child
  is killed and started at odd moments) started the embedded server again and
  left it running. The children are given the address of the server started
  here (DATABASE_URL), so only this process ever starts or stops it.

The children log in as the embedded server's two roles: the web server, the worker
and the demo data as the role Fascia runs as, which owns nothing (DATABASE_URL); the
migrations as the owner of the tables (DATABASE_OWNER_URL, which `migrate` uses).
"""

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from config.environment import ConfigurationError

BASE_DIR = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
MARK = "FASCIA_RUN_LAUNCHER"  # in the environment of all it starts: this process's id
# Well inside the 10 seconds `make run` has to stop in, database included.
GRACE_SECONDS = 5
POLL_SECONDS = 0.1
# The task worker is started again when it dies, unless it keeps dying: then
# something is wrong that a restart will not mend, and it is said.
RESTARTED = "task worker"
RESTARTS_IN_WINDOW, RESTART_WINDOW = 5, 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m config.run",
        description="Serve Fascia with its task worker and database: for local development, "
        "or as in production (--production).",
    )
    parser.add_argument("--port", default="8000", help="the web server's port (default 8000)")
    parser.add_argument(
        "--serve-only",
        action="store_true",
        help="skip the migrations and the demo data: start the database and serve",
    )
    parser.add_argument(
        "--production",
        action="store_true",
        help="serve as in production (`make serve`): gunicorn with DEBUG off, static files "
        "collected and served by Fascia, no demo data",
    )
    options = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if options.production:
        _production_defaults()

    children = Children(production=options.production)
    for signum in STOP_SIGNALS:
        signal.signal(signum, children.ask_to_stop)
    try:
        database = _start_database()
    except ConfigurationError as error:
        _say(str(error))
        return 1
    if database is not None:
        children.database_urls = {
            "DATABASE_URL": database.app_uri(),
            "DATABASE_OWNER_URL": database.uri(),
        }
    steps = [] if options.serve_only else [("migrations", [*MANAGE, "migrate", "--noinput"])]
    if options.production:
        # Every start, as after an upgrade: pages fail on a file missing from var/static.
        steps.append(("static files", [*MANAGE, "collectstatic", "--noinput", "--verbosity=0"]))
        web = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(BASE_DIR / "config" / "gunicorn.py"),
        ]
        os.environ["PORT"] = options.port
    else:
        if not options.serve_only:
            steps.append(("demo data", [*MANAGE, "demo_data"]))
        web = [*MANAGE, "runserver", f"127.0.0.1:{options.port}"]
    services = [
        ("web server", web),
        # The web server runs the system checks; the worker and its reloader
        # running them again would only slow the start.
        ("task worker", [*MANAGE, "worker", "--interval", "5", "--skip-checks"]),
    ]
    try:
        status = children.run(steps, services)
    finally:
        children.stop()
        if database is not None:
            _stop_database(database)
    if children.stop_signal is not None:
        # End by the signal itself, as a shell or make expects of an interrupted command.
        signal.signal(children.stop_signal, signal.SIG_DFL)
        os.kill(os.getpid(), children.stop_signal)
    return status


class Children:
    """The commands `make run` runs, and the signal that asked them to stop."""

    def __init__(self, *, production: bool = False) -> None:
        self.production = production
        self.stop_signal: int | None = None
        self.database_urls: dict[str, str] = {}
        self.running: dict[str, subprocess.Popen] = {}

    def ask_to_stop(self, signum: int, frame: object) -> None:
        # Only noted: the main loop acts on it. make passes SIGTERM on, so a
        # SIGTERM to the whole process group arrives twice.
        if self.stop_signal is None:
            self.stop_signal = signum

    def run(self, steps: list, services: list) -> int:
        """Each step to its end, then the services until a stop is asked (0) or one ends (1)."""
        for name, arguments in steps:
            if self.stop_signal is not None:
                return 0
            self.running[name] = self._start(arguments)
            ended = self._wait_for_one()
            if ended is None:
                return 0
            if ended[1] != 0:
                _say(f"the {name} failed ({_exit_status(ended[1])})")
                return 1
        if self.stop_signal is not None:
            return 0
        for name, arguments in services:
            self.running[name] = self._start(arguments)
        restarts: list[float] = []
        while True:
            ended = self._wait_for_one()
            if ended is None:
                return 0
            name, status = ended
            recent = [when for when in restarts if time.monotonic() - when < RESTART_WINDOW]
            if name != RESTARTED or len(recent) >= RESTARTS_IN_WINDOW:
                _say(f"the {name} ended by itself ({_exit_status(status)}): stopping the rest")
                return 1
            # Check-ins and urgent-alert escalations stop while no worker runs.
            _say(f"the {name} ended by itself ({_exit_status(status)}): starting it again")
            restarts = [*recent, time.monotonic()]
            self.running[name] = self._start(dict(services)[name])

    def _wait_for_one(self) -> tuple[str, int] | None:
        """The first child to end, with its exit status; None when a stop is asked first."""
        while self.stop_signal is None:
            for name, child in self.running.items():
                status = child.poll()
                if status is not None:
                    del self.running[name]
                    # It may have ended of the very signal that asks us to stop.
                    return None if self.stop_signal is not None else (name, status)
            time.sleep(POLL_SECONDS)
        return None

    def stop(self) -> None:
        """Stop all that was started here: SIGTERM, then SIGKILL after GRACE_SECONDS."""
        left = self._started()
        if not left:
            return
        if self.running:
            _say(f"stopping the {' and the '.join(self.running)}")
        began = time.monotonic()
        asked: set[int] = set()
        while left and time.monotonic() < began + GRACE_SECONDS:
            ask = self._first_to_ask(left) if time.monotonic() < began + 1 else left
            _send([process for process in ask if process.pid not in asked], signal.SIGTERM)
            asked.update(process.pid for process in ask)
            time.sleep(POLL_SECONDS)
            left = self._started()
        if left:
            _say(f"killing what did not stop within {GRACE_SECONDS} seconds")
            _send(left, signal.SIGKILL)
            until = time.monotonic() + 1
            while left and time.monotonic() < until:
                time.sleep(POLL_SECONDS)
                left = self._started()
        self.running.clear()

    def _first_to_ask(self, left: list[psutil.Process]) -> list[psutil.Process]:
        if self.production:
            # gunicorn's master stops its workers itself; a worker stopped under it would
            # only be replaced.
            ours = {child.pid for child in self.running.values()}
            return [process for process in left if process.pid in ours]
        # The autoreloader's child first: signalled, its parent kills it outright, so the
        # parent is asked only a second later.
        parents = {process.info["ppid"] for process in left}
        return [process for process in left if process.pid not in parents]

    def _start(self, command: list[str]) -> subprocess.Popen:
        # Marked, so that every process started from here is found when stopping,
        # even one whose parent died and left it to init.
        environment = {**os.environ, MARK: str(os.getpid()), **self.database_urls}
        # Our own Python and manage.py, with arguments fixed here.
        return subprocess.Popen(command, cwd=BASE_DIR, env=environment)  # noqa: S603

    def _started(self) -> list[psutil.Process]:
        """The live processes started from here, however deep."""
        for child in self.running.values():
            child.poll()  # reap our own children, so that they do not linger as zombies
        mark = str(os.getpid())
        return [
            process
            for process in psutil.process_iter(["ppid", "status", "environ"])
            if process.info["status"] != psutil.STATUS_ZOMBIE
            and (process.info["environ"] or {}).get(MARK) == mark
        ]


def _production_defaults() -> None:
    """What production requires and a machine of one's own may leave unset: a secret key
    kept in var/ (made once, read only by its owner, the same at every start so that logins
    outlive a restart) and the local host names. Set in the environment, they win."""
    if not os.environ.get("SECRET_KEY"):
        key_file = BASE_DIR / "var" / "secret_key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as written:
                written.write(secrets.token_urlsafe(50))
        os.environ["SECRET_KEY"] = key_file.read_text().strip()
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")


def _start_database():
    """The embedded server, started here so that it outlives every child; None with DATABASE_URL."""
    from django.conf import settings

    from config.embedded_db import server

    if settings.DATABASES["default"]["ENGINE"] != "config.embedded_db":
        return None
    return server.ensure_running()


def _stop_database(database) -> None:
    if database.stop():
        _say("stopped the embedded PostgreSQL server")
    else:
        _say("the embedded PostgreSQL server runs on: another process of this checkout uses it")


def _send(processes: list[psutil.Process], signum: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signum)


def _exit_status(status: int) -> str:
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    return f"exit status {status}"


def _say(message: str) -> None:
    # After SIGHUP the terminal may be gone: stopping matters more than saying so.
    with contextlib.suppress(OSError):
        print(f"fascia: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
