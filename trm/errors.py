"""The one exception type the toolkit raises for problems a person can fix.

The CLI turns it into a one-line message and exit status 2; library callers can
catch it like any other exception. Its message must name the problem (which
file, which line, which value) so that nobody needs a traceback.
"""


class TRMError(Exception):
    """Bad input, bad usage, or a file on disk that is not what it claims to be."""
