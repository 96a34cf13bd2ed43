"""`make bench`'s floor: a read runs the statements recorded for it and answers their rows
as JSON, a write its one statement, on one connection held across requests."""

import io
import json
import threading
import uuid

import pytest
from django.db import connection

from benchmarks.serving import floor


def request(path: str, method: str = "GET", query: str = "") -> tuple[str, bytes]:
    answered = {}

    def start_response(status, headers):
        answered["status"] = status

    environ = {
        "PATH_INFO": path,
        "REQUEST_METHOD": method,
        "QUERY_STRING": query,
        "wsgi.input": io.BytesIO(),
    }
    body = b"".join(floor.application(environ, start_response))
    return answered["status"], body


@pytest.fixture
def the_floor(db, tmp_path, monkeypatch):
    """The floor on the test database, with its statements in a file, as make bench runs it."""
    settings = connection.settings_dict
    params = connection.get_connection_params()
    url = (
        f"postgresql://{settings['USER']}@/{settings['NAME']}"
        f"?host={params['host']}&port={params['port']}"
    )
    statements = tmp_path / "floor.json"
    statements.write_text(
        json.dumps(
            {
                "numbers": ["SELECT 1 AS one, 'a%' AS text", "SELECT 2 UNION ALL SELECT 3"],
                # A write's recorded statement is the writer's scope, run before it.
                "sign": ["SELECT set_config('fascia.organizations', '', true)"],
            }
        )
    )
    monkeypatch.setenv("FLOOR_DATABASE_URL", url)
    monkeypatch.setenv("FLOOR_STATEMENTS", str(statements))
    monkeypatch.setattr(floor, "_held", threading.local())
    yield
    if getattr(floor._held, "connection", None) is not None:
        floor._held.connection.close()


def test_a_read_answers_the_rows_of_its_statements_over_one_held_connection(the_floor):
    status, body = request("/read/numbers")
    assert status == "200 OK"
    assert json.loads(body) == [[[1, "a%"]], [[2], [3]]]
    held = floor._held.connection
    assert request("/read/numbers")[0] == "200 OK"
    assert floor._held.connection is held


def test_a_path_not_recorded_and_a_write_that_changes_nothing_are_refused(the_floor):
    assert request("/read/elsewhere")[0] == "404 Not Found"
    assert request("/sign")[0] == "404 Not Found"  # a write is a POST
    # No session in progress with this id: nothing signed, and the floor says so.
    status, _ = request("/sign", "POST", f"session={uuid.uuid4()}")
    assert status == "409 Conflict"
    assert request("/healthz")[0] == "200 OK"
