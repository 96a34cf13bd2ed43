"""The alert list across sites: organisation admins, managers and therapists of several
sites see the alerts of all of them in one list, urgent first, and narrow it to one site;
the API's list does the same with its `clinic` filter. Each costs the same queries for one
alert or many."""

import re
from html import unescape

import pytest
from django.urls import reverse

from aftercare.models import Alert
from clinics.models import Membership, Role
from tests.aftercare.factories import answer_when_due, first_check_in, signed_session
from tests.patients.factories import PatientFactory, tomorrow_at, with_portal_login


def text(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def alert_at(clinic, therapist, *, hour: int, first_name: str, **answers) -> Alert:
    """A new patient of `clinic`, treated by `therapist` tomorrow at `hour` (a therapist is
    never booked twice at once), whose first check-in raised an alert."""
    patient = with_portal_login(
        PatientFactory(home_clinic=clinic, first_name=first_name, last_name="Reyes")
    )
    session = signed_session(
        patient, therapist=therapist, starts_at=tomorrow_at(hour, clinic=clinic)
    )
    answer_when_due(first_check_in(session), by=patient.user, **answers)
    return Alert.objects.get(patient=patient)


@pytest.fixture
def two_sites(world):
    """A warning sign at Kelowna, then chest pain at Vernon."""
    kelowna = alert_at(
        world.kelowna, world.therapist, hour=9, first_name="Kai", infection_signs=True
    )
    vernon = alert_at(
        world.vernon, world.vernon_therapist, hour=10, first_name="Vera", chest_pain=True
    )
    return kelowna, vernon


def test_an_organisation_admin_sees_the_alerts_of_every_site_urgent_first(
    world, client_of, two_sites
):
    response = client_of(world.org_admin).get(reverse("aftercare:alerts"))
    shown = text(response)
    assert shown.index("Urgent Vera Reyes Vernon") < shown.index(
        "Needs attention Kai Reyes Kelowna"
    )
    assert "from all your sites" in shown
    html = response.content.decode()
    choice = html[
        html.index('<select id="alert-site"') : html.index(
            "</select>", html.index('id="alert-site"')
        )
    ]
    assert re.findall(r"<option value=\"[^\"]*\"(?: selected)?>([^<]+)</option>", choice) == [
        "All my sites",
        "Kelowna",
        "Vernon",
    ]
    assert '<option value="" selected>All my sites</option>' in html


def test_the_list_narrows_to_one_of_the_users_sites_and_no_other(world, client_of, two_sites):
    client = client_of(world.org_admin)
    vernon = client.get(reverse("aftercare:alerts"), {"clinic": world.vernon.pk})
    assert "Check-in alerts at Vernon" in text(vernon)
    assert "Vera Reyes" in text(vernon) and "Kai Reyes" not in text(vernon)
    assert f'<option value="{world.vernon.pk}" selected>' in vernon.content.decode()
    halifax = client.get(reverse("aftercare:alerts"), {"clinic": world.halifax.pk})
    assert halifax.status_code == 404
    assert client.get(reverse("aftercare:alerts"), {"clinic": "nonsense"}).status_code == 404


def test_a_manager_of_two_sites_sees_both_and_a_therapist_of_one_only_theirs(
    world, client_of, two_sites
):
    Membership.objects.create(
        organization=world.organization,
        clinic=world.vernon,
        user=world.manager,
        role=Role.CLINIC_MANAGER,
    )
    manager = text(client_of(world.manager).get(reverse("aftercare:alerts")))
    assert "Vera Reyes" in manager and "Kai Reyes" in manager
    therapist = client_of(world.therapist).get(reverse("aftercare:alerts"))
    assert "Kai Reyes" in text(therapist) and "Vera Reyes" not in text(therapist)
    assert "Check-in alerts at Kelowna" in text(therapist)
    assert "All my sites" not in text(therapist)  # one site: nothing to choose
    desk = text(client_of(world.front_desk).get(reverse("aftercare:alerts")))
    assert "Kai Reyes" in desk and "Vera Reyes" not in desk


def test_the_list_of_every_site_costs_the_same_queries_for_one_alert_or_many(
    world, client_of, django_assert_max_num_queries
):
    alert_at(world.kelowna, world.therapist, hour=9, first_name="Kai", chest_pain=True)
    client = client_of(world.org_admin)
    with django_assert_max_num_queries(20) as one:
        client.get(reverse("aftercare:alerts"))
    for hour, name in [(10, "Vera"), (11, "Val"), (12, "Vic")]:
        alert_at(
            world.vernon, world.vernon_therapist, hour=hour, first_name=name, short_of_breath=True
        )
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(reverse("aftercare:alerts"))
    assert text(response).count("Urgent") >= 4


def test_the_api_lists_the_alerts_of_every_site_and_filters_by_one(world, client_of, two_sites):
    kelowna, vernon = two_sites
    client = client_of(world.org_admin)
    every = client.get(reverse("alert-list")).json()["results"]
    assert [(row["id"], row["clinic"]["name"]) for row in every] == [
        (str(vernon.pk), "Vernon"),
        (str(kelowna.pk), "Kelowna"),
    ]
    elsewhere = client.get(reverse("alert-list"), {"clinic": str(world.halifax.pk)})
    assert elsewhere.status_code == 400  # not a site of theirs: refused, naming the filter
    assert list(elsewhere.json()["fields"]) == ["clinic"]
    narrowed = client.get(reverse("alert-list"), {"clinic": str(world.kelowna.pk)}).json()
    assert [row["id"] for row in narrowed["results"]] == [str(kelowna.pk)]


def test_the_header_counts_the_urgent_alerts_of_every_site_of_the_user(world, client_of, two_sites):
    # Kelowna is the site chosen in the header; the urgent alert is Vernon's.
    admin = text(client_of(world.org_admin).get(reverse("sessions:day")))
    assert "Alerts 1 urgent" in admin
    kelowna_only = text(client_of(world.therapist).get(reverse("sessions:day")))
    assert "Alerts" in kelowna_only
    assert "urgent" not in kelowna_only.split("Alerts", 1)[1].split("Account", 1)[0]
