"""What a signature records about the request it came in: the client's address and browser.

Behind a load balancer or proxy, REMOTE_ADDR is the proxy's address. With
FASCIA_TRUSTED_PROXIES set to the number of proxies in front of Fascia, the
client's address is read from X-Forwarded-For, counting that many entries
from the right (the ones those proxies added), so a client cannot forge it.
"""

from ipaddress import ip_address

from django.conf import settings

USER_AGENT_LENGTH = 1000


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


def user_agent(request) -> str:
    return request.headers.get("User-Agent", "")[:USER_AGENT_LENGTH]
