"""The header's link to the check-in alerts, with how many urgent ones wait at the user's sites."""

from django import template

from aftercare import selectors
from aftercare.models import Alert
from clinics import access

register = template.Library()


@register.simple_tag(takes_context=True)
def aftercare_navigation(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not access.holds_staff_role(user):
        return {}
    if not access.may_use(user, Alert, "view"):
        return {}
    # Every site of theirs, as the alert list shows them: an urgent alert at the
    # other site is not out of mind because the header shows this one.
    return {"alerts": True, **selectors.open_alert_count(user)}
