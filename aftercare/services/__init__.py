"""Writes on aftercare that carry a rule: keyword arguments, one transaction each."""

from aftercare.services.alerts import (
    acknowledge_alert,
    escalate_alert,
    managers_of,
    notify_alert,
    raise_alert,
    resolve_alert,
)
from aftercare.services.check_ins import (
    OPEN_FOR,
    answer_check_in,
    check_in_from_link,
    checked_link,
    link_to,
    schedule_check_ins,
    send_check_in,
)
from aftercare.services.plans import (
    PLAN_FIELDS,
    add_exercise,
    current_template,
    issue_plan,
    mark_plan_read,
    needled_muscles,
    publish_template,
    remove_exercise,
    save_plan,
    save_settings,
    settings_of,
)

__all__ = [
    "OPEN_FOR",
    "PLAN_FIELDS",
    "acknowledge_alert",
    "add_exercise",
    "answer_check_in",
    "check_in_from_link",
    "checked_link",
    "current_template",
    "escalate_alert",
    "issue_plan",
    "link_to",
    "managers_of",
    "mark_plan_read",
    "needled_muscles",
    "notify_alert",
    "publish_template",
    "raise_alert",
    "remove_exercise",
    "resolve_alert",
    "save_plan",
    "save_settings",
    "schedule_check_ins",
    "send_check_in",
    "settings_of",
]
