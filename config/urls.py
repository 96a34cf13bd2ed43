from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from accounts import views as account_views
from clinics import api as clinics_api
from clinics import views as clinic_views
from config.views import healthz

router = DefaultRouter()
router.register("clinics", clinics_api.ClinicViewSet, basename="clinic")
router.register("staff-roles", clinics_api.StaffRoleViewSet, basename="staff-role")

urlpatterns = [
    path("", clinic_views.home, name="home"),
    path("clinics/", include("clinics.urls")),
    path("accounts/api-token/", account_views.api_token, name="api_token"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/me/", clinics_api.MeView.as_view(), name="api-me"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
]
