"""The pages: home sends each role where it works; the header's clinic switcher."""

import datetime

import time_machine
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from clinics.models import Membership


def test_home_asks_for_login_first():
    response = Client().get(reverse("home"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("account_login"))


def test_home_sends_admins_and_managers_to_their_sites(world, client_of):
    for person in (world.org_admin, world.manager):
        response = client_of(person).get(reverse("home"))
        assert response.headers["Location"] == reverse("clinics:list")


def test_home_sends_therapists_and_front_desk_to_their_clinic(world, client_of):
    for person in (world.therapist, world.front_desk):
        response = client_of(person).get(reverse("home"))
        assert response.headers["Location"] == reverse("clinics:detail", args=[world.kelowna.pk])


def test_sites_page_lists_the_organisations_clinics_with_team_sizes(world, client_of):
    page = client_of(world.org_admin).get(reverse("clinics:list"))
    rows = [(c.name, c.team_size) for c in page.context["clinics"]]
    assert rows == [("Kelowna", 3), ("Vernon", 1)]
    assert "Halifax" not in page.content.decode()
    assert "Add a clinic" in page.content.decode()


def test_sites_page_is_not_for_therapists(world, client_of):
    assert client_of(world.therapist).get(reverse("clinics:list")).status_code == 404


def test_a_clinic_page_shows_its_team_and_local_time(world, client_of):
    page = client_of(world.front_desk).get(reverse("clinics:detail", args=[world.kelowna.pk]))
    html = page.content.decode()
    for name in (world.therapist.full_name, world.manager.full_name, world.org_admin.full_name):
        assert name in html
    assert world.vernon_therapist.full_name not in html
    assert "America/Vancouver" in html
    assert "Edit clinic" not in html


def test_a_clinic_of_another_organisation_is_not_found(world, client_of):
    response = client_of(world.org_admin).get(reverse("clinics:detail", args=[world.halifax.pk]))
    assert response.status_code == 404


def test_the_switcher_offers_the_users_clinics_and_remembers_the_choice(world, client_of):
    client = client_of(world.org_admin)
    page = client.get(reverse("clinics:detail", args=[world.kelowna.pk]))
    assert [c.name for c in page.context["my_clinics"]] == ["Kelowna", "Vernon"]
    response = client.post(
        reverse("clinics:switch"),
        {
            "clinic": str(world.vernon.pk),
            "next": reverse("clinics:detail", args=[world.kelowna.pk]),
        },
    )
    assert response.headers["Location"] == reverse("clinics:detail", args=[world.vernon.pk])
    assert client.get(reverse("clinics:list")).context["current_clinic"] == world.vernon


def test_the_switcher_refuses_a_clinic_the_user_does_not_work_at(world, client_of):
    client = client_of(world.therapist)
    response = client.post(reverse("clinics:switch"), {"clinic": str(world.vernon.pk)})
    assert response.status_code == 404
    response = client.post(
        reverse("clinics:switch"), {"clinic": str(world.kelowna.pk), "next": "https://evil.test/"}
    )
    assert response.headers["Location"] == reverse("clinics:detail", args=[world.kelowna.pk])


def test_the_login_page_is_styled_as_part_of_fascia():
    html = Client().get(reverse("account_login")).content.decode()
    assert "fascia/fascia.css" in html
    assert finders.find("fascia/fascia.css") is not None
    assert "sign up" not in html.lower()
    assert 'class="site-header"' in html
    assert 'name="login"' in html


def test_the_sites_page_lists_credentials_to_renew(world, client_of):
    Membership.objects.filter(user=world.therapist).update(
        credential_expires_on=datetime.date.today() + datetime.timedelta(days=10)
    )
    page = client_of(world.org_admin).get(reverse("clinics:list")).content.decode()
    assert "Dry-needling credentials to renew" in page
    assert world.therapist.get_full_name() in page
    assert world.vernon_therapist.get_full_name() not in page  # a year left


def test_the_clinic_page_tells_the_time_on_the_clinics_clock(world, client_of):
    world.kelowna.timezone = "America/Vancouver"
    world.kelowna.save(update_fields=["timezone"])
    evening_utc = datetime.datetime(2026, 11, 23, 20, 28, tzinfo=datetime.UTC)
    with time_machine.travel(evening_utc, tick=False):
        client = client_of(world.therapist)
        page = client.get(reverse("clinics:detail", args=[world.kelowna.pk]))
    assert "Monday 23 November 2026, 13:28" in page.content.decode()
