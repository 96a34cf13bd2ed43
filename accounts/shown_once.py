"""A secret shown once, after the redirect that follows making it (an API token, a calendar
feed's address).

It crosses the redirect in a signed, HTTP-only cookie for that one page, read and
deleted by the next GET: it is never written to the database, not even to the
session.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SECONDS = 300
"""How long the page has to show it: after that the secret is gone (revoke and make another)."""


@dataclass(frozen=True)
class ShownOnce:
    cookie: str
    salt: str

    def pass_on(self, response, secret: str, *, page: str):
        """`response` (the redirect to `page`) carries `secret` to that page alone."""
        response.set_signed_cookie(
            self.cookie,
            secret,
            salt=self.salt,
            max_age=SECONDS,
            path=page,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Strict",
        )
        return response

    def read(self, request) -> str | None:
        """The secret the redirect carried, on the GET that follows it; None otherwise."""
        if request.method != "GET":
            return None
        try:
            return request.get_signed_cookie(self.cookie, salt=self.salt, max_age=SECONDS)
        except (KeyError, signing.BadSignature):
            return None

    def forget(self, request, response, *, page: str):
        """Delete the cookie once its page is shown."""
        if self.cookie in request.COOKIES:
            response.delete_cookie(self.cookie, path=page, samesite="Strict")
        return response
