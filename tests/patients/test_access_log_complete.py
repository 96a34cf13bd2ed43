"""The access log is complete: every route that answers with a patient's data logs who read it.

Generated, so a new route is covered without anyone remembering: every route of
the URL conf (pages, the portal, the admin of every registered model) is asked
with GET, and every operation of the OpenAPI schema with its own method, each
with the ids of Ada Quinn's record (`kelowna_record()`: one of everything) and as
someone allowed to see it (the organisation admin; Ada's own login on the
portal). An answer carries Ada's data when it holds her surname or her e-mail
address (nobody else in the organisation has either); such an answer must have
written at least one row of the access log for Ada, by that reader.

Routes that answer without a patient's data (sign-in, the clinic's settings)
simply pass. Routes the walk cannot ask are in NOT_WALKED, each with the reason
and where they are tested instead; a new route that cannot be asked fails.

The same walk checks that no answer may be kept by a browser or proxy
(`Cache-Control: no-store`, config/no_store.py); the routes it does not ask for
the log are asked for that alone.
"""

import re
import shutil
import subprocess

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, resolve, reverse
from drf_spectacular.generators import SchemaGenerator

from clinics import access
from patients.models import Patient, RecordRead
from tests.clinics.test_access_matrix import ACTION_BODY, PATIENT_RECORDS, rows_of
from tests.conftest import fresh, import_file_of
from tests.fuzz.world import RESOURCES, path_segment_before
from tests.patients.factories import PatientFactory

NOT_WALKED = {
    # Sign-in, sign-up, password and MFA pages: allauth's, before anyone is known.
    "accounts/",
    # A link's secret: only its hash is stored, so no test can make the link from a
    # row. The invitation shows no record; the check-in link leads to the check-in
    # page (walked: aftercare_portal:check_in).
    "portal/invitation/<str:token>/",
    "portal/aftercare/check-in/<str:token>/",
    # A calendar feed's secret, likewise; the feed shows patients' initials only, never a
    # name (tests/sessions/test_feeds.py).
    "calendar-feeds/<str:secret>.ics",
    # Django admin's own plumbing: a redirect to a row's page (two of them), the index of
    # one app, the logout, and the catch-all that answers 404.
    "admin/r/<path:content_type_id>/<path:object_id>/",
    "(?P<app_label>",
    "admin/logout/",
    "admin/(?P<url>.*)$",
}
"""Routes (by the start of their pattern, or a part of it) the walk does not ask."""


def url_routes(patterns=None, prefix="", namespace=None):
    """Every route of the URL conf: (its pattern, its qualified name, its keyword names)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from url_routes(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = pattern.name and (f"{namespace}:{pattern.name}" if namespace else pattern.name)
            yield prefix + str(pattern.pattern), name, sorted(pattern.pattern.regex.groupindex)


def walked(route: str) -> bool:
    if route.startswith("admin/") and route.endswith("/<path:object_id>/"):
        return False  # the admin's old address of a row's page: a redirect to it
    return not any(route.startswith(part) or part in route for part in NOT_WALKED)


def page_routes():
    """The routes of the URL conf outside the API (the API is walked through its schema)."""
    for route, name, keywords in url_routes():
        if route.startswith("api/") or not walked(route):
            continue
        yield pytest.param(route, name, keywords, id=route)


def schema_operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method in operations:
            yield pytest.param(path, method, id=f"{method.upper()} {path}")


@pytest.fixture
def world(module_world, db):
    """One world for the whole walk (its records are costly); each test's writes roll back."""
    return fresh(module_world)


def row_id_for(model, world, reader):
    """The id of Ada's row of `model` where it is part of a patient's record; else of one the
    reader sees; else of any (the platform's own tables, which the organisation admin is
    refused); else of none."""
    rows = model._default_manager.order_by("pk")
    if model in PATIENT_RECORDS and rows_of(world.kelowna_record(), model).exists():
        return rows_of(world.kelowna_record(), model).first().pk
    if model in access.registered_models():
        rows = access.visible_to(reader, rows)
    row = rows.first()
    return row.pk if row is not None else 0


PAGE_IDS = {
    "clinic_id": lambda record, world: world.kelowna,
    "patient_id": lambda record, world: record.patient,
    "screening_id": lambda record, world: record.screening,
    "consent_id": lambda record, world: record.consent,
    "session_id": lambda record, world: record.session,
    "event_id": lambda record, world: record.charted.adverse_event,
    "alert_id": lambda record, world: record.aftercare.alert,
    "plan_id": lambda record, world: record.aftercare.plan,
    "check_in_id": lambda record, world: record.aftercare.check_in,
    "exercise_id": lambda record, world: record.aftercare.exercise,
    "row_id": lambda record, world: record.charted.needle_site,
    # The record Ada's is compared with before a merge: another Kelowna patient's.
    "other_id": lambda record, world: PatientFactory(home_clinic=world.kelowna),
    # A file on the import page whose one row is a likely duplicate of Ada.
    "file_id": lambda record, world: import_file_of(record.patient),
}

NOBODYS = "00000000-0000-0000-0000-000000000000"
"""The id for a row that is no part of a patient's record (an API token, a security event):
its route answers 404, and no patient's data, whatever it holds."""


def admin_model(name: str):
    """The model of an admin URL name (admin:patients_patient_change)."""
    for model in admin.site._registry:
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if name.startswith(info):
            return model
    raise AssertionError(f"{name}: no registered model")


def page_url(name: str, keywords: list[str], world, reader) -> str:
    record = world.kelowna_record()
    kwargs = {}
    for keyword in keywords:
        if keyword == "object_id":
            kwargs[keyword] = row_id_for(admin_model(name), world, reader)
        elif keyword == "kind":
            kwargs[keyword] = "needle-sites"
        elif keyword in PAGE_IDS:
            kwargs[keyword] = PAGE_IDS[keyword](record, world).pk
        else:
            kwargs[keyword] = NOBODYS
    return reverse(name, kwargs=kwargs)


