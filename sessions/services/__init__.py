"""Writes on treatment sessions that carry a rule: keyword arguments, one transaction each."""

from sessions.services.booking import (
    BOOKING_GRACE,
    DEFAULT_LENGTH,
    book_session,
    cancel_session,
    mark_no_show,
    start_refusals,
    start_session,
)
from sessions.services.chart import (
    add_addendum,
    add_adverse_event,
    add_muscle,
    add_needle_site,
    add_pressure_pain_threshold,
    add_range_of_motion,
    apply_template,
    chart_of,
    find_muscle,
    remove_chart_row,
    review_adverse_event,
    save_chart,
    sign_session,
)
from sessions.services.recall import (
    NotifyOutcome,
    checked_lot,
    notify_recall,
    send_recall_notice,
)
from sessions.services.templates import (
    TEMPLATE_FIELDS,
    create_chart_template,
    update_chart_template,
)

__all__ = [
    "BOOKING_GRACE",
    "DEFAULT_LENGTH",
    "TEMPLATE_FIELDS",
    "NotifyOutcome",
    "add_addendum",
    "add_adverse_event",
    "add_muscle",
    "add_needle_site",
    "add_pressure_pain_threshold",
    "add_range_of_motion",
    "apply_template",
    "book_session",
    "cancel_session",
    "chart_of",
    "checked_lot",
    "create_chart_template",
    "find_muscle",
    "mark_no_show",
    "notify_recall",
    "remove_chart_row",
    "review_adverse_event",
    "save_chart",
    "send_recall_notice",
    "sign_session",
    "start_refusals",
    "start_session",
    "update_chart_template",
]
