"""Row-level security, the second wall between organisations (clinics/row_security.py).

The database refuses another organisation's rows by itself: every tenant table has
forced row-level security, the organisations are set per transaction and never
left on a connection, and with none set a query sees nothing. The matrices of
tests/clinics/test_access_matrix.py (the API and the admin) and
tests/patients/test_page_isolation.py (the pages) run here a second time with
clinics.access's scoping switched off (every queryset unfiltered, every check yes):
the database alone still refuses every cross-organisation read and write.

Only the Kelowna organisation admin tries each route here: row-level security
looks at the organisation, never at the role, and the admin is the one the
access rules would otherwise let furthest.
"""

from types import SimpleNamespace

import psycopg
import pytest
from django.apps import apps
from django.core import mail
from django.db import ProgrammingError, connection, connections, transaction
from django.urls import reverse

from clinics import access, row_security
from clinics.models import Clinic, Membership, Organization
from patients.models import Patient
from tests.clinics.test_access_matrix import (
    ACTION_BODY,
    OTHER_ORGANIZATION_ROWS,
    WRITE_BODY,
    admin_pages,
    api_detail_actions,
    api_detail_routes,
    create_at_another_organisation,
    row_counts,
    snapshot,
)
from tests.conftest import fresh
from tests.organisation_rows import organisation_rows
from tests.patients.factories import PatientFactory
from tests.patients.test_pages import ATTEMPT, page_url, uuid_patterns


@pytest.fixture
def world(module_world, db):
    return fresh(module_world)


@pytest.fixture
def orm_scoping_off(world, monkeypatch):
    """clinics.access lets everything through: only the database stands in the way."""
    snapshot(world)  # the other organisation's rows are made first, through the services

    def everything(user, queryset, action="view", *, emergency=True):
        return queryset.all()

    monkeypatch.setattr(access, "visible_to", everything)
    monkeypatch.setattr(access, "can_at", lambda *args, **kwargs: True)
    monkeypatch.setattr(access, "clinics_for", lambda *args, **kwargs: Clinic.objects.all())
    monkeypatch.setattr(
        access, "organizations_for", lambda *args, **kwargs: Organization.objects.all()
    )


