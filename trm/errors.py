"""The one exception type the toolkit raises for problems a person can fix.

The CLI turns it into a one-line message and exit status 2; library callers can
catch it like any other exception. Its message must name the problem (which
file, which line, which value) so that nobody needs a traceback.
"""

from contextlib import contextmanager
from typing import Iterator


class TRMError(Exception):
    """Bad input, bad usage, or a file on disk that is not what it claims to be."""


@contextmanager
def about(where) -> Iterator[None]:
    """Errors raised in the block name ``where`` first (e.g. the config.json a value came from)."""
    try:
        yield
    except TRMError as e:
        raise TRMError(f"{where}: {e}") from None
