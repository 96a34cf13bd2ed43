"""Every response says Cache-Control: no-store, generated from the URL conf and the API schema.

Every route of the URL conf (pages, portal, admin, account pages, API, health check) is
asked once by GET, and every operation of /api/schema/ once with its own method, as a
person who may see it (the superuser in the admin, Ada Quinn's portal login on the portal,
Kelowna Physio's organisation admin elsewhere) with the ids of real rows: the API fuzz's
seeded world (tests/fuzz/world.py) and its ids, the page isolation matrix's way of filling
a page's ids from a patient's record (tests/patients/test_pages.py). A route added later is
asked without anyone remembering. Besides: what the middleware answers before any view
(HTTPS redirects, the API's 401, Django's 404 and 500) and what views set themselves.
"""

from dataclasses import dataclass

import pytest
import time_machine
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_tasks_db.models import DBTaskResult, get_date_max

from accounts.models import ApiToken
from config.urls import router
from patients.services.merge import merge_patients
from tests.accounts.factories import UserFactory
from tests.fuzz.world import FUZZ_CLOCK, RESOURCES, FuzzWorld, path_segment_before, seed
from tests.patients.factories import PatientFactory
from tests.patients.test_pages import RECORD_IDS


@dataclass
class Route:
    name: str
    """With its namespaces ("patients:detail"); "" for the admin's unnamed catch-all."""
    route: str
    """The pattern, for the failure message."""
    kwargs: list[str]


def url_conf_routes(resolver: URLResolver | None = None, namespace: str = "", prefix: str = ""):
    """Every URLPattern of the URL conf, however deep its includes."""
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_conf_routes(pattern, inner, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            yield Route(
                name=f"{namespace}{pattern.name}" if pattern.name else "",
                route=prefix + str(pattern.pattern),
                kwargs=list(pattern.pattern.regex.groupindex),
            )


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker) -> FuzzWorld:
    """The API fuzz's world, made once for the module and rolled back at its end."""
    with django_db_blocker.unblock(), time_machine.travel(FUZZ_CLOCK), transaction.atomic():
        world = seed()
        world.superuser = UserFactory(email="root@fascia.test", is_superuser=True, is_staff=True)
        # What the seeded world has none of, for the admin's pages and the account's 2FA pages.
        Group.objects.create(name="Reception")
        TOTP.activate(world.world.org_admin, generate_totp_secret())
        RecoveryCodes.activate(world.world.org_admin)
        merge_patients(
            keep=PatientFactory(home_clinic=world.world.kelowna),
            merge_away=PatientFactory(home_clinic=world.world.kelowna),
            by=world.world.org_admin,
            reason="Registered twice",
        )
        DBTaskResult.objects.create(
            args_kwargs={"args": [], "kwargs": {}},
            task_path="aftercare.tasks.catch_up",
            backend_name="default",
            run_after=get_date_max(),
        )
        yield world
        transaction.set_rollback(True)


@pytest.fixture
def people(seeded, db):
    """A logged-in client for each kind of route."""

    def logged_in(user) -> Client:
        # A server error is answered with its page (and its header), not raised here.
        client = Client(raise_request_exception=False)
        client.force_login(user)
        return client

    record = seeded.world.kelowna_record()
    return {
        "admin": logged_in(seeded.superuser),
        "portal": logged_in(record.patient.user),
        "staff": logged_in(seeded.world.org_admin),
    }


def who_asks(route: Route) -> str:
    if route.name.startswith("admin:") or route.route.startswith("admin/"):
        return "admin"
    if route.name.startswith(("portal:", "aftercare_portal:")):
        return "portal"
    return "staff"


API_MODELS = {basename: viewset.queryset.model for _, viewset, basename in router.registry}

CHART_ROWS = {
    "needle-sites": lambda record: record.charted.needle_site,
    "range-of-motion": lambda record: record.charted.range_of_motion,
    "pressure-pain-thresholds": lambda record: record.charted.pressure_pain_threshold,
    "adverse-events": lambda record: record.charted.adverse_event,
}


def first_row(model, world: FuzzWorld):
    row = model._default_manager.order_by("pk").first()
    assert row is not None, f"the seeded world has no {model.__name__}: make one in seeded()"
    return row


def url_of(route: Route, world: FuzzWorld) -> str:
    """`route` with real ids: rows of Ada Quinn's record where a page names one."""
    record = world.world.kelowna_record()
    if not route.name:
        if route.kwargs == ["object_id"]:  # the admin's old address of a row: a redirect
            app_label, model_name = route.route.split("/")[1:3]
            row = first_row(apps.get_model(app_label, model_name), world)
            return "/" + route.route.replace("<path:object_id>", str(row.pk))
        return "/admin/no-such-page/"  # the admin's catch-all
    if route.name == "admin:view_on_site":
        patient = ContentType.objects.get_for_model(record.patient)
        return reverse(route.name, args=[patient.pk, record.patient.pk])
    kwargs = {}
    for name in route.kwargs:
        if name in RECORD_IDS:
            kwargs[name] = RECORD_IDS[name](record)
        elif name == "format":
            kwargs[name] = "json"
        elif name == "clinic_id":
            kwargs[name] = world.world.kelowna.pk
        elif name == "pk" and route.name.startswith("session-"):
            kwargs[name] = record.session.pk
        elif name == "pk" and route.name.startswith("aftercare-plan-"):
            kwargs[name] = record.aftercare.plan.pk
        elif name == "pk":
            basename = max(b for b in API_MODELS if route.name.startswith(f"{b}-"))
            kwargs[name] = world.ids[_resource_of(API_MODELS[basename])][0]
        elif name == "object_id":
            kwargs[name] = first_row(_admin_model(route.name), world).pk
        elif name == "id":  # the admin's password page of a user
            kwargs[name] = world.world.therapist.pk
        elif name == "app_label":
            kwargs[name] = "clinics"
        elif name == "token_id":  # an API token, revoked by an organisation admin
            kwargs[name] = ApiToken.objects.filter(user=world.world.therapist).first().pk
        else:  # an e-mail or invitation link's key: a wrong one gets its own page
            kwargs[name] = "not-a-real-key"
    if route.name.startswith("session-") and "row_id" in kwargs:
        kind = route.name.removeprefix("session-").removesuffix("-detail")
        kwargs["row_id"] = CHART_ROWS[kind](record).pk
    return reverse(route.name, kwargs=kwargs)


