"""Every row an organisation holds, to show that a refused request changed nothing."""

from clinics import access
from clinics.models import SecurityEvent
from patients.models import RecordRead

LOGS = {SecurityEvent, RecordRead}
"""Rows a test's own requests add: the security log its logins, the access log what a
person does see (their own record, a list). "Nothing changes" leaves them out."""


def organisation_rows(organization) -> dict:
    """Every row of the organisation, of every model with access rules."""
    return {
        model: list(
            model.objects.filter(**{access.rule_for(model).organization: organization.pk})
            .order_by("pk")
            .values()
        )
        for model in access.registered_models()
        if model not in LOGS
    }
