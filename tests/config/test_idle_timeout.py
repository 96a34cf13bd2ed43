"""Logins end after a spell without requests: the server decides (config/idle_timeout.py)."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinics.models import Organization, Role, SecurityEvent, SecurityEventKind
from tests.accounts.factories import UserFactory, api_token_for
from tests.clinics.factories import MembershipFactory, OrganizationFactory
from tests.conftest import World

START = datetime.datetime.now(tz=datetime.UTC).replace(microsecond=0)
"""The clock stands still from now: the world the tests log into is made on the real clock."""
MINUTE = datetime.timedelta(minutes=1)
SECOND = datetime.timedelta(seconds=1)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def logged_out(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_staff_are_logged_out_after_15_idle_minutes_not_before(world: World, client_of, clock):
    client = client_of(world.therapist)
    clock.shift(14 * MINUTE + 59 * SECOND)
    assert client.get(reverse("patients:list")).status_code == 200
    clock.shift(15 * MINUTE + SECOND)
    response = client.get(reverse("patients:list"))
    assert logged_out(response)
    assert response["Location"] == reverse("account_login") + "?next=%2Fpatients%2F"
    page = client.get(response["Location"])
    assert "You were logged out after 15 minutes without activity." in page.content.decode()
    assert logged_out(client.get(reverse("patients:list")))


def test_each_request_keeps_the_login_alive(world: World, client_of, clock):
    client = client_of(world.therapist)
    for _ in range(6):  # an hour and a half, a request every 14 minutes
        clock.shift(14 * MINUTE)
        assert client.get(reverse("patients:list")).status_code == 200


def test_the_organisations_setting_is_used(world: World, client_of, clock):
    Organization.objects.filter(pk=world.organization.pk).update(idle_minutes=40)
    client = client_of(world.therapist)
    clock.shift(39 * MINUTE)
    assert client.get(reverse("patients:list")).status_code == 200
    clock.shift(40 * MINUTE + SECOND)
    response = client.get(reverse("patients:list"))
    assert logged_out(response)
    page = client.get(response["Location"])
    assert "You were logged out after 40 minutes without activity." in page.content.decode()


def test_someone_with_roles_in_several_organisations_gets_the_shortest(
    world: World, client_of, clock
):
    Organization.objects.filter(pk=world.organization.pk).update(idle_minutes=40)
    strict = OrganizationFactory(name="Strict Physio", idle_minutes=5)
    MembershipFactory(user=world.therapist, role=Role.ORG_ADMIN, organization=strict, clinic=None)
    client = client_of(world.therapist)
    clock.shift(5 * MINUTE + SECOND)
    assert logged_out(client.get(reverse("patients:list")))


def test_patients_are_logged_out_after_30_idle_minutes(patient, client_of, clock, settings):
    client = client_of(patient.user)
    clock.shift(29 * MINUTE)
    assert client.get(reverse("portal:home")).status_code == 200
    clock.shift(30 * MINUTE + SECOND)
    response = client.get(reverse("portal:home"))
    assert logged_out(response)
    assert "30 minutes" in client.get(response["Location"]).content.decode()


def test_the_patients_limit_is_a_setting(patient, client_of, clock, settings):
    settings.FASCIA_PATIENT_IDLE_MINUTES = 10
    client = client_of(patient.user)
    clock.shift(10 * MINUTE + SECOND)
    assert logged_out(client.get(reverse("portal:home")))


def test_a_superuser_gets_the_staff_default(client_of, clock, db):
    root = UserFactory(is_superuser=True, is_staff=True)
    client = client_of(root)
    clock.shift(14 * MINUTE)
    assert client.get(reverse("admin:index")).status_code == 200
    clock.shift(15 * MINUTE + SECOND)
    assert logged_out(client.get(reverse("admin:index")))


def test_the_api_with_a_login_session_gets_401(world: World, client_of, clock):
    client = client_of(world.therapist)
    clock.shift(15 * MINUTE + SECOND)
    response = client.get(reverse("patient-list"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == {
        "detail": "You were logged out after 15 minutes without activity. Log in again.",
        "code": "logged_out",
        "fields": {},
    }
    assert client.get(reverse("patient-list")).status_code == 401


def test_a_token_is_no_session_and_never_times_out(world: World, client, clock):
    bearer = {"Authorization": f"Bearer {api_token_for(world.therapist)}"}
    assert client.get(reverse("patient-list"), headers=bearer).status_code == 200
    clock.shift(3 * 60 * MINUTE)
    assert client.get(reverse("patient-list"), headers=bearer).status_code == 200


def test_logging_out_says_why_to_the_security_log(world: World, client_of, clock):
    client = client_of(world.therapist)
    clock.shift(16 * MINUTE)
    client.get(reverse("patients:list"))
    [logout] = SecurityEvent.objects.filter(kind=SecurityEventKind.LOGOUT, user=world.therapist)
    assert logout.detail == "after the idle time-out"
    assert logout.occurred_at == START + 16 * MINUTE


def test_a_form_sent_after_the_limit_comes_back_to_the_page_it_was_sent_from(
    world: World, client_of, clock
):
    client = client_of(world.therapist)
    clock.shift(16 * MINUTE)
    response = client.post(
        reverse("clinics:switch"),
        {"clinic": str(world.kelowna.pk)},
        headers={"Referer": "http://testserver/patients/?q=ada"},
    )
    assert response["Location"] == reverse("account_login") + "?next=%2Fpatients%2F%3Fq%3Dada"


def test_the_activity_time_is_written_at_most_every_30_seconds(world: World, client_of, clock):
    client = client_of(world.therapist)
    client.get(reverse("patients:list"))  # what the page itself writes, once
    clock.shift(10 * SECOND)
    with CaptureQueriesContext(connection) as soon:
        client.get(reverse("patients:list"))
    clock.shift(30 * SECOND)
    with CaptureQueriesContext(connection) as later:
        client.get(reverse("patients:list"))
    writes = [q["sql"] for q in later if q["sql"].startswith('UPDATE "django_session"')]
    assert len(writes) == 1
    assert not [q for q in soon if q["sql"].startswith('UPDATE "django_session"')]
    # Written 40 s after the login: 15 minutes count from there.
    clock.shift(14 * MINUTE + 50 * SECOND)
    assert client.get(reverse("patients:list")).status_code == 200


def test_asking_the_time_left_is_no_activity(world: World, client_of, clock):
    client = client_of(world.therapist)
    clock.shift(14 * MINUTE)
    assert client.get(reverse("idle_time_left")).json() == {"seconds_left": 60}
    clock.shift(MINUTE + SECOND)
    response = client.get(reverse("idle_time_left"))
    assert response.status_code == 401
    assert "15 minutes without activity" in response.json()["detail"]


def test_staying_logged_in_starts_the_time_again(world: World, client_of, clock):
    client = client_of(world.therapist)
    clock.shift(14 * MINUTE + 10 * SECOND)
    assert client.post(reverse("idle_stay")).json() == {"seconds_left": 15 * 60}
    clock.shift(14 * MINUTE)
    assert client.get(reverse("idle_time_left")).json() == {"seconds_left": 60}
    assert client.get(reverse("patients:list")).status_code == 200


def test_the_page_carries_the_limit_for_its_warning(world: World, client_of, clock):
    Organization.objects.filter(pk=world.organization.pk).update(idle_minutes=20)
    page = client_of(world.therapist).get(reverse("patients:list")).content.decode()
    assert 'data-idle-seconds="1200"' in page
    assert "fascia/idle.js" in page


def test_a_login_lasts_12_hours_however_active(world: World, client_of, clock):
    client = client_of(world.therapist)
    for _ in range(12 * 6):  # every 10 minutes for 12 hours
        clock.shift(10 * MINUTE)
        assert client.get(reverse("patients:list")).status_code == 200
    clock.shift(SECOND)
    response = client.get(reverse("patients:list"))
    assert logged_out(response)
    assert "a login lasts 12 hours" in client.get(response["Location"]).content.decode()


def test_the_organisations_idle_minutes_are_bounded(world: World):
    organization = world.organization
    organization.idle_minutes = 4
    with pytest.raises(ValidationError, match="greater than or equal to 5"):
        organization.full_clean()
    with transaction.atomic(), pytest.raises(IntegrityError):
        Organization.objects.filter(pk=organization.pk).update(idle_minutes=61)


def test_the_organisation_admin_sets_the_idle_minutes_in_the_admin(world: World, client_of):
    client = client_of(world.org_admin)
    url = reverse("admin:clinics_organization_change", args=[world.organization.pk])
    response = client.post(url, {"name": world.organization.name, "idle_minutes": 10})
    assert response.status_code == 302
    world.organization.refresh_from_db()
    assert world.organization.idle_minutes == 10
    refused = client.post(url, {"name": world.organization.name, "idle_minutes": 90})
    assert "less than or equal to 60" in refused.content.decode()


def test_a_made_up_token_header_keeps_no_idle_page_open(world: World, client_of, clock):
    client = client_of(world.therapist)
    clock.shift(16 * MINUTE)
    response = client.get(reverse("patients:list"), headers={"Authorization": "Bearer made-up"})
    assert logged_out(response)
