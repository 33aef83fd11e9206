"""User-facing errors: the CLI prints their message on one line and exits with status 2."""


class UserError(Exception):
    """A mistake the user can fix (bad option, missing data, unreadable checkpoint).

    Raised anywhere in the package; only the CLI turns it into a message and exit status,
    so library callers still get a normal exception.
    """


class DivergenceError(Exception):
    """Training produced non-finite losses or gradients; the last good checkpoint is kept."""


class NotAGeneratorError(UserError):
    """A path, folder or Hub repository that holds no ganscale generator (or another library's model)."""


class MissingExtraError(UserError):
    """A feature needs an optional extra (`pip install ganscale[NAME]`) that is not installed."""


class ExportError(UserError):
    """The generator cannot be written in the asked format (an op the format has no translation for)."""
