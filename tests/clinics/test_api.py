"""The API for clinics and staff roles, through real HTTP requests."""

import threading

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinics.models import Clinic, Membership, Role
from tests.accounts.factories import api_token_for
from tests.clinics.factories import ClinicFactory
from tests.processes import race


def ids(response) -> set[str]:
    return {item["id"] for item in response.json()["results"]}


def test_anonymous_requests_are_asked_to_authenticate():
    response = Client().get(reverse("clinic-list"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {
        "detail": "Log in, or send a token: Authorization: Bearer <token>.",
        "code": "not_authenticated",
        "fields": {},
    }


def test_a_bearer_token_authenticates(world):
    token = api_token_for(world.therapist)
    response = Client().get(reverse("api-me"), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["email"] == world.therapist.email
    assert response.json()["roles"] == [
        {
            "organization": str(world.organization.pk),
            "clinic": str(world.kelowna.pk),
            "role": "therapist",
        }
    ]


def test_each_role_lists_the_clinics_it_works_at(world, client_of):
    assert ids(client_of(world.org_admin).get(reverse("clinic-list"))) == {
        str(world.kelowna.pk),
        str(world.vernon.pk),
    }
    for person in (world.manager, world.therapist, world.front_desk):
        assert ids(client_of(person).get(reverse("clinic-list"))) == {str(world.kelowna.pk)}
    assert ids(client_of(world.other_admin).get(reverse("clinic-list"))) == {str(world.halifax.pk)}


def test_lists_are_paginated_and_cost_a_fixed_number_of_queries(world, client_of):
    client = client_of(world.org_admin)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("staff-role-list"))
    with CaptureQueriesContext(connection) as few_clinics:
        client.get(reverse("clinic-list"))
    for number in range(6):
        ClinicFactory(organization=world.organization, name=f"Extra {number}")
    for clinic in world.organization.clinics.all():
        Membership.objects.create(
            organization=world.organization,
            clinic=clinic,
            user=world.vernon_therapist,
            role=Role.FRONT_DESK,
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("staff-role-list"), {"page_size": 5})
    assert len(many) == len(few)
    body = response.json()
    assert body["count"] == 5 + 8
    assert len(body["results"]) == 5
    assert body["next"].endswith("page=2&page_size=5")
    with CaptureQueriesContext(connection) as many_clinics:
        client.get(reverse("clinic-list"))
    assert len(many_clinics) == len(few_clinics)


def test_an_org_admin_adds_a_clinic_and_bad_fields_are_named(world, client_of):
    client = client_of(world.org_admin)
    response = client.post(
        reverse("clinic-list"),
        {
            "organization": str(world.organization.pk),
            "name": "Penticton",
            "phone": "12",
            "timezone": "Nowhere/Special",
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["fields"]) == {"phone", "timezone"}
    assert body["detail"].startswith("phone: Enter a phone number of 7 to 25 digits")
    response = client.post(
        reverse("clinic-list"),
        {
            "organization": str(world.organization.pk),
            "name": "Penticton",
            "phone": "+1 250 555 0123",
            "timezone": "America/Vancouver",
        },
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["name"] == "Penticton"


def test_a_therapist_reads_their_clinic_but_cannot_change_it(world, client_of):
    client = client_of(world.therapist)
    url = reverse("clinic-detail", args=[world.kelowna.pk])
    assert client.get(url).json()["name"] == "Kelowna"
    response = client.patch(url, {"name": "Mine"}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["detail"] == "Your role does not allow you to change this clinic."
    world.kelowna.refresh_from_db()
    assert world.kelowna.name == "Kelowna"


def test_a_manager_renames_their_clinic_and_cannot_move_it_to_another_organisation(
    world, client_of
):
    response = client_of(world.manager).patch(
        reverse("clinic-detail", args=[world.kelowna.pk]),
        {"name": "Kelowna Downtown", "organization": str(world.other_organization.pk)},
        content_type="application/json",
    )
    assert response.status_code == 200
    world.kelowna.refresh_from_db()
    assert world.kelowna.name == "Kelowna Downtown"
    assert world.kelowna.organization == world.organization


def test_granting_a_staff_role_through_the_api(world, client_of):
    client = client_of(world.manager)
    grant = {
        "organization": str(world.organization.pk),
        "clinic": str(world.kelowna.pk),
        "role": "therapist",
        "email": "new@kelowna.test",
        "full_name": "Neil New",
    }
    response = client.post(reverse("staff-role-list"), grant, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["user"]["email"] == "new@kelowna.test"
    again = client.post(reverse("staff-role-list"), grant, content_type="application/json")
    assert again.status_code == 409
    assert again.json() == {
        "detail": "new@kelowna.test already holds the role Therapist here.",
        "code": "role_already_held",
        "fields": {"role": ["new@kelowna.test already holds the role Therapist here."]},
    }
    assert Membership.objects.filter(user__email="new@kelowna.test").count() == 1


@pytest.mark.parametrize("who", ["therapist", "front_desk"])
def test_therapists_and_front_desk_cannot_grant_or_remove_roles(world, client_of, who):
    client = client_of(getattr(world, who))
    response = client.post(
        reverse("staff-role-list"),
        {
            "organization": str(world.organization.pk),
            "clinic": str(world.kelowna.pk),
            "role": "therapist",
            "email": "x@kelowna.test",
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "organization" in response.json()["fields"]
    colleague = Membership.objects.get(user=world.manager)
    response = client.delete(reverse("staff-role-detail", args=[colleague.pk]))
    assert response.status_code == 403
    assert Membership.objects.filter(pk=colleague.pk).exists()


def test_schema_and_docs_are_served_without_login():
    schema = Client().get(reverse("api-schema"))
    assert schema.status_code == 200
    assert b"/api/v1/staff-roles/" in schema.content
    docs = Client().get(reverse("api-docs"))
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_an_unknown_or_malformed_id_answers_404_as_json(world, client_of):
    client = client_of(world.org_admin)
    response = client.get("/api/v1/clinics/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_filtering_by_another_organisations_clinic_is_answered_like_an_unknown_one(
    world, client_of
):
    client = client_of(world.front_desk)
    other = client.get(reverse("staff-role-list"), {"clinic": str(world.halifax.pk)})
    unknown = client.get(
        reverse("staff-role-list"), {"clinic": "00000000-0000-0000-0000-000000000000"}
    )
    assert other.status_code == unknown.status_code == 400
    assert "clinic" in other.json()["fields"]
    own = client.get(reverse("staff-role-list"), {"clinic": str(world.kelowna.pk)})
    assert own.status_code == 200
    assert own.json()["count"] == 3


@pytest.mark.django_db(transaction=True)
def test_two_renames_racing_to_one_name_get_one_rename_and_a_409_naming_the_field(world):
    """The second request passes the serializer's check before the first commits; the
    database's unique constraint refuses it, and the answer says so as a 409, not a 500.
    (A real race needs committed rows and two connections: hence a transactional test.)"""
    renamed, release = threading.Event(), threading.Event()
    answers = {}

    def first():  # holds "Lakeside" for Kelowna, uncommitted, until told
        try:
            with transaction.atomic():
                Clinic.objects.filter(pk=world.kelowna.pk).update(name="Lakeside")
                renamed.set()
                release.wait(10)
        finally:
            connection.close()

    def second():
        try:
            client = Client()
            client.force_login(world.org_admin)
            answers["second"] = client.patch(
                reverse("clinic-detail", args=[world.vernon.pk]),
                {"name": "Lakeside"},
                content_type="application/json",
            )
        finally:
            connection.close()

    race(first, second, holding=renamed, release=release)  # the second's UPDATE waits
    answer = answers["second"]
    assert answer.status_code == 409
    assert answer.json() == {
        "detail": "This organisation already has a clinic with this name.",
        "code": "conflict",
        "fields": {"name": ["This organisation already has a clinic with this name."]},
    }
    assert sorted(
        Clinic.objects.filter(organization=world.organization).values_list("name", flat=True)
    ) == ["Lakeside", "Vernon"]


@pytest.mark.django_db(transaction=True)
def test_the_same_race_on_a_page_shows_what_was_refused_not_a_server_error(world):
    """The admin's rename form: the database refuses the second rename; the page says why
    (409), names nothing of a stack trace, and keeps nothing of it."""
    admin = Client()
    admin.force_login(world.org_admin)
    change = reverse("admin:clinics_clinic_change", args=[world.vernon.pk])
    form = admin.get(change).context["adminform"].form
    data = {
        name: "" if value is None else (value.pk if hasattr(value, "pk") else value)
        for name, value in form.initial.items()
        if name in form.fields
    }
    data.update(name="Lakeside", is_active="on")
    renamed, release = threading.Event(), threading.Event()
    answers = {}

    def first():
        try:
            with transaction.atomic():
                Clinic.objects.filter(pk=world.kelowna.pk).update(name="Lakeside")
                renamed.set()
                release.wait(10)
        finally:
            connection.close()

    def second():
        try:
            answers["page"] = admin.post(change, data, HTTP_REFERER="http://testserver" + change)
        finally:
            connection.close()

    one, two = threading.Thread(target=first), threading.Thread(target=second)
    one.start()
    renamed.wait(10)
    two.start()
    for _ in range(100):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                break
        threading.Event().wait(0.05)
    release.set()
    one.join()
    two.join()
    page = answers["page"]
    assert page.status_code == 409
    assert "This organisation already has a clinic with this name." in page.content.decode()
    assert f'href="http://testserver{change}"' in page.content.decode()
    world.vernon.refresh_from_db()
    assert world.vernon.name == "Vernon"
