from django.urls import path

from aftercare.views import alerts

app_name = "aftercare"

urlpatterns = [
    path("alerts/", alerts.alert_list, name="alerts"),
    path("alerts/<uuid:alert_id>/", alerts.alert_detail, name="alert"),
    path("alerts/<uuid:alert_id>/acknowledge/", alerts.acknowledge, name="acknowledge"),
    path("alerts/<uuid:alert_id>/resolve/", alerts.resolve, name="resolve"),
]
