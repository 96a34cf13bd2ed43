"""Isolation between organisations, generated from the URL conf and the admin registry.

Every API endpoint (with every detail action of its viewset) and admin page,
by every role, on a row of the other organisation: every read and write is
refused, and nothing changes. A new endpoint, action or admin page is covered
without anyone remembering; a model registered with clinics.access but missing
from OTHER_ORGANIZATION_ROWS fails.
"""

import pytest
from django.contrib import admin
from django.core import mail
from django.urls import reverse

from clinics import access
from clinics.models import Clinic, Membership, Organization, Role
from config.urls import router
from patients.models import (
    ClinicalPolicy,
    ConsentSignature,
    ConsentTemplate,
    ConsentWithdrawal,
    Intake,
    Patient,
    PatientInvitation,
    Question,
    Questionnaire,
    RecordRead,
    ScreeningAnswer,
    ScreeningResponse,
    Surgery,
)

# How to find a row of the other organisation, for each model with access rules.
OTHER_ORGANIZATION_ROWS = {
    Organization: lambda world: world.other_organization,
    Clinic: lambda world: world.halifax,
    Membership: lambda world: world.other_membership(),
    Patient: lambda world: world.other_record().patient,
    ClinicalPolicy: lambda world: world.other_record().policy,
    PatientInvitation: lambda world: world.other_record().invitation,
    Intake: lambda world: world.other_record().intake,
    Surgery: lambda world: world.other_record().patient.surgeries.get(),
    Questionnaire: lambda world: world.other_record().screening.questionnaire,
    Question: lambda world: world.other_record().screening.questionnaire.questions.first(),
    ScreeningResponse: lambda world: world.other_record().screening,
    ScreeningAnswer: lambda world: world.other_record().screening.answers.first(),
    ConsentTemplate: lambda world: world.other_record().consent.template,
    ConsentSignature: lambda world: world.other_record().consent,
    ConsentWithdrawal: lambda world: world.other_record().withdrawal,
    RecordRead: lambda world: world.other_record().read,
}

WRITE_BODY = {"name": "Taken over", "role": Role.THERAPIST, "email": "x@example.test"}
# Valid for the detail actions, so that a refusal comes from the scoping, not the body.
ACTION_BODY = {
    **WRITE_BODY,
    "note": "Taken over",
    "reason": "Taken over",
    "presenting_complaint": "Taken over",
    "activity_level": "light",
}


DETAIL_METHODS = {
    "get": "retrieve",
    "put": "update",
    "patch": "partial_update",
    "delete": "destroy",
}


def api_detail_routes():
    for prefix, viewset, basename in router.registry:
        methods = [method for method, action in DETAIL_METHODS.items() if hasattr(viewset, action)]
        yield pytest.param(basename, viewset.queryset.model, methods, id=prefix)


def api_detail_actions():
    """Every `@action(detail=True)` of every router viewset, once per HTTP method it answers."""
    for prefix, viewset, basename in router.registry:
        for extra in viewset.get_extra_actions():
            if not extra.detail:
                continue
            for method in extra.mapping:
                yield pytest.param(
                    basename,
                    viewset.queryset.model,
                    extra.url_name,
                    method,
                    id=f"{prefix}-{extra.url_name}-{method}",
                )


def admin_pages():
    for model, model_admin in admin.site._registry.items():
        if model in OTHER_ORGANIZATION_ROWS:
            yield pytest.param(model, model_admin, id=model._meta.label)


def snapshot(world):
    return {
        model: list(model.objects.filter(pk=row(world).pk).values())
        for model, row in OTHER_ORGANIZATION_ROWS.items()
    }


def row_counts():
    return {model: model.objects.count() for model in OTHER_ORGANIZATION_ROWS}


def test_every_model_with_access_rules_is_in_the_matrix():
    assert set(access.registered_models()) == set(OTHER_ORGANIZATION_ROWS)


def test_every_api_resource_is_a_registered_model():
    for _, viewset, _ in router.registry:
        assert viewset.queryset.model in OTHER_ORGANIZATION_ROWS


