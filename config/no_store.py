"""Cache-Control: no-store on every response Fascia makes, so no browser or proxy keeps a copy.

Pages, the API and the account pages carry patient data or secrets (a new API token), and
an error page or a redirect may name a patient too: none of them may be written to a disk
cache or shown again from the browser's history after logging out. Only static files (CSS,
JS, images: no patient data) keep the caching whitenoise gives them.
"""

from django.conf import settings


class NoStoreMiddleware:
    """First in MIDDLEWARE, so it also covers what the middleware below it answers itself
    (HTTPS redirects, MFA redirects, the API's 401/403/429, error pages)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(settings.STATIC_URL):
            return response
        # A header that already forbids storing (Django's never_cache on the admin and the
        # account pages) is kept; anything weaker (private, max-age) gives way.
        if "no-store" not in response.get("Cache-Control", "").lower():
            response["Cache-Control"] = "no-store"
        return response
