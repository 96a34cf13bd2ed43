"""The API's throttling: per person (session or token) and, without a login, per address.

DRF's throttles, counting in the shared cache (CACHES: PostgreSQL), so a rate holds
whichever process answers. The address is read, and an IPv6 one grouped by /64, as the
login limits do.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from accounts.client import counted_address


class _FasciaThrottle:
    def get_ident(self, request) -> str:
        return counted_address(request)

    def get_rate(self) -> str | None:
        # Read when asked, not when DRF was imported, so a changed setting applies.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class PersonThrottle(_FasciaThrottle, UserRateThrottle):
    """FASCIA_API_RATE_USER for each person; requests without a login are AddressThrottle's."""

    def get_cache_key(self, request, view) -> str | None:
        if not request.user.is_authenticated:
            return None
        return super().get_cache_key(request, view)


class AddressThrottle(_FasciaThrottle, AnonRateThrottle):
    """FASCIA_API_RATE_ANONYMOUS for each address, for requests without a login."""
