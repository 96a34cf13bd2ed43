"""allauth's hooks: nobody signs up alone; failed logins are limited per account and address.

The limits are allauth's own (ACCOUNT_RATE_LIMITS, counted in the shared cache); what Fascia
changes is what they count by (docs/security.md#limits):

- "login_failed": per address over every account, and per account AND address (the key
  below), so wrong passwords typed for someone else's e-mail lock out only the one typing
  them, never the owner from their own address;
- "login_failed_account": per account over every address, counting only addresses the
  account has not logged in from lately, so guessing spread over many addresses is
  stopped without letting anyone lock the owner out where they usually log in.
"""

import datetime
import hashlib
import math
import time

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal import ratelimit
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.client import client_ip
from accounts.signals import login_locked_out

APP = "allauth.account"
# An address the account logged in from (password and second factor) stays "known" this long.
KNOWN_ADDRESS_FOR = datetime.timedelta(days=30)


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        # Staff are invited by their organisation (staff roles); nobody signs up alone.
        return False

    def get_client_ip(self, request) -> str:
        # allauth's limits count by the address consent signatures record, read one way.
        address = client_ip(request)
        if not address:
            raise PermissionDenied("The client's address cannot be read from this request.")
        return address

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        # allauth keys "login_failed" by the e-mail typed; Fascia by e-mail and address. A
        # password reset clears the pair it came from (allauth calls this there too).
        return f"{_login(credentials)}:{ratelimit.get_ip(request)}"

    def pre_authenticate(self, request, **credentials) -> None:
        login = _login(credentials)
        try:
            super().pre_authenticate(request, **credentials)
            if not self._is_known_address(request, login):
                usage = ratelimit.consume(
                    request, app=APP, action="login_failed_account", key=login
                )
                if usage is None:
                    # Refused before the password was tried: not a failure of this pair.
                    self._rollback_login_failed_rl_usage()
                    raise self.validation_error("too_many_login_attempts")
                # Given back with the rest when the password is right (allauth's authenticate).
                self._login_failed_rl_usage.usage.extend(usage.usage)
        except ValidationError:
            login_locked_out.send(
                sender=type(self), request=request, email=credentials.get("email", "")
            )
            raise ValidationError(
                _refusal(request, login, known=self._is_known_address(request, login)),
                code="too_many_login_attempts",
            ) from None

    def login(self, request, user) -> None:
        super().login(request, user)
        # The account's own address from now on: the account-wide limit spares it.
        cache.set(
            _known_address_key(user.email.lower(), ratelimit.get_ip(request)),
            True,
            timeout=KNOWN_ADDRESS_FOR.total_seconds(),
        )

    def _is_known_address(self, request, login: str) -> bool:
        return cache.get(_known_address_key(login, ratelimit.get_ip(request)), False)


def _login(credentials) -> str:
    return credentials.get("email", credentials.get("username", "")).lower()


def _known_address_key(login: str, address: str) -> str:
    digest = hashlib.sha256(f"{login}:{address}".encode()).hexdigest()
    return f"fascia:known-address:{digest}"


def _refusal(request, login: str, *, known: bool) -> str:
    """Which limit refused the login, and for how long, in the person's words."""
    limits = [
        ("login_failed", None, "from your address"),
        (
            "login_failed",
            f"{login}:{ratelimit.get_ip(request)}",
            "for this account from your address",
        ),
    ]
    if not known:
        limits.append(("login_failed_account", login, "for this account"))
    waits = {}
    for action, key, whose in limits:
        for rate in ratelimit.get_rates(app=APP, action=action):
            if (rate.per == "key") != (key is not None):
                continue
            wait = _seconds_until_free(request, action=action, rate=rate, key=key)
            if wait:
                waits[whose] = max(wait, waits.get(whose, 0))
    if not waits:
        return "Too many failed logins. Try again in a minute."
    whose = max(waits, key=waits.get)
    minutes = math.ceil(max(waits.values()) / 60)
    return (
        f"Too many failed logins {whose}. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )


def _seconds_until_free(request, *, action: str, rate: ratelimit.Rate, key: str | None) -> float:
    """How long until `rate` lets one more attempt through: 0 when it would now."""
    cache_key = ratelimit.get_cache_key(request, app=APP, action=action, rate=rate, key=key)
    now = time.time()
    live = sorted((at for at in cache.get(cache_key, []) if at > now - rate.duration), reverse=True)
    if len(live) < rate.amount:
        return 0
    # The attempts are newest first: one more is allowed when the amount-th expires.
    return live[rate.amount - 1] + rate.duration - now
