"""The command line's one error type: a mistake the user can fix, printed as one line."""


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
