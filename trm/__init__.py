"""trm: the recursive core (Tiny Recursive Models).

Kept import-light on purpose: `trm.errors` and the version must load without torch,
so that commands which do not need a model start fast.
"""

from trm.errors import TRMError

__version__ = "0.1.0"

__all__ = ["TRMError", "__version__"]
