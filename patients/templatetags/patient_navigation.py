"""The header's links to the patient pages: "Patients" for staff, "My record" for a patient."""

from django import template

from clinics import access
from patients.models import Patient
from patients.selectors import portal_records

register = template.Library()


@register.simple_tag(takes_context=True)
def patient_navigation(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "patients": access.may_use(user, Patient, "view"),
        "my_record": portal_records(user).exists(),
    }
