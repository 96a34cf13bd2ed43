"""/healthz answers 200 when the database answers and 503 when it does not."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_is_200_when_the_database_answers(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert Client().head("/healthz").status_code == 200  # probes often send HEAD


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthz_is_503_from_a_real_server_whose_database_is_gone():
    closed_port = free_port()  # nothing listens there
    port = free_port()
    env = dict(
        os.environ,
        DEBUG="true",
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{closed_port}/fascia",
        DATABASE_POOL_TIMEOUT="1",
    )
    # A plain WSGI server: runserver itself refuses to start without its database.
    serve = (
        "from wsgiref.simple_server import make_server; from config.wsgi import application; "
        f"make_server('127.0.0.1', {port}, application).serve_forever()"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", serve],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        status = None
        deadline = time.monotonic() + 30
        while status is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10)
                status = 200
            except urllib.error.HTTPError as answer:
                status = answer.code
            except OSError:
                time.sleep(0.2)
        assert status == 503
    finally:
        server.terminate()
        server.wait(timeout=10)
