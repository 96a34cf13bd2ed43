"""The rules an aftercare write can break; config.api and the pages show `message` as it is."""

from clinics.exceptions import Conflict, FasciaError, NotPermitted
from patients.exceptions import SubmissionKeyReused

__all__ = [
    "AftercareInvalid",
    "AlertStateRefused",
    "CheckInAlreadyAnswered",
    "CheckInClosed",
    "CheckInIncomplete",
    "CheckInLinkInvalid",
    "Conflict",
    "NotPermitted",
    "PlanIssued",
    "SubmissionKeyReused",
]


class AftercareInvalid(FasciaError):
    """A value the plan, a template or the settings do not take."""

    code = "aftercare_invalid"


class CheckInIncomplete(AftercareInvalid):
    """Check-in answers missing or not valid: `problems` names each with what is wrong."""

    code = "check_in_incomplete"

    def __init__(self, problems: dict[str, str], *, red_flags_filed: bool = False):
        message = "; ".join(problems.values())
        if red_flags_filed:
            message = f"The red flags were filed; the rest is still to answer: {message}"
        super().__init__(message, field=next(iter(problems)))
        self.problems = problems

    def details(self) -> dict:
        return {"fields": {field: [message] for field, message in self.problems.items()}}


class PlanIssued(Conflict):
    """An issued plan never changes: it is what the patient was given."""

    code = "plan_issued"


class CheckInLinkInvalid(FasciaError):
    """A check-in link that was altered, or is not for this login."""

    status = 404
    code = "check_in_link_invalid"


class CheckInClosed(Conflict):
    """The check-in is past its closing time (or not yet open)."""

    code = "check_in_closed"


class CheckInAlreadyAnswered(Conflict):
    code = "check_in_already_answered"


class AlertStateRefused(Conflict):
    """The alert is already acknowledged, resolved or escalated."""

    code = "alert_state"
