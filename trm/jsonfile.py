"""Reading files from disk or from a user, bounded: size, and for JSON nesting depth and
integer length.

Every JSON file trm reads (configs, dataset metadata, ARC tasks, official build files) and
every text file it takes whole (puzzles, imports, metrics) comes through here, so a malformed,
enormous or maliciously nested file is one line naming the file, never a traceback or an
exhausted memory.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from pathlib import Path

from trm.errors import TRMError, first_line

MAX_JSON_BYTES = 1 << 30  # ARC's largest official files are tens of MB
MAX_OBJECT_BYTES = 256 << 20  # configs and metadata (an ARC dataset's names its tasks)
MAX_DEPTH = 64  # an ARC task nests 5 deep, a config 4


def strict_json(obj: object, **dumps) -> str:
    """``obj`` as strict JSON, which every parser reads: a number that is not finite (NaN,
    inf), nested anywhere, is written null; a numpy or torch scalar as the number it holds."""

    def strict(value):
        if hasattr(value, "item") and getattr(value, "shape", None) == ():  # numpy, torch
            value = value.item()
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, dict):
            return {k: strict(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [strict(v) for v in value]
        return value

    return json.dumps(strict(obj), allow_nan=False, **dumps)


def parse_json(text: str | bytes, where: str) -> object:
    """``text`` as a JSON value, or a one-line :class:`TRMError` naming ``where``."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        value = json.loads(text)
    except UnicodeDecodeError:
        raise TRMError(f"{where}: not valid JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise TRMError(
            f"{where}: not valid JSON, truncated or malformed ({e.msg} at line "
            f"{e.lineno}, column {e.colno})"
        ) from None
    except RecursionError:
        raise TRMError(f"{where}: JSON nested too deeply") from None
    except ValueError as e:  # e.g. an integer of thousands of digits
        raise TRMError(f"{where}: not valid JSON ({first_line(e)})") from None
    if _depth(value) > MAX_DEPTH:
        raise TRMError(f"{where}: JSON nested more than {MAX_DEPTH} levels deep")
    return value


def regular_file(path: Path, kind: str = "file") -> Path:
    """``path``, if it names a regular file (a link to one counts); else one line saying what
    it is. A named pipe, a device or a socket would block or never end when read, so every
    reader of a file from disk checks here first."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise TRMError(f"{path}: no such file") from None
    except OSError as e:
        raise TRMError(f"{path}: cannot read it ({e.strerror or e})") from None
    if stat.S_ISDIR(mode):
        raise TRMError(f"{path}: a directory, not a {kind}")
    if not stat.S_ISREG(mode):
        what = (
            "a named pipe"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file"
        )
        raise TRMError(f"{path}: {what}, not a {kind} (trm reads regular files only)")
    return path


def read_bounded(
    path: Path, max_bytes: int, too_big: str = "not a file trm reads", kind: str = "file"
) -> bytes:
    """The bytes of ``path``, refused (one line, nothing more read) past ``max_bytes``;
    ``too_big`` says why such a file cannot be what was meant."""
    path = regular_file(path, kind)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise TRMError(f"{path}: no such file") from None
    except OSError as e:
        raise TRMError(f"{path}: cannot read it ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise TRMError(f"{path}: larger than {_size(max_bytes)}; {too_big}")
    return data


def read_json(path: Path, max_bytes: int = MAX_JSON_BYTES) -> tuple[object, str]:
    """A JSON file's value and the SHA-256 of its bytes; one-line errors naming the file."""
    data = read_bounded(path, max_bytes, "not a file trm writes or reads", "JSON file")
    return parse_json(data, str(path)), hashlib.sha256(data).hexdigest()


def read_json_object(path: Path, max_bytes: int = MAX_OBJECT_BYTES) -> dict:
    """A JSON file that must hold one object (configs, metadata)."""
    value, _ = read_json(path, max_bytes)
    if not isinstance(value, dict):
        raise TRMError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def _depth(value: object) -> int:
    """Nesting depth without recursion (a list of lists of ints is 2)."""
    if not isinstance(value, (list, dict)):
        return 0
    deepest, stack = 1, [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH:
            break
        stack.extend(
            (c, d + 1)
            for c in (v.values() if isinstance(v, dict) else v)
            if isinstance(c, (list, dict))
        )
    return deepest


def _size(n: int) -> str:
    if n >= 1 << 30:
        return f"{n >> 30} GiB"
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n:,} bytes"
