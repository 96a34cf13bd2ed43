"""The rules a session write can break; config.api and the pages show `message` as it is."""

from django.utils import dateformat, timezone

from clinics.exceptions import Conflict, FasciaError, NotPermitted

__all__ = [
    "BookingRefused",
    "CalendarFeedNotFound",
    "CalendarFeedRefused",
    "ChartConflict",
    "ChartInvalid",
    "Conflict",
    "DoubleBooked",
    "NotPermitted",
    "OutsideWorkingHours",
    "RecallInvalid",
    "ReminderLinkInvalid",
    "RiskNotAcknowledged",
    "SeriesRefused",
    "SessionSigned",
    "SessionStateRefused",
    "SigningRefused",
    "StartRefused",
]


class BookingRefused(FasciaError):
    code = "booking_refused"


class OutsideWorkingHours(BookingRefused):
    """The therapist does not work then (hours, an absence, a closure): a reason books it."""

    code = "outside_working_hours"


class SeriesRefused(BookingRefused):
    """Weeks of a weekly series that cannot be booked; nothing of the series was."""

    code = "series_refused"

    def __init__(self, *, weeks: int, refused: list, zone):
        self.refused = [(when, reason) for when, reason in refused]
        listed = "; ".join(
            f"{dateformat.format(timezone.localtime(when, zone), 'D j M Y H:i')}: {reason}"
            for when, reason in self.refused
        )
        count = len(self.refused)
        super().__init__(
            f"{count} of the {weeks} weeks cannot be booked, so none was: {listed}",
            field="starts_at",
        )

    def details(self) -> dict:
        return {
            "weeks_refused": [
                {"starts_at": when.isoformat(), "reason": reason} for when, reason in self.refused
            ]
        }


class DoubleBooked(Conflict):
    """The therapist or the patient already has a session at that time; `next_slots` are the
    therapist's next free slots from it (sessions.availability), where the clinic keeps hours."""

    code = "double_booked"

    def __init__(self, message: str, *, field: str | None = None, next_slots=()):
        super().__init__(message, field=field)
        self.next_slots = list(next_slots)

    def details(self) -> dict:
        return {
            "next_slots": [
                {
                    "starts_at": slot.starts_at.isoformat(),
                    "ends_at": slot.ends_at.isoformat(),
                    "therapist": {
                        "id": str(slot.therapist.pk),
                        "full_name": slot.therapist.get_full_name(),
                    },
                }
                for slot in self.next_slots
            ]
        }


class SessionStateRefused(Conflict):
    """The session is no longer in a state that allows this (cancelled, signed, ...)."""

    code = "session_state"


class SessionSigned(SessionStateRefused):
    """A signed session's chart never changes; corrections are addenda."""

    code = "session_signed"


class StartRefused(FasciaError):
    """The patient may not be needled now: consent, screening, a contraindication, an open
    urgent alert or an adverse event awaiting review. `blockers` says each, with its link."""

    code = "start_refused"

    def __init__(self, message: str, *, field: str | None = None, blockers=()):
        super().__init__(message, field=field)
        self.blockers = list(blockers)

    def details(self) -> dict:
        if not self.blockers:
            return {}
        return {"blockers": [blocker.as_dict() for blocker in self.blockers]}


class RecallInvalid(FasciaError):
    """A recall without a lot number to look for, or naming patients it does not hold."""

    code = "recall_invalid"


class ReminderLinkInvalid(FasciaError):
    """A reminder's link altered, cut short, or past the session's start."""

    status = 404
    code = "reminder_link_invalid"


class ChartInvalid(FasciaError):
    """A value the chart does not take: out of range, not in the vocabulary, missing."""

    code = "chart_invalid"


class RiskNotAcknowledged(ChartInvalid):
    """A needle site over the thorax, upper back or neck, without the risk acknowledged."""

    code = "risk_not_acknowledged"


class SigningRefused(FasciaError):
    """The chart is not ready to sign (needle counts, who signs)."""

    code = "signing_refused"


class ChartConflict(Conflict):
    """Someone saved the chart after the version this save started from."""

    code = "edit_conflict"

    def __init__(self, message: str, *, version: int, saved_by: str, saved_at, changed: dict):
        super().__init__(message, field="version")
        self.version = version
        self.saved_by = saved_by
        self.saved_at = saved_at
        self.changed = changed

    def details(self) -> dict:
        return {
            "version": self.version,
            "saved_by": self.saved_by,
            "saved_at": self.saved_at.isoformat(),
            "changed": self.changed,
        }


class CalendarFeedRefused(FasciaError):
    """A calendar feed that cannot be made (not a therapist of that organisation, a name too
    long)."""

    code = "calendar_feed_refused"


class CalendarFeedNotFound(FasciaError):
    """No feed answers at this address: unknown, revoked, or its therapist no longer works
    for the organisation. The three are not told apart."""

    status = 404
    code = "not_found"
