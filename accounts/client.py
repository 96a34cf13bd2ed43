"""The client's address and browser, read one way for everything that records or limits
by them: consent signatures, the security log, the login limits (accounts/adapters.py) and
the API's throttling (accounts/throttling.py).

Behind a load balancer or proxy, REMOTE_ADDR is the proxy's address. With
FASCIA_TRUSTED_PROXIES set to the number of proxies in front of Fascia, the
client's address is read from X-Forwarded-For, counting that many entries
from the right (the ones those proxies added), so a client cannot forge it.
"""

from contextvars import ContextVar
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network, ip_address

from django.conf import settings

USER_AGENT_LENGTH = 1000
# One customer's IPv6 network: a client holds a whole /64, so a limit counts the network,
# or changing address would start it afresh (allauth's limits count so by default too).
IPV6_PREFIX = 64


def client_ip(request) -> str | None:
    proxies = settings.FASCIA_TRUSTED_PROXIES
    address = request.META.get("REMOTE_ADDR")
    if proxies:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    try:
        return str(ip_address(address)) if address else None
    except ValueError:
        return None


def counted_address(request) -> str:
    """What a limit counts by: the client's IPv4 address, or its IPv6 /64 network."""
    address = client_ip(request)
    if address is None:
        return ""
    parsed = ip_address(address)
    if isinstance(parsed, IPv6Address):
        return str(IPv6Network(f"{parsed}/{IPV6_PREFIX}", strict=False).network_address)
    return address


def user_agent(request) -> str:
    return request.headers.get("User-Agent", "")[:USER_AGENT_LENGTH]


@dataclass(frozen=True)
class Origin:
    """Where a request came from, as the security log records it."""

    ip_address: str | None = None
    user_agent: str = ""


NOWHERE = Origin()
_current: ContextVar[Origin] = ContextVar("fascia_request_origin", default=NOWHERE)


def origin_of(request) -> Origin:
    return Origin(ip_address=client_ip(request), user_agent=user_agent(request))


def current_origin() -> Origin:
    """The origin of the request being served, for writes that are not handed the request
    (a role granted through a service); NOWHERE in a command or the task worker."""
    return _current.get()


class RequestOriginMiddleware:
    """Keep the request's origin for the length of the request (see current_origin)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current.set(origin_of(request))
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)
