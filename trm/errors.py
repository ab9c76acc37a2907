"""The one exception type the toolkit raises for problems a person can fix.

The CLI turns it into a one-line message and exit status 2; library callers can
catch it like any other exception. Its message must name the problem (which
file, which line, which value) so that nobody needs a traceback.
"""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class TRMError(Exception):
    """Bad input, bad usage, or a file on disk that is not what it claims to be."""


def first_line(e: BaseException, default: str | None = None) -> str:
    """The first line of an exception's message, for a one-line error (a library's message
    can run to many lines); ``default`` (None: the exception's type name) when it has none."""
    text = str(e).strip()
    if text:
        return text.splitlines()[0]
    return type(e).__name__ if default is None else default


class Stopped(KeyboardInterrupt):
    """A signal asking trm to stop (SIGTERM from ``kill``, a scheduler or a container stop;
    SIGHUP when the terminal goes), raised where the program is, so that it is handled as
    Ctrl-C: training checkpoints, builds clean their stage. Exit status 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def stop_reason(e: BaseException) -> str:
    """How an interruption is told: "interrupted" (Ctrl-C) or "stopped by SIGTERM"."""
    if isinstance(e, Stopped):
        import signal

        return f"stopped by {signal.Signals(e.signum).name}"
    return "interrupted"


def stop_status(e: BaseException) -> int:
    """The exit status of an interruption: 128 + the signal (130 for Ctrl-C)."""
    return 128 + e.signum if isinstance(e, Stopped) else 130


class SettingError(TRMError):
    """A problem with named settings: config fields or a function's arguments.

    The message marks each setting in backticks, as the library spells it:
    ``SettingError("`test_set` goes with `subsets`")``, which is also ``str(e)``;
    :meth:`spell` puts a caller's own names there (the CLI: ``--test-set goes with
    --subsets``). ``SettingError("max_minutes", "must be ...")`` is
    short for ``SettingError("`max_minutes` must be ...")``.
    """

    MARK = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")

    def __init__(self, setting: str, problem: str | None = None):
        self.template = setting if problem is None else f"`{setting}` {problem}"
        super().__init__(self.template)

    @property
    def settings(self) -> list[str]:
        """The settings the message names, in order."""
        return self.MARK.findall(self.template)

    @property
    def setting(self) -> str | None:
        """The first setting named (the one at fault, when there is one)."""
        return next(iter(self.settings), None)

    def spell(self, name: Callable[[str], str]) -> str:
        """The message with each setting written ``name(setting)``."""
        return self.MARK.sub(lambda m: name(m.group(1)), self.template)


@contextmanager
def about(where) -> Iterator[None]:
    """Errors raised in the block name ``where`` first (e.g. the config.json a value came from)."""
    try:
        yield
    except TRMError as e:
        raise TRMError(f"{where}: {e}") from None
