"""Patients may turn on two-step login (TOTP) from the portal; each login then asks for a code."""

from allauth.mfa.models import Authenticator
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.accounts.factories import PASSWORD
from tests.accounts.totp import code_for


def log_in(client: Client, email: str):
    return client.post(reverse("account_login"), {"login": email, "password": PASSWORD})


def test_a_patient_turns_on_two_step_login_from_the_portal_and_is_asked_for_a_code(
    patient, patient_user
):
    client = Client()
    log_in(client, patient_user.email)
    home = client.get(reverse("portal:home")).content.decode()
    assert "Turn on two-step login" in home
    assert reverse("mfa_activate_totp") in home

    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})  # confirm it is you
    secret = client.get(reverse("mfa_activate_totp")).context["form"].secret
    client.post(reverse("mfa_activate_totp"), {"code": code_for(secret)})
    assert Authenticator.objects.filter(user=patient_user, type="totp").exists()
    assert "Two-step login is on" in client.get(reverse("portal:home")).content.decode()

    client.post(reverse("account_logout"))
    cache.clear()  # a code is accepted once; the next login may fall in the same 30 s
    asked = log_in(client, patient_user.email)
    assert asked.headers["Location"] == reverse("mfa_authenticate")
    assert client.get(reverse("portal:home")).status_code == 302  # not in without the code
    client.post(reverse("mfa_authenticate"), {"code": code_for(secret)})
    assert client.get(reverse("portal:home")).status_code == 200


def test_without_it_the_patient_logs_in_with_the_password_alone(patient, patient_user):
    client = Client()
    response = log_in(client, patient_user.email)
    assert response.headers["Location"] != reverse("mfa_authenticate")
    assert client.get(reverse("portal:home")).status_code == 200
