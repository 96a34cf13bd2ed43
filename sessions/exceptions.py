"""The rules a session write can break; config.api and the pages show `message` as it is."""

from clinics.exceptions import Conflict, FasciaError, NotPermitted

__all__ = [
    "BookingRefused",
    "Conflict",
    "DoubleBooked",
    "NotPermitted",
    "SessionStateRefused",
    "StartRefused",
]


class BookingRefused(FasciaError):
    code = "booking_refused"


class DoubleBooked(Conflict):
    """The therapist or the patient already has a session at that time."""

    code = "double_booked"


class SessionStateRefused(Conflict):
    """The session is no longer in a state that allows this (cancelled, signed, ...)."""

    code = "session_state"


class StartRefused(FasciaError):
    """The patient may not be needled now: consent, screening or a contraindication."""

    code = "start_refused"
