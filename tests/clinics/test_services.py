"""Rules on clinics and staff roles, through the services every way in uses."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection

from clinics import services
from clinics.exceptions import LastOrganizationAdmin, NotPermitted, RoleAlreadyHeld
from clinics.models import Clinic, Membership, Role


def test_org_admin_adds_a_clinic_to_their_organisation(world):
    clinic = services.create_clinic(
        organization=world.organization,
        by=world.org_admin,
        name="Penticton",
        phone="+1 250 555 0199",
        timezone="America/Vancouver",
    )
    assert clinic.organization == world.organization


@pytest.mark.parametrize("who", ["manager", "therapist", "front_desk", "other_admin"])
def test_only_the_organisations_admin_adds_clinics(world, who):
    with pytest.raises(NotPermitted, match="Only an organisation admin can add a clinic"):
        services.create_clinic(organization=world.organization, by=getattr(world, who), name="X")
    assert not Clinic.objects.filter(name="X").exists()


def test_a_manager_edits_their_own_clinic_but_not_another(world):
    services.update_clinic(clinic=world.kelowna, by=world.manager, phone="+1 250 555 0111")
    world.kelowna.refresh_from_db()
    assert world.kelowna.phone == "+1 250 555 0111"
    with pytest.raises(NotPermitted):
        services.update_clinic(clinic=world.vernon, by=world.manager, phone="+1 250 555 0111")


def test_an_impossible_phone_or_timezone_is_refused_naming_the_field(world):
    with pytest.raises(ValidationError) as refusal:
        services.update_clinic(
            clinic=world.kelowna, by=world.org_admin, phone="call me", timezone="Mars/Olympus"
        )
    assert set(refusal.value.message_dict) == {"phone", "timezone"}
    assert "Enter a phone number of 7 to 25 digits" in refusal.value.message_dict["phone"][0]


def test_two_clinics_of_one_organisation_cannot_share_a_name(world):
    with pytest.raises(ValidationError) as refusal:
        services.create_clinic(organization=world.organization, by=world.org_admin, name="Kelowna")
    assert "already has a clinic with this name" in str(refusal.value)


def test_granting_a_role_to_someone_new_invites_them_once_committed(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        membership = services.grant_role(
            organization=world.organization,
            clinic=world.vernon,
            role=Role.FRONT_DESK,
            email=" New.Person@Kelowna.TEST ",
            full_name="Nora Person",
            by=world.org_admin,
        )
    assert membership.user.email == "new.person@kelowna.test"
    assert not membership.user.has_usable_password()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.person@kelowna.test"]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_granting_a_role_to_an_existing_person_sends_no_invitation(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.grant_role(
            organization=world.organization,
            clinic=world.vernon,
            role=Role.THERAPIST,
            email=world.therapist.email,
            by=world.org_admin,
        )
    assert mail.outbox == []
    assert Membership.objects.filter(user=world.therapist).count() == 2


def test_the_same_grant_twice_is_refused_and_not_duplicated(world):
    grant = dict(
        organization=world.organization,
        clinic=world.kelowna,
        role=Role.THERAPIST,
        email=world.therapist.email,
        by=world.org_admin,
    )
    with pytest.raises(RoleAlreadyHeld, match="already holds the role Therapist here"):
        services.grant_role(**grant)
    assert Membership.objects.filter(user=world.therapist).count() == 1


def test_a_manager_cannot_grant_organisation_admin_or_roles_at_other_clinics(world):
    with pytest.raises(NotPermitted, match="organisation-wide roles"):
        services.grant_role(
            organization=world.organization,
            role=Role.ORG_ADMIN,
            email="a@b.test",
            by=world.manager,
        )
    with pytest.raises(NotPermitted, match="add staff at Vernon"):
        services.grant_role(
            organization=world.organization,
            clinic=world.vernon,
            role=Role.THERAPIST,
            email="a@b.test",
            by=world.manager,
        )
    assert not Membership.objects.filter(user__email="a@b.test").exists()


def test_an_organisation_admin_role_has_no_clinic_and_other_roles_need_one(world):
    with pytest.raises(ValidationError, match="every other role needs a clinic"):
        services.grant_role(
            organization=world.organization,
            role=Role.THERAPIST,
            email="c@d.test",
            by=world.org_admin,
        )


def test_the_last_organisation_admin_cannot_be_removed(world):
    only_admin = Membership.objects.get(user=world.org_admin)
    with pytest.raises(LastOrganizationAdmin, match="last admin"):
        services.revoke_role(membership=only_admin, by=world.org_admin)
    services.grant_role(
        organization=world.organization,
        role=Role.ORG_ADMIN,
        email="second@k.test",
        by=world.org_admin,
    )
    services.revoke_role(membership=only_admin, by=world.org_admin)
    assert not Membership.objects.filter(pk=only_admin.pk).exists()


def test_the_database_refuses_a_role_at_a_clinic_of_another_organisation(world):
    with pytest.raises(IntegrityError, match="membership_clinic_in_organization"):
        Membership.objects.create(
            organization=world.organization,
            clinic=world.halifax,
            user=world.therapist,
            role=Role.THERAPIST,
        )
        connection.check_constraints()


def test_every_change_to_a_role_is_kept_in_history(world):
    membership = services.grant_role(
        organization=world.organization,
        clinic=world.vernon,
        role=Role.FRONT_DESK,
        email="h@k.test",
        by=world.org_admin,
    )
    services.revoke_role(membership=membership, by=world.org_admin)
    events = Membership.pgh_event_model.objects.filter(pgh_obj_id=membership.pk)
    assert sorted(events.values_list("pgh_label", flat=True)) == ["delete", "insert"]
