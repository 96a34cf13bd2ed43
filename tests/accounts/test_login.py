"""Logging in: e-mail as the login, clear errors, and two-factor authentication for staff."""

import pytest
from allauth.mfa.models import Authenticator
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, User
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.totp import code_for

LOGIN = reverse("account_login")


def log_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(LOGIN, {"login": email, "password": password})


@pytest.fixture
def require_mfa(settings):
    settings.FASCIA_REQUIRE_STAFF_MFA = True


def test_login_with_email_in_any_case_reaches_the_home_page(world):
    client = Client()
    response = log_in(client, "PRIYA@Kelowna.TEST")
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("home")
    page = client.get(reverse("home"), follow=True)
    assert "Kelowna" in page.content.decode()
    assert page.context["user"] == world.therapist


def test_wrong_password_shows_the_form_error_and_does_not_log_in(world):
    client = Client()
    response = log_in(client, world.therapist.email, "not-the-password")
    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in (
        response.content.decode()
    )
    assert "_auth_user_id" not in client.session


def test_the_same_email_in_another_case_cannot_make_a_second_account(db):
    UserFactory(email="dana@clinic.test")
    with pytest.raises(Exception, match="unique"):
        User.objects.create_user(email="Dana@Clinic.TEST", password=PASSWORD)


def test_nobody_can_sign_up_on_their_own(db):
    response = Client().get(reverse("account_signup"))
    assert "Sign Up Closed" in response.content.decode()


def test_with_the_setting_on_staff_without_mfa_are_sent_to_set_it_up(world, require_mfa):
    client = Client()
    log_in(client, world.therapist.email)
    for page in (reverse("home"), reverse("clinics:detail", args=[world.kelowna.pk])):
        response = client.get(page)
        assert response.status_code == 302
        assert response.headers["Location"] == reverse("mfa_activate_totp")
    api = client.get(reverse("clinic-list"))
    assert api.status_code == 403
    assert api.json()["detail"] == "Set up two-factor authentication before using the API."


def test_with_the_setting_off_staff_work_without_mfa(world, settings):
    settings.FASCIA_REQUIRE_STAFF_MFA = False
    client = Client()
    log_in(client, world.therapist.email)
    assert client.get(reverse("clinics:detail", args=[world.kelowna.pk])).status_code == 200


def test_a_person_without_a_clinic_role_is_not_asked_for_mfa(patient_user, require_mfa):
    client = Client()
    log_in(client, patient_user.email)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert "holds no role at a clinic" in response.content.decode()


def test_staff_set_up_totp_then_are_asked_for_a_code_at_every_login(world, require_mfa):
    client = Client()
    log_in(client, world.therapist.email)
    asked = client.get(reverse("mfa_activate_totp"))
    assert asked.headers["Location"].startswith(reverse("account_reauthenticate"))
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})  # confirm it is you
    setup = client.get(reverse("mfa_activate_totp"))
    secret = setup.context["form"].secret
    activated = client.post(reverse("mfa_activate_totp"), {"code": code_for(secret)})
    assert activated.status_code == 302
    assert Authenticator.objects.filter(user=world.therapist, type="totp").exists()
    assert client.get(reverse("home")).status_code == 302  # now reaches its own page
    assert client.get(reverse("clinics:detail", args=[world.kelowna.pk])).status_code == 200

    client.post(reverse("account_logout"))
    cache.clear()  # a code is accepted once; the next login may fall in the same 30 s
    response = log_in(client, world.therapist.email)
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session

    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong.status_code == 200
    assert "Incorrect code." in wrong.content.decode()
    right = client.post(reverse("mfa_authenticate"), {"code": code_for(secret)})
    assert right.status_code == 302
    assert client.session["_auth_user_id"] == str(world.therapist.pk)


def test_passwords_are_stored_with_argon2(db, settings):
    from config import settings as fascia_settings

    settings.PASSWORD_HASHERS = fascia_settings.PASSWORD_HASHERS
    user = User.objects.create_user(email="argon@clinic.test", password=PASSWORD)
    assert user.password.startswith("argon2$")
    assert user.check_password(PASSWORD)


def test_staff_owing_mfa_cannot_make_an_api_token(world, require_mfa, client_of):
    response = client_of(world.therapist).post(
        reverse("api_token"), {"action": "create", "name": "Reporting script", "days": "90"}
    )
    assert response.headers["Location"] == reverse("mfa_activate_totp")
    assert not ApiToken.objects.filter(user=world.therapist).exists()
