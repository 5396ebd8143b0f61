"""One exception type for mistakes a user can fix, so the CLI can show one line instead of a traceback."""


class HalaError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""

    exit_code = 1


class UsageError(HalaError):
    """Malformed input on the command line or in a recipe."""

    exit_code = 2
