"""Named personas: a story reads better than a fixture list.

The world: "Kelowna Physio" (organisation) runs two clinics, Kelowna and
Vernon; "Harbourside" is another organisation with one clinic, Halifax.
"""

from dataclasses import dataclass

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings

from accounts.models import User
from clinics.models import Clinic, Membership, Organization, Role
from patients.models import Patient
from tests.accounts.factories import UserFactory
from tests.clinics.factories import ClinicFactory, OrganizationFactory, staff
from tests.migrated_template import use_migrated_template
from tests.patients.factories import (
    PatientFactory,
    PatientRecord,
    full_record,
)


@dataclass
class World:
    organization: Organization
    kelowna: Clinic
    vernon: Clinic
    org_admin: User
    manager: User
    therapist: User
    front_desk: User
    vernon_therapist: User
    other_organization: Organization
    halifax: Clinic
    other_admin: User
    other_therapist: User

    def staff_by_role(self) -> dict[str, User]:
        """One person per role of the first organisation, each working at Kelowna."""
        return {
            Role.ORG_ADMIN: self.org_admin,
            Role.CLINIC_MANAGER: self.manager,
            Role.THERAPIST: self.therapist,
            Role.FRONT_DESK: self.front_desk,
        }

    def other_membership(self) -> Membership:
        return Membership.objects.get(user=self.other_therapist)

    def other_record(self) -> PatientRecord:
        """A patient of the other organisation with one of every record (made once)."""
        if not hasattr(self, "_other_record"):
            self._other_record = full_record(
                clinic=self.halifax, therapist=self.other_therapist, admin=self.other_admin
            )
        return self._other_record

    def kelowna_record(self) -> PatientRecord:
        """Ada Quinn, a Kelowna patient with one of every record and a portal login (made once)."""
        if not hasattr(self, "_kelowna_record"):
            self._kelowna_record = full_record(
                clinic=self.kelowna,
                therapist=self.therapist,
                admin=self.org_admin,
                first_name="Ada",
                last_name="Quinn",
                email="ada@example.test",
            )
        return self._kelowna_record


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, django_db_blocker):
    """Each test database is a copy of one migrated template (tests/migrated_template.py)."""
    with django_db_blocker.unblock():
        use_migrated_template()


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Argon2 is deliberately slow; the tests make many users and check no hash strength."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def world(db) -> World:
    organization = OrganizationFactory(name="Kelowna Physio")
    kelowna = ClinicFactory(organization=organization, name="Kelowna")
    vernon = ClinicFactory(organization=organization, name="Vernon")
    other = OrganizationFactory(name="Harbourside")
    halifax = ClinicFactory(organization=other, name="Halifax", timezone="America/Halifax")
    return World(
        organization=organization,
        kelowna=kelowna,
        vernon=vernon,
        org_admin=staff(Role.ORG_ADMIN, organization=organization, email="olivia@kelowna.test"),
        manager=staff(Role.CLINIC_MANAGER, clinic=kelowna, email="marcus@kelowna.test"),
        therapist=staff(Role.THERAPIST, clinic=kelowna, email="priya@kelowna.test"),
        front_desk=staff(Role.FRONT_DESK, clinic=kelowna, email="sam@kelowna.test"),
        vernon_therapist=staff(Role.THERAPIST, clinic=vernon, email="dan@kelowna.test"),
        other_organization=other,
        halifax=halifax,
        other_admin=staff(Role.ORG_ADMIN, organization=other, email="grace@harbourside.test"),
        other_therapist=staff(Role.THERAPIST, clinic=halifax, email="liam@harbourside.test"),
    )


@pytest.fixture
def patient_user(db) -> User:
    """A login with no clinic role: the portal login of the `patient` fixture."""
    return UserFactory(email="pat@example.test")


@pytest.fixture
def patient(world, patient_user) -> Patient:
    """Pat Morgan, a patient of the Kelowna clinic with a portal login (`patient_user`)."""
    return PatientFactory(
        home_clinic=world.kelowna,
        first_name="Pat",
        last_name="Morgan",
        email=patient_user.email,
        user=patient_user,
    )


@pytest.fixture
def client_of():
    """A browser session logged in as `user`."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture(scope="module")
def demo_loaded(django_db_setup, django_db_blocker):
    """The demo data, loaded once for a module in a transaction rolled back at its end."""
    with django_db_blocker.unblock(), override_settings(DEBUG=True), transaction.atomic():
        call_command("demo_data")
        yield
        transaction.set_rollback(True)


@pytest.fixture
def demo(demo_loaded, db):
    """The demo data (`make run`'s); whatever a test changes in it is rolled back after it."""
