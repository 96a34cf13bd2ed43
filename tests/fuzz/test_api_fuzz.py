"""Every operation of the API, fuzzed from its own schema, as an organisation admin and as a
therapist: no answer is a server error, and every answer is what /api/schema/ says.

Schemathesis reads the schema from the app (Django's WSGI handler, in this process) and
draws requests from it, valid ones and invalid ones; each answer is checked against the
schema (status code, content type, headers, body), and a request sent without the token
must be refused. Requests carry a real API token and run inside the test's transaction,
on the seeded world of world.py: ids in paths, bodies and filters are most often those
of its rows, so a request reaches a record instead of a 404.

Bounded: FASCIA_FUZZ_EXAMPLES requests per operation and role (3 by default, about 25
CPU-seconds in all), the same ones every run (derandomized), so a failure reproduces by
running its test again. Set the variable higher for a deeper run (docs/testing.md).
"""

import os
import uuid

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.fuzz.world import FuzzWorld, path_segment_before

EXAMPLES = int(os.environ.get("FASCIA_FUZZ_EXAMPLES", "3"))


@schemathesis.hook
def before_load_schema(context, raw_schema):
    """Ids in paths are drawn from the seeded rows and unknown UUIDs, never broken: a path
    with anything but a UUID in an id's place is no API URL (docs/api.md, Conventions) and
    gets Django's plain 404 page, not an API answer to check."""
    for operations in raw_schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter["in"] == "path":
                    parameter["schema"].pop("format", None)
                    parameter["schema"].pop("pattern", None)


schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json",
    WSGIHandler(),
    config=schemathesis.Config.from_dict(
        {
            "checks": {
                # A request the schema allows may still be refused by a rule the schema
                # cannot state (no clinic with this id that you can see, a session already
                # signed, a time in the past): a clear 4xx is the right answer to it.
                "positive_data_acceptance": {"enabled": False},
                # The API is lenient with input the way docs/api.md says: unknown query
                # parameters and an empty filter (`?clinic=`) are ignored, a number sent for
                # a text field is taken as its digits, a form body that is no form is an
                # empty one. Invalid requests must still get no 500 and a documented answer.
                "negative_data_rejection": {"enabled": False},
            },
            # The coverage phase sends every boundary value of every field, unbounded (about
            # 2,000 requests for POST /clinics/ alone): the fuzzing phase, bounded, runs.
            "phases": {"coverage": {"enabled": False}},
        }
    ),
)

seeded: FuzzWorld | None = None
"""The world the running test fuzzes (the hooks below draw its ids)."""


def _is_uuid(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _seeded_or_drawn(values, ids_for):
    """`values` with each id replaced, most often, by one of a seeded row's."""
    if not isinstance(values, dict):
        return st.just(values)
    drawn = {}
    for name, value in values.items():
        ids = ids_for(name)
        if ids and _is_uuid(value):
            drawn[name] = st.sampled_from([*ids, value])
        elif ids and isinstance(value, list) and all(map(_is_uuid, value)):
            drawn[name] = st.one_of(st.lists(st.sampled_from(ids), max_size=3), st.just(value))
        else:
            drawn[name] = st.just(value)
    return st.fixed_dictionaries(drawn)


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    if not path_parameters:
        return st.just(path_parameters)
    path = context.operation.path
    as_uuids = {
        name: value if _is_uuid(value) else str(uuid.uuid5(uuid.NAMESPACE_URL, str(value)))
        for name, value in path_parameters.items()
    }
    return _seeded_or_drawn(as_uuids, lambda name: seeded.ids[path_segment_before(path, name)])


@schema.hook
def flatmap_query(context, query):
    return _seeded_or_drawn(query, lambda name: seeded.reference_ids(context.operation.path, name))


@schema.hook
def flatmap_body(context, body):
    return _seeded_or_drawn(body, lambda name: seeded.reference_ids(context.operation.path, name))


@pytest.fixture
def tokens(fuzz_world, requests_inside_the_test_transaction, db) -> dict[str, str]:
    """The personas' API tokens; what they write rolls back after the test."""
    global seeded
    seeded = fuzz_world
    return fuzz_world.tokens


@pytest.fixture(params=["org_admin", "therapist"])
def token(request, tokens) -> str:
    """The API token of the persona the fuzz acts as."""
    return tokens[request.param]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    # All of a test's examples run in its one transaction (a function-scoped fixture), and
    # each is a real request through Django and PostgreSQL.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api(case, token):
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})


# What the fuzz found once, sent again on every run as it was found.


def _sent_as(token: str, method: str, path: str, **request):
    case = schema[path][method].Case(**request)
    return case.call_and_validate(headers={"Authorization": f"Bearer {token}"})


def test_a_question_asked_for_information_only_reads_back_as_documented(tokens, fuzz_world):
    response = _sent_as(
        tokens["org_admin"],
        "POST",
        "/api/v1/screening-questionnaires/",
        body={
            "organization": str(fuzz_world.world.organization.pk),
            "title": "Dry needling screening, short",
            "questions": [{"key": "goals", "text": "What would you like to do again?"}],
        },
        media_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["questions"][0]["contraindication"] == ""


def test_a_chart_template_for_a_session_not_started_is_refused_as_documented(tokens, fuzz_world):
    response = _sent_as(
        tokens["org_admin"],
        "POST",
        "/api/v1/sessions/{id}/chart/template/",
        path_parameters={"id": str(fuzz_world.booked.pk)},
        body={"template": fuzz_world.ids["chart-templates"][0], "version": 1},
        media_type="application/json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "session_state"


def test_a_patient_address_whose_id_is_no_uuid_answers_not_found(tokens):
    response = _sent_as(
        tokens["therapist"],
        "GET",
        "/api/v1/patients/{id}/",
        path_parameters={"id": "0" * 36},
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_body_in_plain_text_is_refused_as_documented(tokens, fuzz_world):
    consent = fuzz_world.ids["consent-signatures"][0]
    case = schema["/api/v1/consent-signatures/{id}/withdraw/"]["POST"].Case(
        path_parameters={"id": consent}, body="I withdraw", media_type="text/plain"
    )
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {tokens['therapist']}", "Content-Type": "text/plain"}
    )
    assert response.status_code == 415


def test_every_id_the_api_takes_names_seeded_rows(fuzz_world):
    """A new endpoint or reference field fails here until world.py seeds its rows:
    fuzzed with random ids only, it would reach nothing but 404s and 400s."""
    missing = []
    for path, operations in schema.raw_schema["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                name = parameter["name"]
                if parameter["in"] == "path" and not fuzz_world.ids.get(
                    path_segment_before(path, name)
                ):
                    missing.append(f"{method.upper()} {path}: path {name}")
                if (
                    parameter["in"] == "query"
                    and parameter["schema"].get("format") == "uuid"
                    and not fuzz_world.reference_ids(path, name)
                ):
                    missing.append(f"{method.upper()} {path}: filter {name}")
            for name in _uuid_fields(operation):
                if not fuzz_world.reference_ids(path, name):
                    missing.append(f"{method.upper()} {path}: field {name}")
    assert missing == []


def _uuid_fields(operation) -> set[str]:
    """The body fields of `operation` that hold ids (alone or in a list)."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return set()
    component = content["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = schema.raw_schema["components"]["schemas"][component].get("properties", {})
    return {
        name
        for name, field in properties.items()
        if "uuid" in (field.get("format"), field.get("items", {}).get("format"))
    }
