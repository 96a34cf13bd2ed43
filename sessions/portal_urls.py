from django.urls import path

from sessions.views import feeds

app_name = "sessions_portal"

urlpatterns = [
    path("<uuid:session_id>/calendar.ics", feeds.portal_calendar_file, name="calendar_file"),
]
