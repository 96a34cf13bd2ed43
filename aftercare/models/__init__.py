from aftercare.models.alerts import URGENT_FIRST, Alert, AlertLevel, AlertNote, NoteKind
from aftercare.models.check_ins import (
    Bruising,
    CheckIn,
    CheckInAnswer,
    Fatigue,
    Trend,
    Triage,
)
from aftercare.models.emails import EmailAttempt, EmailOutcome, EmailPurpose
from aftercare.models.plans import (
    DEFAULT_CHECK_IN_HOURS,
    AftercarePlan,
    AftercareSettings,
    AftercareTemplate,
    HeatOrIce,
    PlanExercise,
    PlanRead,
    PlanStatus,
)

__all__ = [
    "DEFAULT_CHECK_IN_HOURS",
    "URGENT_FIRST",
    "AftercarePlan",
    "AftercareSettings",
    "AftercareTemplate",
    "Alert",
    "AlertLevel",
    "AlertNote",
    "Bruising",
    "CheckIn",
    "CheckInAnswer",
    "EmailAttempt",
    "EmailOutcome",
    "EmailPurpose",
    "Fatigue",
    "HeatOrIce",
    "NoteKind",
    "PlanExercise",
    "PlanRead",
    "PlanStatus",
    "Trend",
    "Triage",
]
