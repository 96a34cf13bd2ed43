"""What aftercare does when something happens below it."""

from aftercare import services


def issue_aftercare(sender, *, session, by, **kwargs) -> None:
    """A signed session issues its aftercare plan, in the same transaction (see session_signed)."""
    services.issue_plan(session=session, by=by)
