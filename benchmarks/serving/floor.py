"""The floor: what answering a path costs with nothing but its SQL and a JSON body.

A WSGI application of a few lines, served by the same server, workers and settings as
Fascia in `make bench`: no framework, no login, no ORM, no templates. Each worker (each
thread, under threaded workers) holds one psycopg connection to the same database,
made when its first request comes, as Fascia's role.

A read path (`GET /read/<name>`) runs, in one transaction, the statements Fascia ran
for the same request, as the benchmark recorded them (FLOOR_STATEMENTS, a JSON file of
{name: [sql, ...]}): first the row-level security scope of the same person, then the
rest less those only a framework needs (its session, the login and its second
factor); the body is every row they returned, as JSON. A write path runs the one
statement that does what Fascia's does (`POST /save-draft` and `POST /sign`, with the
session's id in the query string), on sessions of its own, in the writing therapist's
scope (the first statement recorded for it).
"""

import json
import os
import sys
import threading
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

WRITERS = {"/save-draft": "save_draft", "/sign": "sign"}
"""Each write's path, and the name its statements (the scope) are recorded under."""

_held = threading.local()


def application(environ, start_response):
    if getattr(_held, "connection", None) is None:
        _held.connection = psycopg.connect(os.environ["FLOOR_DATABASE_URL"])
        with open(os.environ["FLOOR_STATEMENTS"], encoding="utf-8") as statements:
            _held.statements = json.load(statements)
    connection, recorded = _held.connection, _held.statements
    path = environ["PATH_INFO"]
    if path == "/healthz":
        return _answer(start_response, "200 OK", b"ok")
    if path.startswith("/read/") and path[6:] in recorded:
        steps = [(statement, None) for statement in recorded[path[6:]]]
    elif path in WRITES and environ["REQUEST_METHOD"] == "POST":
        session = parse_qs(environ.get("QUERY_STRING", "")).get("session", [""])[0]
        steps = [(recorded[WRITERS[path]][0], None), (WRITES[path], [session])]
    else:
        return _answer(start_response, "404 Not Found", b"{}")
    rows = []
    try:
        with connection.transaction(), connection.cursor() as cursor:
            for statement, params in steps:
                cursor.execute(statement, params)
                if cursor.description is not None:
                    rows.append(cursor.fetchall())
    except psycopg.Error as error:
        # Said in the answer (the report shows the first few) and in the server's log.
        print(f"floor: {path}: {error}", file=sys.stderr, flush=True)
        if connection.broken:
            _held.connection = None  # the next request connects again
        return _answer(start_response, "500 Internal Server Error", str(error).encode())
    if path in WRITES and not rows[-1]:
        return _answer(start_response, "409 Conflict", b"{}")
    return _answer(start_response, "200 OK", json.dumps(rows, default=str).encode())


def _answer(start_response, status: str, body: bytes):
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
