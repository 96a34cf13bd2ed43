"""`make serve`: Fascia as in production, gunicorn with DEBUG off, stopped with its database.

Real processes, as in test_run_stops.py: `make serve SERVE_ONLY=yes` on a data
directory of this module's own (only the task worker's table migrated) and a free
port. What production promises is asked of the running server over HTTP.
"""

import os
import signal
import stat
import subprocess
import time
import urllib.error
import urllib.request

from config import run
from tests.config.test_run_stops import (
    MAKE,
    ROOT,
    assert_all_stop_in_time,
    environment,
    free_port,
    kill_what_is_left,
    processes_of,
    wait_until_serving,
)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(port: int, path: str, **headers) -> tuple[int, dict, bytes]:
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_make_serve_runs_gunicorn_as_in_production_and_stops_with_its_database(data_dir, tmp_path):
    port = free_port()
    log = tmp_path / "make-serve.log"
    # A key of the test's own: without one, make serve keeps one in the checkout's var/.
    env = {**environment(data_dir), "SECRET_KEY": "a-key-for-this-test-" + "x" * 40}
    del env["DEBUG"]  # make serve sets it off, whatever the environment says
    with log.open("w") as output:
        make = subprocess.Popen(
            [MAKE, "-o", ".venv/.installed", "serve", f"PORT={port}", "SERVE_ONLY=yes"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
    try:
        wait_until_serving(make, port)
        web = [p for p in processes_of(data_dir) if "gunicorn" in " ".join(p.cmdline())]
        masters = [p for p in web if p.ppid() not in {each.pid for each in web}]
        assert len(masters) == 1, [p.cmdline() for p in web]
        assert len(masters[0].children()) == 2  # WEB_CONCURRENCY's default: one per core

        # DEBUG is off: plain HTTP is sent to HTTPS, and a page behind the proxy is served
        # with production's headers.
        status, headers, _ = fetch(port, "/accounts/login/")
        assert status == 301
        assert headers["Location"] == f"https://127.0.0.1:{port}/accounts/login/"
        status, headers, body = fetch(port, "/accounts/login/", **{"X-Forwarded-Proto": "https"})
        assert status == 200
        assert "max-age=31536000" in headers["Strict-Transport-Security"]
        # Static files were collected with their content's hash in the name, and Fascia
        # serves them itself, to be kept for good.
        name = body.decode().split('href="/static/fascia/fascia.')[1].split('"')[0]
        assert name.endswith(".css") and len(name) > len("css") + 8
        status, headers, css = fetch(
            port, f"/static/fascia/fascia.{name}", **{"X-Forwarded-Proto": "https"}
        )
        assert status == 200 and b"{" in css
        assert "immutable" in headers["Cache-Control"]
        status, _, _ = fetch(port, "/static/fascia/missing.css", **{"X-Forwarded-Proto": "https"})
        assert status == 404

        signalled = time.monotonic()
        make.send_signal(signal.SIGTERM)
        assert_all_stop_in_time(make, data_dir, since=signalled)
        assert '"GET /accounts/login/ HTTP/1.1" 200' in log.read_text()  # gunicorn's log
    finally:
        kill_what_is_left(data_dir)
        make.wait(timeout=10)
        print(log.read_text())  # pytest shows it when the test fails


def test_a_secret_key_is_made_once_and_kept_unless_one_is_set(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "BASE_DIR", tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("ALLOWED_HOSTS", raising=False)
    run._production_defaults()
    key_file = tmp_path / "var" / "secret_key"
    made = os.environ["SECRET_KEY"]
    assert len(made) >= 50 and key_file.read_text() == made
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # its owner's only
    assert os.environ["ALLOWED_HOSTS"] == "127.0.0.1,localhost"

    monkeypatch.delenv("SECRET_KEY")
    run._production_defaults()
    assert os.environ["SECRET_KEY"] == made  # the same after a restart: logins outlive it

    monkeypatch.setenv("SECRET_KEY", "the-operators-own")
    monkeypatch.setenv("ALLOWED_HOSTS", "fascia.example.org")
    run._production_defaults()
    assert os.environ["SECRET_KEY"] == "the-operators-own"
    assert os.environ["ALLOWED_HOSTS"] == "fascia.example.org"