@pytest.mark.parametrize(("basename", "model", "methods"), list(api_detail_routes()))
def test_api_refuses_every_role_every_method_on_another_organisations_row(
    world, client_of, basename, model, methods
):
    row = OTHER_ORGANIZATION_ROWS[model](world)
    url = reverse(f"{basename}-detail", kwargs={"pk": row.pk})
    before = snapshot(world)
    tried = refused = 0
    for role, person in world.staff_by_role().items():
        client = client_of(person)
        for method in methods:
            tried += 1
            response = getattr(client, method)(url, WRITE_BODY, content_type="application/json")
            if response.status_code == 404:
                refused += 1
                assert response.json()["detail"], (role, method)
        listing = client.get(reverse(f"{basename}-list"), {"page_size": 200}).json()
        assert str(row.pk) not in {item["id"] for item in listing["results"]}, role
    assert tried == 4 * len(methods) > 0
    assert refused == tried
    assert snapshot(world) == before


def test_the_detail_actions_are_found():
    assert {param.values[2] for param in api_detail_actions()} >= {"intake", "withdraw"}


@pytest.mark.parametrize(("basename", "model", "url_name", "method"), list(api_detail_actions()))
def test_api_actions_refuse_everyone_on_another_organisations_row(
    world,
    client_of,
    patient,
    django_capture_on_commit_callbacks,
    basename,
    model,
    url_name,
    method,
):
    row = OTHER_ORGANIZATION_ROWS[model](world)
    url = reverse(f"{basename}-{url_name}", kwargs={"pk": row.pk})
    before = snapshot(world)
    counts = row_counts()
    mail.outbox.clear()
    # Every staff role, and a patient of the first organisation (no role, their own record).
    people = {**world.staff_by_role(), "patient": patient.user}
    for role, person in people.items():
        with django_capture_on_commit_callbacks(execute=True):
            response = getattr(client_of(person), method)(
                url, ACTION_BODY, content_type="application/json"
            )
        assert response.status_code == 404, (role, response.content)
        assert response.json()["code"] == "not_found", role
    assert snapshot(world) == before
    assert row_counts() == counts
    assert mail.outbox == []


@pytest.mark.parametrize(("model", "model_admin"), list(admin_pages()))
def test_admin_refuses_every_role_every_page_of_another_organisations_row(
    world, client_of, model, model_admin
):
    row = OTHER_ORGANIZATION_ROWS[model](world)
    info = (model._meta.app_label, model._meta.model_name)
    pages = [
        reverse("admin:{}_{}_change".format(*info), args=[row.pk]),
        reverse("admin:{}_{}_delete".format(*info), args=[row.pk]),
        reverse("admin:{}_{}_history".format(*info), args=[row.pk]),
    ]
    before = snapshot(world)
    tried = refused = 0
    for role, person in world.staff_by_role().items():
        client = client_of(person)
        for page in pages:
            for method in ("get", "post"):
                tried += 1
                response = getattr(client, method)(
                    page, {"name": "Taken over", "post": "yes"}, follow=True
                )
                # Admins and managers get 404; other roles are not let into the admin at all.
                expected = 404 if role in access.MANAGERS else 403
                if response.status_code == expected:
                    refused += 1
        changelist = client.get(reverse("admin:{}_{}_changelist".format(*info)), follow=True)
        assert str(row.pk) not in changelist.content.decode(), role
    assert tried == 4 * len(pages) * 2
    assert refused == tried
    assert snapshot(world) == before


def test_creating_at_another_organisations_clinic_is_refused_and_creates_nothing(world, client_of):
    client = client_of(world.org_admin)
    before = Membership.objects.count()
    response = client.post(
        reverse("staff-role-list"),
        {
            "organization": str(world.organization.pk),
            "clinic": str(world.halifax.pk),
            "role": Role.THERAPIST,
            "email": "new@kelowna.test",
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["clinic"] == [
        f"No clinic with id {world.halifax.pk} that you can see."
    ]
    response = client.post(
        reverse("clinic-list"),
        {"organization": str(world.other_organization.pk), "name": "Annex"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "organization" in response.json()["fields"]
    assert Membership.objects.count() == before
    assert not Clinic.objects.filter(name="Annex").exists()
