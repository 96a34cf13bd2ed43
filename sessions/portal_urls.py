from django.urls import path

from sessions.views import feeds, portal

app_name = "sessions_portal"

urlpatterns = [
    path("book/", portal.book, name="book"),
    path("book/confirm/", portal.book_confirm, name="book_confirm"),
    path("<uuid:session_id>/move/", portal.move, name="move"),
    path("<uuid:session_id>/move/confirm/", portal.move_confirm, name="move_confirm"),
    path("<uuid:session_id>/cancel/", portal.cancel, name="cancel"),
    path("<uuid:session_id>/calendar.ics", feeds.portal_calendar_file, name="calendar_file"),
]
