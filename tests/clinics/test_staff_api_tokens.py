"""Organisation admins list and revoke the API tokens of the people of their organisation.

Olivia (admin of Kelowna Physio) sees the tokens of Priya (therapist at Kelowna) and of
Dan (therapist at Vernon); never those of Liam (therapist at Harbourside's Halifax).
"""

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import ApiToken
from clinics.models import Membership, Role
from tests.accounts.factories import api_token_for


def api_me(secret):
    return Client().get(reverse("api-me"), headers={"Authorization": f"Bearer {secret}"})


def token_of(user, name="Reporting script") -> tuple[ApiToken, str]:
    secret = api_token_for(user, name=name)
    return ApiToken.objects.get(user=user, name=name), secret


def test_an_org_admin_sees_the_tokens_of_their_organisations_people_only(world, client_of):
    token_of(world.therapist, "Priya's script")
    token_of(world.vernon_therapist, "Dan's spreadsheet")
    token_of(world.other_therapist, "Liam's script")
    page = client_of(world.org_admin).get(reverse("clinics:api_tokens"))
    assert page.status_code == 200
    listed = {token.name for token in page.context["page"].object_list}
    assert listed == {"Priya's script", "Dan's spreadsheet"}
    assert "Liam" not in page.content.decode()
    other = client_of(world.other_admin).get(reverse("clinics:api_tokens"))
    assert {token.name for token in other.context["page"].object_list} == {"Liam's script"}


def test_a_person_with_roles_in_two_organisations_is_seen_by_both_admins(world, client_of):
    Membership.objects.create(
        organization=world.other_organization,
        clinic=world.halifax,
        user=world.therapist,
        role=Role.THERAPIST,
    )
    token_of(world.therapist)
    for admin in (world.org_admin, world.other_admin):
        page = client_of(admin).get(reverse("clinics:api_tokens"))
        assert [token.user for token in page.context["page"].object_list] == [world.therapist]


def test_an_org_admin_revokes_a_staff_token_with_a_reason(world, client_of):
    token, secret = token_of(world.therapist)
    client = client_of(world.org_admin)
    response = client.post(
        reverse("clinics:revoke_api_token", args=[token.pk]), {"reason": "Left the clinic"}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_by == world.org_admin
    assert token.revoke_reason == "revoked by an organisation admin: Left the clinic"
    assert api_me(secret).status_code == 401
    # Gone from the active list, still in the full one.
    assert not client.get(reverse("clinics:api_tokens")).context["page"].object_list
    everything = client.get(reverse("clinics:api_tokens"), {"show": "all"})
    assert list(everything.context["page"].object_list) == [token]
    assert "Left the clinic" in everything.content.decode()


def test_another_organisations_token_answers_404_and_stays(world, client_of):
    token, secret = token_of(world.other_therapist)
    response = client_of(world.org_admin).post(
        reverse("clinics:revoke_api_token", args=[token.pk]), {"reason": "Taken over"}
    )
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert api_me(secret).status_code == 200


def test_staff_who_are_not_org_admins_cannot_reach_the_page_or_revoke(world, client_of):
    token, secret = token_of(world.vernon_therapist)
    for person in (world.manager, world.therapist, world.front_desk):
        client = client_of(person)
        assert client.get(reverse("clinics:api_tokens")).status_code == 404
        revoke = client.post(reverse("clinics:revoke_api_token", args=[token.pk]))
        assert revoke.status_code == 404
        assert "API tokens" not in client.get(reverse("clinics:list")).content.decode()
    assert api_me(secret).status_code == 200


def test_the_sites_page_links_org_admins_to_the_tokens_page(world, client_of):
    page = client_of(world.org_admin).get(reverse("clinics:list")).content.decode()
    assert reverse("clinics:api_tokens") in page


def test_the_list_costs_the_same_queries_for_many_tokens(world, client_of):
    client = client_of(world.org_admin)
    token_of(world.therapist)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("clinics:api_tokens"), {"show": "all"})
    for person in (world.manager, world.front_desk, world.vernon_therapist):
        for number in range(3):
            token, _secret = token_of(person, name=f"Script {number}")
    ApiToken.objects.filter(user=world.manager).update(
        revoked_at=token.created_at, revoked_by=world.org_admin, revoke_reason="test"
    )
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("clinics:api_tokens"), {"show": "all"})
    assert len(page.context["page"].object_list) == 10
    assert len(many) == len(one)
