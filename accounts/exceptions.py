"""Domain errors of accounts. Pages show `message` on `field`; it names the rule broken."""


class ApiTokenRefused(Exception):
    """A token cannot be made or changed as asked."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
