"""The one exception type the toolkit raises for problems a person can fix.

The CLI turns it into a one-line message and exit status 2; library callers can
catch it like any other exception. Its message must name the problem (which
file, which line, which value) so that nobody needs a traceback.
"""

from collections.abc import Iterator
from contextlib import contextmanager


class TRMError(Exception):
    """Bad input, bad usage, or a file on disk that is not what it claims to be."""


class SettingError(TRMError):
    """A bad value of one named setting: a config field or a function's argument.

    The message starts with the setting as the library spells it (``max_minutes must be
    ...``); the CLI puts its own flag there instead (``--max-minutes must be ...``).
    """

    def __init__(self, setting: str, problem: str):
        super().__init__(f"{setting} {problem}")
        self.setting, self.problem = setting, problem


@contextmanager
def about(where) -> Iterator[None]:
    """Errors raised in the block name ``where`` first (e.g. the config.json a value came from)."""
    try:
        yield
    except TRMError as e:
        raise TRMError(f"{where}: {e}") from None
