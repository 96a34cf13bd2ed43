"""The header's link to the current clinic's check-in alerts, with how many urgent ones wait."""

from django import template

from aftercare import selectors
from aftercare.models import Alert
from clinics import access
from clinics.selectors import current_clinic

register = template.Library()


@register.simple_tag(takes_context=True)
def aftercare_navigation(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not access.holds_staff_role(user):
        return {}
    if not access.may_use(user, Alert, "view"):
        return {}
    clinic = current_clinic(request)
    if clinic is None:
        return {"alerts": True}
    return {"alerts": True, **selectors.open_alert_count(user, clinic)}
