"""The demo data: loaded twice it adds nothing; never outside development."""

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from clinics.models import Clinic, Membership, Organization


def counts():
    return [model.objects.count() for model in (Organization, Clinic, Membership, User)]


def test_demo_data_is_idempotent_and_proves_isolation(db, settings):
    settings.DEBUG = True
    call_command("demo_data")
    first = counts()
    call_command("demo_data")
    # 7 staff logins, one patient's portal login (patients.demo) and three more (aftercare.demo)
    assert counts() == first == [2, 3, 7, 11]


def test_demo_data_is_refused_with_debug_off(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG=true"):
        call_command("demo_data")
    assert counts() == [0, 0, 0, 0]
