"""Domain errors. Services raise them; config.api and the pages turn them into answers.

The base class lives here, in the lowest app with rules, so every higher app
derives its own errors from it and one handler translates them all.
"""


class FasciaError(Exception):
    """A request that breaks a rule; `message` is shown to the user as it is."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def details(self) -> dict:
        """More for the API answer beside detail, code and fields (e.g. the duplicates found)."""
        return {}


class NotPermitted(FasciaError):
    status = 403
    code = "permission_denied"


class Conflict(FasciaError):
    status = 409
    code = "conflict"


class RoleAlreadyHeld(Conflict):
    code = "role_already_held"


class LastOrganizationAdmin(FasciaError):
    code = "last_organization_admin"