def _resource_of(model) -> str:
    return next(segment for segment, resource in RESOURCES.items() if resource is model)


def _admin_model(name: str):
    """The model of an admin page from its URL name: admin:<app>_<model>_<page>."""
    app_model = name.removeprefix("admin:").rsplit("_", 1)[0]
    for model in apps.get_models():
        if f"{model._meta.app_label}_{model._meta.model_name}" == app_model:
            return model
    raise LookupError(f"no model for the admin page {name}")


def stores_nothing(response) -> bool:
    directives = {part.strip().lower() for part in response.get("Cache-Control", "").split(",")}
    return "no-store" in directives


KNOWN_SERVER_ERRORS = {"admin:treatment_sessions_organizationmuscle_change"}
"""Found by this walk, not its subject (their 500 pages must still say no-store): for the
superuser, who may change an organisation's muscle, the admin's form lists the non-editable
`added_at` (sessions/admin.py). And the router's format-suffix routes
(`/api/v1/patients.json`) answer 500 where an action takes no `format` argument; they are
left out of this check. Remove each from here once fixed."""


def test_every_route_of_the_url_conf_answers_no_store(seeded, people):
    routes = list(url_conf_routes())
    assert len(routes) > 400
    stored, failed = [], set()
    for route in routes:
        url = url_of(route, seeded)
        response = people[who_asks(route)].get(url)
        if not stores_nothing(response):
            stored.append(f"{url} ({route.route}): {response.get('Cache-Control')!r}")
        if response.status_code >= 500 and "format" not in route.kwargs:
            failed.add(route.name)
    assert stored == []
    assert failed == KNOWN_SERVER_ERRORS


def schema_operations(client: Client):
    """Every (method, path) of the API's OpenAPI schema; the DELETEs last, so that the rows
    they remove are read by the others first."""
    paths = client.get(reverse("api-schema"), {"format": "json"}).json()["paths"]
    operations = [
        (method, path)
        for path, by_method in paths.items()
        for method in by_method
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    return sorted(operations, key=lambda operation: operation[0] == "delete")


def test_every_operation_of_the_api_schema_answers_no_store(seeded, people):
    client = people["staff"]
    operations = schema_operations(client)
    assert len(operations) > 60
    stored, failed = [], []
    for method, path in operations:
        url = path
        for segment in path.strip("/").split("/"):
            if segment.startswith("{"):
                parameter = segment.strip("{}")
                ids = seeded.ids[path_segment_before(path, parameter)]
                url = url.replace(segment, ids[0])
        response = getattr(client, method)(url, {}, content_type="application/json")
        if not stores_nothing(response):
            stored.append(f"{method.upper()} {url}: {response.get('Cache-Control')!r}")
        if response.status_code >= 500:
            failed.append(f"{method.upper()} {url}: {response.status_code}")
    assert stored == []
    assert failed == []


# --- What no view answers --------------------------------------------------------------


def test_the_apis_401_without_credentials_answers_no_store(client, db):
    response = client.get(reverse("patient-list"))
    assert response.status_code == 401
    assert response["Cache-Control"] == "no-store"


def test_a_page_that_does_not_exist_answers_no_store(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Cache-Control"] == "no-store"


def test_the_redirect_to_https_answers_no_store(client, db):
    with override_settings(SECURE_SSL_REDIRECT=True):
        response = client.get(reverse("patients:list"))
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert response["Cache-Control"] == "no-store"


def test_a_login_redirect_answers_no_store(client, db):
    response = client.get(reverse("patients:list"))
    assert response.status_code == 302
    assert response["Cache-Control"] == "no-store"


def test_the_admins_own_never_cache_header_is_kept(people):
    response = people["admin"].get(reverse("admin:index"))
    assert response.status_code == 200
    directives = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "no-cache", "private"} <= directives


@pytest.mark.filterwarnings("ignore:No directory at")  # STATIC_ROOT: the files come from finders
def test_static_files_keep_their_caching(db):
    whitenoise = [
        *settings.MIDDLEWARE[:3],
        "whitenoise.middleware.WhiteNoiseMiddleware",
        *settings.MIDDLEWARE[3:],
    ]
    with override_settings(MIDDLEWARE=whitenoise, WHITENOISE_USE_FINDERS=True):
        response = Client().get("/static/fascia/fascia.css")
    assert response.status_code == 200
    assert "no-store" not in response["Cache-Control"]
    assert "max-age" in response["Cache-Control"]
