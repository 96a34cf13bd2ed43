"""The Django admin: organisation admins manage their own sites and staff roles, nothing else."""

from django.core import mail
from django.test import Client
from django.urls import reverse

from clinics.models import Clinic, Membership, Organization, Role


def test_admin_login_goes_through_fascias_login():
    response = Client().get(reverse("admin:index"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))


def test_an_org_admin_who_is_not_a_superuser_enters_the_admin(world, client_of):
    assert not world.org_admin.is_superuser and not world.org_admin.is_staff
    response = client_of(world.org_admin).get(reverse("admin:index"))
    assert response.status_code == 200
    assert "Clinics and staff" in response.content.decode()


def test_therapists_are_not_let_into_the_admin(world, client_of):
    response = client_of(world.therapist).get(reverse("admin:index"), follow=True)
    assert response.status_code == 403


def test_an_org_admin_sees_and_edits_only_their_organisation(world, client_of):
    client = client_of(world.org_admin)
    clinics = client.get(reverse("admin:clinics_clinic_changelist")).content.decode()
    assert "Kelowna" in clinics and "Vernon" in clinics and "Halifax" not in clinics
    organizations = client.get(reverse("admin:clinics_organization_changelist"))
    assert list(organizations.context["cl"].result_list) == [world.organization]
    assert (
        client.get(
            reverse("admin:clinics_organization_change", args=[world.other_organization.pk])
        ).status_code
        == 404
    )
    response = client.post(
        reverse("admin:clinics_organization_change", args=[world.other_organization.pk]),
        {"name": "Mine now"},
    )
    assert response.status_code == 404
    assert Organization.objects.get(pk=world.other_organization.pk).name == "Harbourside"


def test_an_org_admin_edits_a_clinic_of_their_organisation(world, client_of):
    response = client_of(world.org_admin).post(
        reverse("admin:clinics_clinic_change", args=[world.vernon.pk]),
        {
            "name": "Vernon North",
            "address": "1 Lake Rd",
            "phone": "+1 250 555 0170",
            "emergency_number": "911",
            "timezone": "America/Vancouver",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    world.vernon.refresh_from_db()
    assert world.vernon.name == "Vernon North"


def test_an_org_admin_cannot_add_a_clinic_to_another_organisation(world, client_of):
    response = client_of(world.org_admin).post(
        reverse("admin:clinics_clinic_add"),
        {
            "organization": str(world.other_organization.pk),
            "name": "Annex",
            "timezone": "America/Halifax",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in str(response.context["adminform"].form.errors["organization"])
    assert not Clinic.objects.filter(name="Annex").exists()


def test_an_org_admin_grants_a_staff_role_by_email_and_the_person_is_invited(
    world, client_of, django_capture_on_commit_callbacks
):
    client = client_of(world.org_admin)
    form = {
        "organization": str(world.organization.pk),
        "clinic": str(world.vernon.pk),
        "role": Role.FRONT_DESK,
        "email": "fiona@kelowna.test",
        "full_name": "Fiona Desk",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:clinics_membership_add"), form)
    assert response.status_code == 302
    assert Membership.objects.filter(user__email="fiona@kelowna.test", clinic=world.vernon).exists()
    assert mail.outbox[0].to == ["fiona@kelowna.test"]
    again = client.post(reverse("admin:clinics_membership_add"), form)
    assert again.status_code == 200
    assert "already holds the role Front desk here" in again.content.decode()
    assert Membership.objects.filter(user__email="fiona@kelowna.test").count() == 1


def test_a_manager_cannot_grant_roles_at_another_clinic_in_the_admin(world, client_of):
    response = client_of(world.manager).post(
        reverse("admin:clinics_membership_add"),
        {
            "organization": str(world.organization.pk),
            "clinic": str(world.vernon.pk),
            "role": Role.THERAPIST,
            "email": "v@kelowna.test",
        },
    )
    assert response.status_code == 200
    assert "clinic" in response.context["adminform"].form.errors
    assert not Membership.objects.filter(user__email="v@kelowna.test").exists()


def test_the_staff_role_list_filter_offers_only_visible_clinics(world, client_of):
    html = client_of(world.org_admin).get(reverse("admin:clinics_membership_changelist"))
    assert "Halifax" not in html.content.decode()


def test_removing_the_last_org_admin_in_the_admin_is_refused_with_a_message(world, client_of):
    only_admin = Membership.objects.get(user=world.org_admin)
    response = client_of(world.org_admin).post(
        reverse("admin:clinics_membership_delete", args=[only_admin.pk]),
        {"post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert "last admin" in response.content.decode()
    assert Membership.objects.filter(pk=only_admin.pk).exists()


def test_a_clinics_history_shows_changes_made_outside_the_admin_with_who_made_them(
    world, client_of
):
    response = client_of(world.manager).patch(
        reverse("clinic-detail", args=[world.kelowna.pk]),
        {"phone": "+1 250 555 0177"},
        content_type="application/json",
    )
    assert response.status_code == 200
    history = client_of(world.org_admin).get(
        reverse("admin:clinics_clinic_history", args=[world.kelowna.pk])
    )
    page = history.content.decode()
    assert "Created." in page
    assert "Phone: “+1 250 555 0100” → “+1 250 555 0177”." in page
    assert world.manager.email in page or world.manager.full_name in page


def test_a_manager_records_a_therapists_credential_in_the_admin_and_nothing_else(world, client_of):
    client = client_of(world.manager)
    role = Membership.objects.get(user=world.therapist)
    url = reverse("admin:clinics_membership_change", args=[role.pk])
    blank = client.post(url, {"credential": "", "credential_expires_on": ""})
    assert blank.status_code == 200
    assert blank.context["adminform"].form.errors
    saved = client.post(url, {"credential": "DN-2027-001", "credential_expires_on": "2027-06-30"})
    assert saved.status_code == 302
    role.refresh_from_db()
    assert (role.credential, str(role.credential_expires_on)) == ("DN-2027-001", "2027-06-30")
    desk = Membership.objects.get(user=world.front_desk)
    desk_url = reverse("admin:clinics_membership_change", args=[desk.pk])
    assert client.post(desk_url, {"credential": "x"}).status_code == 403
    vernon = Membership.objects.get(user=world.vernon_therapist)
    vernon_url = reverse("admin:clinics_membership_change", args=[vernon.pk])
    assert client.post(vernon_url, {"credential": "x"}).status_code == 404