def reader_of(route: str, world):
    """Someone allowed to see the route: Ada herself on the portal, else the organisation admin
    (every clinic's records, the admin, the organisation's settings)."""
    if route.startswith("portal/"):
        return world.kelowna_record().patient.user
    return world.org_admin


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    if response.get("Content-Type", "").startswith("application/pdf"):
        return pdf_text(response.content)
    return response.content.decode()


def pdf_text(document: bytes) -> str:
    """A PDF's text (poppler's pdftotext, which .ci/run installs)."""
    program = shutil.which("pdftotext")
    assert program, "pdftotext is missing: apt-get install poppler-utils (.ci/run does)"
    return subprocess.run(
        [program, "-", "-"], input=document, capture_output=True, check=True
    ).stdout.decode()


def carries_adas_data(record, response) -> bool:
    text = body_of(response)
    return record.patient.last_name in text or record.patient.email in text


def reads_logged(record, reader) -> int:
    return RecordRead.objects.of_patients([record.patient.pk]).filter(reader=reader).count()


def assert_logged_when_it_carries_her_data(record, reader, before, response, what):
    assert_stored_nowhere(response, what)
    if response.status_code < 400 and carries_adas_data(record, response):
        assert reads_logged(record, reader) > before, f"{what}: Ada's data, no access-log row"


def assert_stored_nowhere(response, what):
    directives = {part.strip().lower() for part in response.get("Cache-Control", "").split(",")}
    assert "no-store" in directives, f"{what}: Cache-Control {response.get('Cache-Control')!r}"


@pytest.mark.parametrize(("route", "name", "keywords"), list(page_routes()))
def test_every_page_with_a_patients_data_logs_who_read_it(world, client_of, route, name, keywords):
    assert name, f"{route}: a route without a name cannot be walked; name it"
    record = world.kelowna_record()
    reader = reader_of(route, world)
    url = page_url(name, keywords, world, reader)
    before = reads_logged(record, reader)
    response = client_of(reader).get(url)
    assert response.status_code < 500, url
    assert_logged_when_it_carries_her_data(record, reader, before, response, url)


@pytest.mark.parametrize(("path", "method"), list(schema_operations()))
def test_every_api_operation_with_a_patients_data_logs_who_read_it(world, client_of, path, method):
    record = world.kelowna_record()
    reader = world.org_admin
    url = path
    for parameter in re.findall(r"{(\w+)}", path):
        model = RESOURCES.get(path_segment_before(path, parameter))
        row_id = NOBODYS if model is None else row_id_for(model, world, reader)
        url = url.replace("{" + parameter + "}", str(row_id))
    before = reads_logged(record, reader)
    response = getattr(client_of(reader), method)(url, ACTION_BODY, content_type="application/json")
    assert response.status_code < 500, url
    assert_logged_when_it_carries_her_data(record, reader, before, response, f"{method} {url}")


def any_url(route: str, name: str | None, keywords: list[str]) -> str:
    """A URL of a route the walk does not ask, with made-up values for its keywords."""
    if not name:
        return "/" + re.sub(r"\(\?P<\w+>[^)]*\)|<[^>]+>", "1", route).replace("^", "").rstrip("$")
    for value in ("not-a-real-key", NOBODYS, "1", "clinics"):
        try:
            return reverse(name, kwargs=dict.fromkeys(keywords, value))
        except NoReverseMatch:
            continue
    raise AssertionError(f"{route}: no URL can be made for it")


def test_the_routes_not_walked_for_the_log_store_nothing_either(world, client_of):
    asked = 0
    for route, name, keywords in url_routes():
        if walked(route) and not (route.startswith("admin/") and route.endswith("object_id>/")):
            continue
        url = any_url(route, name, keywords)
        for client in (Client(), client_of(world.org_admin)):
            assert_stored_nowhere(client.get(url), url)
        asked += 1
    assert asked > 20


def test_the_schema_walk_reaches_every_api_route_of_the_url_conf():
    in_the_schema = set()
    for param in schema_operations():
        path = re.sub(r"{\w+}", "00000000-0000-0000-0000-000000000000", param.values[0])
        in_the_schema.add(resolve(path).url_name)
    in_the_url_conf = {
        name
        for route, name, _ in url_routes()
        if route.startswith("api/v1/") and walked(route) and name != "api-root"
    }
    assert in_the_url_conf - in_the_schema == set()


def test_the_walk_finds_ada_on_lists_records_the_admin_and_the_portal(world):
    """A sanity check of the walk itself: its routes include those known to show Ada."""
    routes = {param.values[1] for param in page_routes()}
    assert {"patients:list", "patients:detail", "portal:record"} <= routes
    assert "admin:patients_patient_changelist" in routes
    assert Patient in PATIENT_RECORDS


@pytest.mark.parametrize(
    ("route", "name", "keywords"),
    [
        param
        for param in page_routes()
        if param.values[1]
        in {"patients:detail", "portal:record", "admin:patients_patient_change", "patients:list"}
    ],
)
def test_the_walk_sees_adas_data_where_it_is_known_to_be(world, client_of, route, name, keywords):
    """The walk passes a route whose answer holds none of Ada's data: here, where it must hold
    some, it does (her ids fill the address, her reader is let in, her name is found)."""
    record = world.kelowna_record()
    reader = reader_of(route, world)
    response = client_of(reader).get(page_url(name, keywords, world, reader))
    assert response.status_code == 200, route
    assert carries_adas_data(record, response), route
