"""The aftercare API: serializers and viewsets, split by subject.

advice.py     /aftercare-templates/ and /aftercare-settings/ (the organisation's)
plans.py      /aftercare-plans/: the draft a therapist writes, the issued plan a patient reads
check_ins.py  /check-ins/: when they fall due, and the patient's answers with their triage
alerts.py     /alerts/: what a red flag puts in front of the clinic, acknowledged and resolved
choices.py    choice sets with schema names of their own

Every action parses, calls one service of aftercare.services, and renders.
"""

from aftercare.api.advice import AftercareSettingsViewSet, AftercareTemplateViewSet
from aftercare.api.alerts import AlertViewSet
from aftercare.api.check_ins import CheckInViewSet
from aftercare.api.plans import AftercarePlanViewSet
from clinics import access

__all__ = [
    "AftercarePlanViewSet",
    "AftercareSettingsViewSet",
    "AftercareTemplateViewSet",
    "AlertViewSet",
    "CheckInViewSet",
    "exercise_view",
]


def exercise_view():
    """DELETE /aftercare-plans/{id}/exercises/{exercise_id}/: take an exercise off a draft.

    Not a router action (its URL names two ids); the service decides who may, so the
    plans viewset's object check is not used.
    """
    return AftercarePlanViewSet.as_view(
        {"delete": "remove_exercise"},
        detail=True,
        permission_classes=[access.LoggedInWithMfa],
    )
