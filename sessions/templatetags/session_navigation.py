"""The header's links to the session pages: the day's list, the lot recall, the reviews."""

from django import template

from clinics import access
from sessions.models import AdverseEventReview, NeedleSite, TreatmentSession

register = template.Library()


@register.simple_tag(takes_context=True)
def session_navigation(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not access.holds_staff_role(user):
        return {}
    return {
        "day": access.may_use(user, TreatmentSession, "view"),
        "recall": access.may_use(user, NeedleSite, "view"),
        "reviews": access.may_use(user, AdverseEventReview, "add"),
    }
