from django.urls import path

from aftercare.views import alerts, plans

app_name = "aftercare"

urlpatterns = [
    path("alerts/", alerts.alert_list, name="alerts"),
    path("alerts/<uuid:alert_id>/", alerts.alert_detail, name="alert"),
    path("alerts/<uuid:alert_id>/acknowledge/", alerts.acknowledge, name="acknowledge"),
    path("alerts/<uuid:alert_id>/resolve/", alerts.resolve, name="resolve"),
    path("sessions/<uuid:session_id>/plan/", plans.plan, name="plan"),
    path("sessions/<uuid:session_id>/plan/exercises/", plans.add_exercise, name="add_exercise"),
    path(
        "sessions/<uuid:session_id>/plan/exercises/<uuid:exercise_id>/remove/",
        plans.remove_exercise,
        name="remove_exercise",
    ),
]
