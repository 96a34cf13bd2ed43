"""The floor: what answering a path costs with nothing but its SQL and a JSON body.

A WSGI application of a few lines, served by the same gunicorn, workers and settings as
Fascia in `make bench`: no framework, no login, no ORM, no templates. Each worker holds
one psycopg connection to the same database, made when its first request comes.

A read path (`GET /read/<name>`) runs, in one transaction, the statements Fascia ran
for the same request, as the benchmark recorded them (FLOOR_STATEMENTS, a JSON file of
{name: [sql, ...]}), less those only a framework needs (its session, the login and
its second factor); the body is every row they returned, as JSON. A write path runs the
one statement that does what Fascia's does (`POST /save-draft` and `POST /sign`, with
the session's id in the query string), on sessions of its own.
"""

import json
import os
import sys
from urllib.parse import parse_qs

import psycopg

SAVE_DRAFT = """
    UPDATE treatment_sessions_chart
    SET subjective_notes = subjective_notes || ' More.', version = version + 1, updated_at = now()
    WHERE session_id = %s RETURNING session_id, version
"""
SIGN = """
    UPDATE treatment_sessions_treatmentsession
    SET status = 'signed', signed_at = now(), signed_by_id = therapist_id, version = version + 1
    WHERE id = %s AND status = 'in_progress' RETURNING id, status, version
"""
WRITES = {"/save-draft": SAVE_DRAFT, "/sign": SIGN}

_connection: psycopg.Connection | None = None
_statements: dict[str, list[str]] | None = None


def application(environ, start_response):
    global _connection, _statements
    if _connection is None:
        _connection = psycopg.connect(os.environ["FLOOR_DATABASE_URL"])
        # Work for every organisation, as the benchmark's own reads do.
        _connection.execute("SET fascia.every_organization = 'on'")
        _connection.commit()
        with open(os.environ["FLOOR_STATEMENTS"], encoding="utf-8") as statements:
            _statements = json.load(statements)
    path = environ["PATH_INFO"]
    if path == "/healthz":
        return _answer(start_response, "200 OK", b"ok")
    if path.startswith("/read/") and path[6:] in _statements:
        statements, params = _statements[path[6:]], None
    elif path in WRITES and environ["REQUEST_METHOD"] == "POST":
        session = parse_qs(environ.get("QUERY_STRING", "")).get("session", [""])[0]
        statements, params = [WRITES[path]], [session]
    else:
        return _answer(start_response, "404 Not Found", b"{}")
    rows = []
    try:
        with _connection.transaction(), _connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement, params)
                if cursor.description is not None:
                    rows.append(cursor.fetchall())
    except psycopg.Error as error:
        # Said in the answer (the report shows the first few) and in the server's log.
        print(f"floor: {path}: {error}", file=sys.stderr, flush=True)
        if _connection.broken:
            _connection = None  # the next request connects again
        return _answer(start_response, "500 Internal Server Error", str(error).encode())
    if params is not None and not rows[0]:
        return _answer(start_response, "409 Conflict", b"{}")
    return _answer(start_response, "200 OK", json.dumps(rows, default=str).encode())


def _answer(start_response, status: str, body: bytes):
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
