"""Every row an organisation holds, to show that a refused request changed nothing."""

from clinics import access
from clinics.models import SecurityEvent

WRITTEN_BY_LOGGING_IN = {SecurityEvent}
"""Rows each test's own logins add (the security log): "nothing changes" leaves them out."""


def organisation_rows(organization) -> dict:
    """Every row of the organisation, of every model with access rules."""
    return {
        model: list(
            model.objects.filter(**{access.rule_for(model).organization: organization.pk})
            .order_by("pk")
            .values()
        )
        for model in access.registered_models()
        if model not in WRITTEN_BY_LOGGING_IN
    }
