"""User-facing errors: the CLI prints their message on one line and exits with status 2."""


class UserError(Exception):
    """A mistake the user can fix (bad option, missing data, unreadable checkpoint).

    Raised anywhere in the package; only the CLI turns it into a message and exit status,
    so library callers still get a normal exception.
    """


class DivergenceError(Exception):
    """Training produced non-finite losses or gradients; the last good checkpoint is kept."""
