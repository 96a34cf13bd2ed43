"""The sessions API: serializers and viewsets, split by subject.

booking.py   /sessions/: book, start, cancel, no-show (the viewset)
chart.py     /sessions/{id}/chart/, .../chart/template/, .../sign/ (mixed into that viewset)
rows.py      /sessions/{id}/needle-sites/ and the other rows, and .../addenda/ (likewise)
vocabulary.py  /muscles/ and /chart-templates/
safety.py    /needle-sites/?lot_number= and /recall/ (recalls), /adverse-events/ (reviews)
schedule.py  /appointment-types/, /availability/, /availability-changes/ and /slots/
reminders.py /reminders/: each booking's reminder e-mail and the patient's answer
feeds.py     /calendar-feeds/: therapists' private calendar feeds
headers.py   If-Match, ETag and Idempotency-Key
"""

from clinics import access
from sessions.api.booking import TreatmentSessionViewSet
from sessions.api.feeds import CalendarFeedViewSet
from sessions.api.reminders import ReminderViewSet
from sessions.api.rows import CHART_ROWS
from sessions.api.safety import (
    AdverseEventViewSet,
    NeedleSiteRecallView,
    RecallNotifyView,
    RecallPatientsView,
)
from sessions.api.schedule import (
    AppointmentTypeViewSet,
    AvailabilityChangeViewSet,
    AvailabilityViewSet,
    SlotsView,
)
from sessions.api.vocabulary import ChartTemplateViewSet, MuscleVocabularyView

__all__ = [
    "CHART_ROWS",
    "AdverseEventViewSet",
    "AppointmentTypeViewSet",
    "AvailabilityChangeViewSet",
    "AvailabilityViewSet",
    "CalendarFeedViewSet",
    "ChartTemplateViewSet",
    "MuscleVocabularyView",
    "NeedleSiteRecallView",
    "RecallNotifyView",
    "RecallPatientsView",
    "ReminderViewSet",
    "SlotsView",
    "TreatmentSessionViewSet",
    "chart_row_view",
]


def chart_row_view(kind: str):
    """DELETE /sessions/{id}/<kind>/{row_id}/: take a row out of a draft chart.

    Not a router action (its URL names two ids); the service decides who may,
    so the sessions viewset's object check (which knows only the booking) is not used.
    """
    return TreatmentSessionViewSet.as_view(
        {"delete": "remove_chart_row"},
        row_kind=kind,
        detail=True,
        permission_classes=[access.LoggedInWithMfa],
    )
