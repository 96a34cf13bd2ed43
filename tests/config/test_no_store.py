"""Every response says Cache-Control: no-store (config/no_store.py), but static files.

Every route of the URL conf and every operation of the API schema is asked by the
access log's walk (tests/patients/test_access_log_complete.py), which checks the
header on each answer. Here: what the middleware answers before any view (HTTPS
redirects, the API's 401, Django's 404) and what views set themselves.
"""

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from tests.accounts.factories import UserFactory

# --- What no view answers --------------------------------------------------------------


def test_the_apis_401_without_credentials_answers_no_store(client, db):
    response = client.get(reverse("patient-list"))
    assert response.status_code == 401
    assert response["Cache-Control"] == "no-store"


def test_a_page_that_does_not_exist_answers_no_store(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Cache-Control"] == "no-store"


def test_the_redirect_to_https_answers_no_store(client, db):
    with override_settings(SECURE_SSL_REDIRECT=True):
        response = client.get(reverse("patients:list"))
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert response["Cache-Control"] == "no-store"


def test_a_login_redirect_answers_no_store(client, db):
    response = client.get(reverse("patients:list"))
    assert response.status_code == 302
    assert response["Cache-Control"] == "no-store"


def test_the_admins_own_never_cache_header_is_kept(client, db):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    directives = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "no-cache", "private"} <= directives


@pytest.mark.filterwarnings("ignore:No directory at")  # STATIC_ROOT: the files come from finders
def test_static_files_keep_their_caching(db):
    whitenoise = [
        *settings.MIDDLEWARE[:3],
        "whitenoise.middleware.WhiteNoiseMiddleware",
        *settings.MIDDLEWARE[3:],
    ]
    with override_settings(MIDDLEWARE=whitenoise, WHITENOISE_USE_FINDERS=True):
        response = Client().get("/static/fascia/fascia.css")
    assert response.status_code == 200
    assert "no-store" not in response["Cache-Control"]
    assert "max-age" in response["Cache-Control"]
