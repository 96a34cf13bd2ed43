import datetime

import factory

from clinics.models import Clinic, Membership, Organization, Role
from tests.accounts.factories import UserFactory


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Physio Group {n}")


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Site {n}")
    address = "12 Main Street"
    phone = "+1 250 555 0100"
    timezone = "America/Vancouver"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    organization = factory.LazyAttribute(lambda m: m.clinic.organization)
    role = Role.THERAPIST


def staff(
    role: Role, *, clinic: Clinic | None = None, organization: Organization | None = None, **user
):
    """A person holding `role` at `clinic` (or organisation-wide, for an admin)."""
    person = UserFactory(**user)
    credential = {}
    if role == Role.THERAPIST:
        credential = {
            "credential": "Dry needling certificate DN-2024-117",
            "credential_expires_on": datetime.date.today() + datetime.timedelta(days=365),
        }
    MembershipFactory(
        user=person,
        role=role,
        clinic=None if role == Role.ORG_ADMIN else clinic,
        organization=organization or clinic.organization,
        **credential,
    )
    return person
