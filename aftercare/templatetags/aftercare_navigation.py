"""The header's link to the clinic's check-in alerts, with how many urgent ones are open."""

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
    return {"alerts": True, **selectors.open_alert_count(user)}
