"""The banner on a patient's pages while the user reads them through an emergency access."""

from django import template
from django.template.loader import render_to_string

from patients import selectors
from patients.models import Patient

register = template.Library()


@register.simple_tag(takes_context=True)
def emergency_access_banner(context, patient: Patient) -> str:
    """The banner ("Emergency access until HH:MM … — reason: …"), or nothing."""
    user = getattr(context.get("request"), "user", None)
    if user is None:
        return ""
    held = selectors.emergency_access_of(user, patient)
    if held is None:
        return ""
    return render_to_string(
        "patients/emergency/banner.html", {"access": held, "clinic": patient.home_clinic}
    )
