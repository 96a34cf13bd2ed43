from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from clinics import access


class FasciaAdminSite(admin.AdminSite):
    site_header = "Fascia administration"
    site_title = "Fascia admin"
    index_title = "Sites, staff and settings"

    def has_permission(self, request) -> bool:
        return access.admin_site_permission(request)

    def login(self, request, extra_context=None):
        # One login for the whole of Fascia, with its two-factor step: allauth's.
        if request.user.is_authenticated:
            raise PermissionDenied("Your role does not give you access to the admin.")
        next_url = request.GET.get("next") or reverse("admin:index")
        return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")
