"""`make run` stops within 10 seconds, its embedded database included, however it is stopped.

Real processes, no mocks: `make run SERVE_ONLY=yes` on a data directory of this
module's own (never the checkout's var/postgres, which the suite and a developer's
`make run` use) and a free port, stopped each way it is stopped in practice.
"""

import contextlib
import fcntl
import os
import pty
import shutil
import signal
import socket
import subprocess
import termios
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make") or "/usr/bin/make"
STOP_SECONDS = 10
# Set by pytest (the immediate task backend would make the worker refuse to
# start) or by a `make test` around us (make's jobserver), and PORT we pass.
NOT_PASSED_ON = {"DATABASE_URL", "TASKS_BACKEND", "PORT", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}


def environment(data_dir: Path) -> dict[str, str]:
    passed_on = {name: value for name, value in os.environ.items() if name not in NOT_PASSED_ON}
    return {**passed_on, "DEBUG": "true", "FASCIA_POSTGRES_DIR": str(data_dir)}


def make_run(data_dir: Path, port: int, **popen_options) -> subprocess.Popen:
    """`make run`, in a process group (a session) of its own, as a terminal would start it."""
    return subprocess.Popen(
        # -o: never reinstall the packages here, even if requirements.txt just changed.
        [MAKE, "-o", ".venv/.installed", "run", f"PORT={port}", "SERVE_ONLY=yes"],
        cwd=ROOT,
        env=environment(data_dir),
        start_new_session=True,
        **popen_options,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(make: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert make.poll() is None, "make run ended before it served"
        try:
            # The web server's own health: this database has no tables for the rest.
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/healthz?scope=web", timeout=5
            ) as answer:
                assert answer.status == 200
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"make run did not answer on port {port}")


def processes_of(data_dir: Path) -> list[psutil.Process]:
    """make, the launcher, the web server, the worker, their reloaders, PostgreSQL."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd", "environ"]):
        info = process.info
        ours = (info["environ"] or {}).get("FASCIA_POSTGRES_DIR") == str(data_dir)
        postgres = info["cwd"] == str(data_dir) or str(data_dir) in (info["cmdline"] or [])
        if ours or postgres:
            found.append(process)
    return found


def assert_all_stop_in_time(make: subprocess.Popen, data_dir: Path, since: float) -> None:
    left = processes_of(data_dir)
    while (left or make.poll() is None) and time.monotonic() < since + STOP_SECONDS:
        time.sleep(0.1)
        left = processes_of(data_dir)
    described = [" ".join(process.info["cmdline"] or [])[:120] for process in left]
    print(f"stopped in {time.monotonic() - since:.1f} s")  # shown with -s, or on a failure
    assert make.poll() is not None, f"make run still runs after {STOP_SECONDS} s"
    assert not left, f"still running after {STOP_SECONDS} s: {described}"
    assert not (data_dir / "postmaster.pid").exists(), server_log(data_dir)


def server_log(data_dir: Path) -> str:
    """Why the server may not have stopped: who it thinks still uses it, and its log."""
    users, log = data_dir / ".handle_pids.json", data_dir / "log"
    lines = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
    return f"users: {users.read_text() if users.exists() else None}; log: {lines}"


def kill_what_is_left(data_dir: Path) -> None:
    """After a failure: nothing of a test may outlive it."""
    for process in processes_of(data_dir):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def ignore_sigint():
    """As a script's background job (`make run &` without job control) starts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("signal_number", "to_whole_group", "started_as"),
    [
        pytest.param(signal.SIGINT, True, None, id="sigint-to-the-process-group"),
        # Ignoring SIGINT is inherited: the old recipe's web server never stopped.
        pytest.param(
            signal.SIGINT, True, ignore_sigint, id="sigint-to-the-group-of-a-background-job"
        ),
        pytest.param(signal.SIGTERM, False, None, id="sigterm-to-make-alone"),
        # SIGTERM to the process group: in test_make_run_starts_the_task_worker_again_when_it_dies.
    ],
)
def test_make_run_stops_with_its_database_when_signalled(
    data_dir, tmp_path, signal_number, to_whole_group, started_as
):
    port = free_port()
    log = tmp_path / "make-run.log"
    with log.open("w") as output:
        make = make_run(
            data_dir,
            port,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            preexec_fn=started_as,
        )
    try:
        wait_until_serving(make, port)
        signalled = time.monotonic()
        if to_whole_group:
            os.killpg(make.pid, signal_number)
        else:
            make.send_signal(signal_number)
        assert_all_stop_in_time(make, data_dir, since=signalled)
    finally:
        kill_what_is_left(data_dir)
        make.wait(timeout=STOP_SECONDS)
        print(log.read_text())  # pytest shows it when the test fails


