"""The demo data: loaded twice it adds nothing (its refusal outside development is a
configuration test, tests/config/test_configuration.py)."""

from django.core.management import call_command

from accounts.models import User
from clinics.models import Clinic, Membership, Organization


def counts():
    return [model.objects.count() for model in (Organization, Clinic, Membership, User)]


def test_demo_data_is_idempotent_and_proves_isolation(demo):
    first = counts()
    call_command("demo_data")
    # 7 staff logins, one patient's portal login (patients.demo) and three more (aftercare.demo)
    assert counts() == first == [2, 3, 7, 11]
