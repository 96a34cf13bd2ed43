from django.urls import path

from sessions.views import day, documents, feeds, reminders, reviews, session, signing

app_name = "sessions"

urlpatterns = [
    path("", day.day_list, name="day"),
    path("book/", day.book, name="book"),
    path("calendar/", day.calendar_day, name="calendar"),
    path("calendar/week/", day.calendar_week, name="calendar_week"),
    path("calendar-feeds/", feeds.calendar_feeds, name="calendar_feeds"),
    path("recall/", reviews.recall, name="recall"),
    path("recall/recall.csv", reviews.recall_csv, name="recall_csv"),
    path("recall/notify/", reviews.recall_notify, name="recall_notify"),
    path("reviews/", reviews.review_list, name="reviews"),
    path("reviews/<uuid:event_id>/", reviews.review, name="review"),
    # The patient's, from a reminder e-mail: no login (sessions/views/reminders.py).
    path("reminder/<str:token>/", reminders.reminder_link, name="reminder_link"),
    path("<uuid:session_id>/", session.detail, name="detail"),
    path("<uuid:session_id>/start/", session.start, name="start"),
    path("<uuid:session_id>/cancel/", session.cancel, name="cancel"),
    path("<uuid:session_id>/move/", session.move, name="move"),
    path("<uuid:session_id>/no-show/", session.no_show, name="no_show"),
    path("<uuid:session_id>/calendar.ics", feeds.calendar_file, name="calendar_file"),
    path("<uuid:session_id>/chart/", session.save_chart, name="save_chart"),
    path("<uuid:session_id>/chart/template/", session.apply_template, name="apply_template"),
    path("<uuid:session_id>/needle-sites/", session.add_needle_site, name="add_needle_site"),
    path(
        "<uuid:session_id>/range-of-motion/",
        session.add_range_of_motion,
        name="add_range_of_motion",
    ),
    path(
        "<uuid:session_id>/pressure-pain-thresholds/",
        session.add_pressure_pain_threshold,
        name="add_pressure_pain_threshold",
    ),
    path("<uuid:session_id>/adverse-events/", session.add_adverse_event, name="add_adverse_event"),
    path(
        "<uuid:session_id>/<slug:kind>/<uuid:row_id>/remove/",
        session.remove_row,
        name="remove_row",
    ),
    path("<uuid:session_id>/chart.pdf", documents.chart_pdf, name="chart_pdf"),
    path("<uuid:session_id>/sign/confirm/", signing.sign_confirm, name="sign_confirm"),
    path("<uuid:session_id>/sign/", session.sign, name="sign"),
    path("<uuid:session_id>/addenda/", session.add_addendum, name="add_addendum"),
]
