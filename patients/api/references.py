"""References in a request to patients and their organisation's forms, limited to the caller's."""

from clinics import access
from clinics.api import scoped_field
from patients.models import Patient


def visible_patients(request):
    """Choices of a `patient` filter: another organisation's patient is refused like an unknown."""
    return access.visible_to(request.user, Patient.objects.all())


def patient_field(**kwargs):
    return scoped_field(
        Patient,
        lambda user: access.visible_to(user, Patient.objects.select_related("home_clinic")),
        **kwargs,
    )


def form_field(model, **kwargs):
    """A questionnaire or consent version of an organisation whose patients the caller may see.

    A patient holds no role, so the access rules do not let them list their
    organisation's forms; they still answer and sign them. Which version may
    be used (the current one of that patient's organisation) is the service's rule.
    """
    return scoped_field(
        model,
        lambda user: model.objects.filter(
            organization__in=access.visible_to(user, Patient.objects.all()).values(
                "organization_id"
            )
        ),
        **kwargs,
    )