def tenant_tables() -> dict[str, tuple[bool, bool, bool]]:
    """Each table with an organisation: (row security on, forced, Fascia's policy)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, EXISTS ("
            "  SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname AND p.policyname = %s)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r'",
            [row_security.POLICY],
        )
        return {name: tuple(flags) for name, *flags in cursor.fetchall()}


def test_every_table_with_an_organisation_has_forced_row_level_security(db):
    tables = tenant_tables()
    with_organization = {
        model._meta.db_table
        for model in apps.get_models()
        if "organization_id" in {field.column for field in model._meta.concrete_fields}
    } | {Organization._meta.db_table}
    assert {model._meta.db_table for model in access.registered_models()} <= with_organization
    assert "patients_patientevent" in with_organization  # history tables too
    unprotected = [name for name in with_organization if tables[name] != (True, True, True)]
    assert unprotected == []
    # And nothing without an organisation is walled off by mistake (logins, sessions, jobs).
    assert not any(tables["accounts_user"])


def test_with_no_organisation_set_a_query_sees_nothing_and_writes_nothing(world):
    patients = Patient.objects.count()
    assert patients > 0
    with row_security.scope(row_security.NOBODY):
        assert Patient.objects.count() == 0
        assert Organization.objects.count() == 0
        assert Patient.objects.update(first_name="Nobody") == 0
        with pytest.raises(ProgrammingError, match="row-level security"), transaction.atomic():
            PatientFactory(home_clinic=world.kelowna)
    assert Patient.objects.count() == patients
    assert not Patient.objects.filter(first_name="Nobody").exists()


def test_an_organisation_set_sees_its_own_rows_only(world):
    kelowna = row_security.Scope(organizations=frozenset({world.organization.pk}))
    with row_security.scope(kelowna):
        assert set(Organization.objects.values_list("pk", flat=True)) == {world.organization.pk}
        assert not Patient.objects.filter(pk=world.other_record().patient.pk).exists()
        assert Patient.objects.filter(pk=world.kelowna_record().patient.pk).exists()


def test_a_person_sees_the_organisations_of_their_roles_and_records(world):
    ada = world.kelowna_record().patient.user
    for person, reached in (
        (world.therapist, {world.organization.pk}),
        (world.other_admin, {world.other_organization.pk}),
        (ada, {world.organization.pk}),
    ):
        with row_security.scope(row_security.of_user(person)):
            assert set(Organization.objects.values_list("pk", flat=True)) == reached, person


def test_a_request_reads_its_logins_organisations_once_and_anothers_anew(world):
    request = SimpleNamespace(user=world.therapist)
    within = row_security.RequestScope(request)
    assert "fascia_organizations_of" in within.statement()[0]
    with row_security.scope(within):
        assert set(Organization.objects.values_list("pk", flat=True)) == {world.organization.pk}
        # The request's later transactions set the answer as it is.
        assert "fascia_organizations_of" not in within.statement()[0]
        assert set(Organization.objects.values_list("pk", flat=True)) == {world.organization.pk}
        # Someone else logged in within the request: their organisations, asked of the database.
        request.user = world.other_admin
        assert "fascia_organizations_of" in within.statement()[0]
        reached = set(Organization.objects.values_list("pk", flat=True))
        assert reached == {world.other_organization.pk}


def app_role_connection() -> psycopg.Connection:
    """A new connection of the role Fascia runs as, with nothing set: as a pool hands it out."""
    params = {
        key: value
        for key, value in connections["default"].get_connection_params().items()
        if isinstance(value, str | int) and key != "prepare_threshold"
    }
    return psycopg.connect(**params, autocommit=True)


def setting(cursor) -> str:
    cursor.execute("SELECT coalesce(current_setting(%s, true), '')", [row_security.ORGANIZATIONS])
    return cursor.fetchone()[0]


def test_the_organisations_last_for_one_transaction_never_for_the_connection(world):
    kelowna = row_security.Scope(organizations=frozenset({world.organization.pk}))
    with app_role_connection() as raw, raw.cursor() as cursor:
        with raw.transaction():
            cursor.execute(*kelowna.statement())
            assert setting(cursor) == str(world.organization.pk)
        assert setting(cursor) == ""  # committed: the next transaction starts with none
        with pytest.raises(psycopg.errors.DivisionByZero), raw.transaction():
            cursor.execute(*kelowna.statement())
            cursor.execute("SELECT 1 / 0")
        assert setting(cursor) == ""  # rolled back: the same


# --- The access matrix again, with clinics.access's scoping switched off -------------------


@pytest.mark.parametrize(("basename", "model", "methods"), list(api_detail_routes()))
def test_rls_alone_refuses_every_method_on_another_organisations_row(
    world, client_of, orm_scoping_off, basename, model, methods
):
    row = OTHER_ORGANIZATION_ROWS[model](world)
    url = reverse(f"{basename}-detail", kwargs={"pk": row.pk})
    before = snapshot(world)
    client = client_of(world.org_admin)
    for method in methods:
        response = getattr(client, method)(url, WRITE_BODY, content_type="application/json")
        assert response.status_code == 404, (method, response.content)
    listing = client.get(reverse(f"{basename}-list"), {"page_size": 200}).json()
    assert str(row.pk) not in {item["id"] for item in listing["results"]}
    assert snapshot(world) == before


@pytest.mark.parametrize(("basename", "model", "url_name", "method"), list(api_detail_actions()))
def test_rls_alone_refuses_every_action_on_another_organisations_row(
    world,
    client_of,
    orm_scoping_off,
    django_capture_on_commit_callbacks,
    basename,
    model,
    url_name,
    method,
):
    row = OTHER_ORGANIZATION_ROWS[model](world)
    url = reverse(f"{basename}-{url_name}", kwargs={"pk": row.pk})
    before, counts = snapshot(world), row_counts()
    with django_capture_on_commit_callbacks(execute=True):
        response = getattr(client_of(world.org_admin), method)(
            url, ACTION_BODY, content_type="application/json"
        )
    assert response.status_code == 404, response.content
    assert snapshot(world) == before
    assert row_counts() == counts


@pytest.mark.parametrize(("model", "model_admin"), list(admin_pages()))
def test_rls_alone_keeps_the_admin_off_another_organisations_row(
    world, client_of, orm_scoping_off, model, model_admin
):
    row = OTHER_ORGANIZATION_ROWS[model](world)
    info = (model._meta.app_label, model._meta.model_name)
    before = snapshot(world)
    client = client_of(world.org_admin)
    for page in ("change", "delete", "history"):
        url = reverse("admin:{}_{}_{}".format(*info, page), args=[row.pk])
        for method in ("get", "post"):
            response = getattr(client, method)(url, {"name": "Taken over", "post": "yes"})
            assert response.status_code in (302, 404), (page, method)
            if response.status_code == 302:  # the admin's "no such object": back to its index
                assert response.url.startswith(reverse("admin:index")), (page, method)
    changelist = client.get(reverse("admin:{}_{}_changelist".format(*info)))
    assert str(row.pk) not in changelist.content.decode()
    assert snapshot(world) == before


def test_rls_alone_refuses_creating_at_another_organisation(world, client_of, orm_scoping_off):
    memberships = Membership.objects.count()
    for response in create_at_another_organisation(client_of(world.org_admin), world):
        assert response.status_code in (400, 404), response.content
    assert Membership.objects.count() == memberships
    assert not Clinic.objects.filter(name="Annex").exists()


@pytest.mark.parametrize(("name", "kwargs"), list(uuid_patterns()))
def test_rls_alone_opens_no_page_of_another_organisations_record(
    world, client_of, orm_scoping_off, django_capture_on_commit_callbacks, name, kwargs
):
    url = page_url(name, kwargs, world.other_record())
    before = organisation_rows(world.other_organization)
    client = client_of(world.org_admin)
    with django_capture_on_commit_callbacks(execute=True):
        for method in ("get", "post"):
            response = getattr(client, method)(url, ATTEMPT)
            assert response.status_code == 404, (method, response.status_code)
    assert organisation_rows(world.other_organization) == before
    assert mail.outbox == []
