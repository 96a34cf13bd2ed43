"""Writes on treatment sessions that carry a rule: keyword arguments, one transaction each."""

from sessions.services.booking import (
    BOOKING_GRACE,
    DEFAULT_LENGTH,
    book_session,
    cancel_session,
    mark_no_show,
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
from sessions.services.templates import (
    TEMPLATE_FIELDS,
    create_chart_template,
    update_chart_template,
)

__all__ = [
    "BOOKING_GRACE",
    "DEFAULT_LENGTH",
    "TEMPLATE_FIELDS",
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
    "create_chart_template",
    "find_muscle",
    "mark_no_show",
    "remove_chart_row",
    "review_adverse_event",
    "save_chart",
    "sign_session",
    "start_session",
    "update_chart_template",
]
