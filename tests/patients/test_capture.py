"""The address a consent signature records, directly or behind trusted proxies."""

import pytest
from django.test import RequestFactory

from accounts.client import client_ip, user_agent


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "198.51.100.7", "10.0.0.2"),  # no proxy trusted: a forged header changes nothing
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "203.0.113.66, 198.51.100.7", "198.51.100.7"),  # the client put the first one in
        (2, "198.51.100.7, 10.0.0.9", "198.51.100.7"),
        (2, "", "10.0.0.2"),  # not behind the proxies after all
        (1, "not an address", None),
    ],
)
def test_the_client_address_behind_trusted_proxies(settings, proxies, forwarded, expected):
    settings.FASCIA_TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_a_long_user_agent_is_cut():
    request = RequestFactory().get("/", HTTP_USER_AGENT="x" * 5000)
    assert len(user_agent(request)) == 1000
