from django.urls import path

from clinics import api_token_views, views

app_name = "clinics"

urlpatterns = [
    path("", views.clinic_list, name="list"),
    path("switch/", views.switch_clinic, name="switch"),
    path("security-log/", views.security_log_page, name="security_log"),
    path("api-tokens/", api_token_views.staff_api_tokens, name="api_tokens"),
    path(
        "api-tokens/<uuid:token_id>/revoke/",
        api_token_views.revoke_staff_api_token,
        name="revoke_api_token",
    ),
    path("<uuid:clinic_id>/", views.clinic_detail, name="detail"),
]
