from django.urls import path

from clinics import views

app_name = "clinics"

urlpatterns = [
    path("", views.clinic_list, name="list"),
    path("switch/", views.switch_clinic, name="switch"),
    path("security-log/", views.security_log_page, name="security_log"),
    path("<uuid:clinic_id>/", views.clinic_detail, name="detail"),
]
