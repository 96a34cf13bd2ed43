"""The contraindications to dry needling that Fascia knows, and how serious each is.

The catalogue is code, not data: a flag's meaning and severity must not drift
between organisations or questionnaire versions. Questionnaires point their
questions at these keys; a "yes" raises the flag. Age under 12 is derived
from the date of birth and never asked.
"""

from django.db import models


class Severity(models.TextChoices):
    ABSOLUTE = "absolute", "Absolute: needling is refused"
    RELATIVE = "relative", "Relative: the therapist records a reason to proceed"


class Contraindication(models.TextChoices):
    UNDER_12 = "under_12", "Younger than 12"
    ACTIVE_INFECTION = "active_infection", "Active infection or skin lesion at the area"
    PREGNANCY = "pregnancy", "Pregnancy"
    IMMUNOCOMPROMISED = "immunocompromised", "Compromised immune system"
    RECENT_SURGERY = "recent_surgery", "Recent surgery"
    BLOOD_THINNERS = "blood_thinners", "Takes blood thinners"
    BLEEDING_DISORDER = "bleeding_disorder", "Bleeding disorder"
    NEEDLE_PHOBIA = "needle_phobia", "Needle phobia"
    FAINTING = "fainting", "History of fainting with needles"
    METAL_ALLERGY = "metal_allergy", "Metal allergy"
    LYMPHOEDEMA = "lymphoedema", "Lymphoedema"
    EPILEPSY = "epilepsy", "Uncontrolled epilepsy"
    DIABETES = "diabetes", "Diabetes (slower healing)"
    IMPLANTED_DEVICE = "implanted_device", "Pacemaker or implanted electrical device"


ABSOLUTE = frozenset({Contraindication.UNDER_12, Contraindication.ACTIVE_INFECTION})


def severity_of(contraindication: str) -> Severity:
    return Severity.ABSOLUTE if contraindication in ABSOLUTE else Severity.RELATIVE


MINIMUM_AGE = 12
"""Below this age dry needling is refused."""

AGE_OF_CONSENT = 18
"""Below this age a guardian signs consent for the patient."""
