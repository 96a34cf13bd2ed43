from django.urls import path

from aftercare.views import portal

app_name = "aftercare_portal"

urlpatterns = [
    path("plans/<uuid:plan_id>/", portal.plan, name="plan"),
    path("plans/<uuid:plan_id>/read/", portal.mark_read, name="mark_read"),
    path("check-ins/<uuid:check_in_id>/", portal.check_in, name="check_in"),
    path("check-in/<str:token>/", portal.check_in_link, name="check_in_link"),
]