def test_make_run_stops_with_its_database_on_ctrl_c_in_a_terminal(data_dir):
    controller, terminal = pty.openpty()
    port = free_port()

    def take_the_terminal():
        # In its new session make takes the pseudo-terminal as its controlling
        # terminal, and so becomes the foreground process group that ^C signals.
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    make = make_run(
        data_dir,
        port,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        preexec_fn=take_the_terminal,
    )
    os.close(terminal)
    # Read all that is written to the terminal, so that no process blocks on a full one.
    shown = bytearray()
    reader = threading.Thread(target=read_until_closed, args=(controller, shown), daemon=True)
    reader.start()
    try:
        wait_until_serving(make, port)
        signalled = time.monotonic()
        os.write(controller, b"\x03")
        assert_all_stop_in_time(make, data_dir, since=signalled)
        # Make dies of it, as a shell expects; or, when make reaps the recipe (dead of
        # the same ^C) before its own handler runs, it reports the recipe's Interrupt
        # and fails with 2 (GNU make 4.3's own race; seen once).
        assert make.returncode in (-signal.SIGINT, 2)
    finally:
        kill_what_is_left(data_dir)
        make.wait(timeout=STOP_SECONDS)
        reader.join(timeout=STOP_SECONDS)
        os.close(controller)
        print(shown.decode(errors="replace"))  # pytest shows it when the test fails


def read_until_closed(controller: int, shown: bytearray) -> None:
    try:
        while chunk := os.read(controller, 4096):
            shown.extend(chunk)
    except OSError:
        pass  # EIO: every process holding the terminal has ended


def test_make_run_stops_everything_and_fails_when_the_web_server_cannot_start(data_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        make = make_run(
            data_dir,
            taken.getsockname()[1],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            output, _ = make.communicate(timeout=90)
            assert_all_stop_in_time(make, data_dir, since=time.monotonic())
        finally:
            kill_what_is_left(data_dir)
            make.wait(timeout=STOP_SECONDS)
    assert "That port is already in use" in output
    assert "fascia: the web server ended by itself (exit status 1): stopping the rest" in output
    assert make.returncode != 0


def task_workers(data_dir: Path) -> list[psutil.Process]:
    """The worker's processes (its autoreloader and the reloader's child)."""
    return [
        process
        for process in processes_of(data_dir)
        if "manage.py" in " ".join(process.info["cmdline"] or [])
        and "worker" in (process.info["cmdline"] or [])
    ]


def test_make_run_starts_the_task_worker_again_when_it_dies(data_dir, tmp_path):
    """A worker killed is started again, and a SIGTERM to the process group then stops
    everything, the worker started again included (one `make run` for both: each costs
    several seconds of processes starting)."""
    port = free_port()
    log = tmp_path / "make-run.log"
    with log.open("w") as output:
        make = make_run(data_dir, port, stdin=subprocess.DEVNULL, stdout=output, stderr=output)
    try:
        wait_until_serving(make, port)
        deadline = time.monotonic() + 30
        while not (first := task_workers(data_dir)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first, "make run started no task worker"
        for process in first:
            process.kill()
        dead = {process.pid for process in first}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            again = [p for p in task_workers(data_dir) if p.pid not in dead]
            if again:
                break
            time.sleep(0.1)
        assert again, "the task worker was not started again"
        assert make.poll() is None
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/healthz?scope=web", timeout=5
        ) as answer:
            assert answer.status == 200
        signalled = time.monotonic()
        os.killpg(make.pid, signal.SIGTERM)
        assert_all_stop_in_time(make, data_dir, since=signalled)
    finally:
        kill_what_is_left(data_dir)
        make.wait(timeout=STOP_SECONDS)
        print(log.read_text())  # pytest shows it when the test fails
    assert "fascia: the task worker ended by itself" in log.read_text()
    assert "starting it again" in log.read_text()
