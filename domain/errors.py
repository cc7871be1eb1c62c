"""The ledger's own errors: each names the field at fault so callers can point at it."""


class LedgerError(Exception):
    """A command the ledger refuses; nothing was appended."""

    def __init__(
        self, message: str, *, field: str | None = None, enrolling: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # What the way in's enroll option would do ("to enroll as needed"): each way in names
        # its own option (`?enroll=true`, `--enroll`), which the domain does not know.
        self.enrolling = enrolling


class NotFoundError(LedgerError):
    """A course, unit, module or enrollment that does not exist."""


class AlreadyExistsError(LedgerError):
    """A course that is created twice."""


class InvalidStructureError(LedgerError):
    """A course structure that breaks a rule, such as a duplicate unit or module id."""


class EnrollmentWithdrawnError(LedgerError):
    """A completion sent to an enrollment that was withdrawn."""


class ConcurrencyError(LedgerError):
    """Retries ran out while other writers kept changing the same aggregate."""
