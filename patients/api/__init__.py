"""The patients API: serializers and viewsets, split by subject."""

from patients.api.consent import ConsentSignatureViewSet, ConsentTemplateViewSet
from patients.api.records import PatientViewSet
from patients.api.screening import ScreeningQuestionnaireViewSet, ScreeningResponseViewSet

__all__ = [
    "ConsentSignatureViewSet",
    "ConsentTemplateViewSet",
    "PatientViewSet",
    "ScreeningQuestionnaireViewSet",
    "ScreeningResponseViewSet",
]
