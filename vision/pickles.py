"""Pickles, safely: read the official CIFAR batches without running their code, and write
the same kind of pickle.

Pickles can run code, so they are read with :class:`SafeUnpickler`, which admits only the
globals a numpy array and Python 3's bytes need (every pickle protocol, 0 to 5), each through
a checking wrapper, and refuses everything else before it is called; :func:`read_pickle`
also bounds the file's size and checks its opcodes first.

:func:`write_python_pickle` writes the pickles the official files are: protocol 2 with
Python 2 byte strings, so any CIFAR reader (ours, ``pickle.load(f, encoding="bytes")``,
torchvision's ``encoding="latin1"``) reads what we generate.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import struct
from pathlib import Path

import numpy as np

from trm.errors import TRMError, first_line
from trm.jsonfile import read_bounded


class _Refused(Exception):
    """Something a CIFAR pickle never holds; the message says what."""


def _ndarray(*args, **kwargs):
    """Stands for ``numpy.ndarray`` in a pickle, where it may only be the type that
    :func:`_reconstruct` rebuilds, never be called."""
    raise _Refused("the pickle calls numpy.ndarray directly, which no CIFAR file does")


class _Pending:
    """What an admitted global returns inside the unpickler: an array or dtype still to be
    checked. The unpickler's BUILD opcode calls ``__setstate__`` on what it built; numpy's own
    (in C) trusts its input, and a crafted state crashes the process. These check the state
    and build the real value themselves; :func:`_resolved` swaps them for it after loading."""

    value: object = None


class _PendingDtype(_Pending):
    def __init__(self, dtype: np.dtype):
        self.value, self.built = dtype, False

    def __setstate__(self, state) -> None:
        if isinstance(state, tuple):  # Python 2 pickles hold byte strings ('|' as b'|')
            state = tuple(v.decode("latin1") if isinstance(v, bytes) else v for v in state)
        if self.built or state != self.value.__reduce__()[2]:
            raise _Refused(f"the pickle gives dtype {self.value} a state numpy would not write")
        self.built = True


class _PendingArray(_Pending):
    def __init__(self, array: np.ndarray | None = None):
        self.value = array

    def __setstate__(self, state) -> None:
        if self.value is not None:
            raise _Refused("the pickle sets an array's contents twice")
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise _Refused("the pickle gives an array a state numpy would not write")
        _, shape, dtype, fortran, data = state
        self.value = _array(data, _dtype_of(dtype), shape, "F" if fortran else "C")


def _dtype_of(value) -> np.dtype:
    dtype = value.value if isinstance(value, _PendingDtype) else value
    if not isinstance(dtype, np.dtype):
        raise _Refused("the pickle gives an array a dtype that is not one")
    if dtype.hasobject:
        raise _Refused(f"the pickle asks for an array of Python objects (dtype {dtype!r})")
    return dtype


def _array(data, dtype: np.dtype, shape, order: str) -> np.ndarray:
    """A new array (never a view of the unpickler's buffers) from checked parts."""
    if not isinstance(data, (bytes, bytearray)):
        raise _Refused("the pickle rebuilds an array from something other than bytes")
    if not (
        isinstance(shape, tuple)
        and len(shape) <= 32
        and all(type(n) is int and n >= 0 for n in shape)
    ):
        raise _Refused(f"the pickle gives an array the shape {printable(repr(shape))}")
    if order not in ("C", "F"):
        raise _Refused(f"the pickle asks for array order {printable(repr(order))}")
    if math.prod(shape) * dtype.itemsize != len(data):
        raise _Refused(
            f"the pickle's array of shape {shape} and dtype {dtype} holds {len(data)} bytes"
        )
    return np.frombuffer(bytes(data), dtype=dtype).reshape(shape, order=order).copy(order="K")


def _reconstruct(subtype, shape, dtype):
    """numpy's array rebuilder (protocols 0-4): an empty array whose BUILD brings its
    contents, for plain ndarrays of plain values only."""
    if subtype is not _ndarray:
        raise _Refused("the pickle rebuilds an array of a type other than numpy.ndarray")
    _dtype_of(np.dtype(dtype.value if isinstance(dtype, _Pending) else dtype))
    return _PendingArray()


def _plain_dtype(spec, align=False, copy=True):
    """numpy.dtype, refusing dtypes that hold Python objects."""
    if not isinstance(spec, (str, bytes)):
        raise _Refused(f"the pickle asks for dtype {printable(repr(spec))}")
    dtype = np.dtype(
        spec.decode("latin1") if isinstance(spec, bytes) else spec, bool(align), bool(copy)
    )
    return _PendingDtype(_dtype_of(dtype))


def _frombuffer(buffer, dtype, shape, order="C"):
    """How numpy pickles an array with protocol 5: its bytes, dtype, shape and order."""
    return _PendingArray(_array(buffer, _dtype_of(dtype), shape, order))


def _resolved(value, seen: dict | None = None, depth: int = 0):
    """``value`` with every pending array or dtype replaced by the checked real one."""
    seen = {} if seen is None else seen
    if depth > 64:
        raise _Refused("the pickle nests containers more than 64 deep")
    if isinstance(value, _Pending):
        if value.value is None:
            raise _Refused("the pickle makes an array but never gives its contents")
        return value.value
    if id(value) in seen:
        return seen[id(value)]
    if isinstance(value, list):
        seen[id(value)] = value
        value[:] = [_resolved(v, seen, depth + 1) for v in value]
    elif isinstance(value, dict):
        seen[id(value)] = value
        items = [
            (_resolved(k, seen, depth + 1), _resolved(v, seen, depth + 1)) for k, v in value.items()
        ]
        value.clear()
        value.update(items)
    elif isinstance(value, tuple):
        seen[id(value)] = value = tuple(_resolved(v, seen, depth + 1) for v in value)
    return value


def _latin1(text, encoding="latin1"):
    """How Python 3 writes bytes into protocol 0-2 pickles: ``_codecs.encode(str, "latin1")``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "latin_1", "iso-8859-1"):
        raise _Refused(f"the pickle asks to encode with {printable(repr(encoding))}")
    return text.encode("latin1")


#: The only globals a CIFAR python batch refers to: an ndarray pickled by numpy 1 or 2 (with
#: protocols 0-4, or 5's buffers), and bytes as Python 3 writes them into protocols 0-2.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _ndarray,
    ("numpy", "dtype"): _plain_dtype,
    ("_codecs", "encode"): _latin1,
}


def printable(text: str) -> str:
    text = text if text.isprintable() else ascii(text)
    return text if len(text) <= 80 else text[:77] + "..."


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, tuples, bytes, numbers and numpy arrays.

    Every global a pickle names goes through :meth:`find_class`, which returns one of
    :data:`ALLOWED_GLOBALS` or raises: a crafted file (``os.system``, ``builtins.eval``,
    ``subprocess.Popen``...) is refused before anything it names is imported or called.
    Strings are read as bytes (``encoding="bytes"``), as in the official files.
    """

    def __init__(self, file):
        super().__init__(file, encoding="bytes")

    def find_class(self, module: str, name: str):
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise _Refused(
                f"the pickle asks for {printable(f'{module}.{name}')}, which no "
                "CIFAR file holds (only numpy arrays, lists, dicts, bytes and "
                "numbers are read)"
            )
        return allowed

    def persistent_load(self, pid):
        raise _Refused("the pickle holds a persistent id, which no CIFAR file has")


MAX_PICKLE_BYTES = 512 << 20  # CIFAR-100's train file, the largest, is 155 MB


def _check_opcodes(data: bytes) -> None:
    """Walk the opcodes (nothing is built or run) and refuse a pickle whose lengths or opcodes
    are malformed before the C unpickler sees it: some malformed lengths make CPython's own
    unpickler free a buffer it still exports."""
    try:
        for _ in pickletools.genops(data):
            pass
    except Exception as e:  # genops reports malformed input as ValueError and the like
        raise pickle.UnpicklingError(printable(first_line(e))) from None


def read_pickle(path: Path) -> object:
    """Read one python-format CIFAR file with :class:`SafeUnpickler`."""
    path = Path(path)
    if not path.exists():
        raise TRMError(f"{path}: missing")
    try:
        data = read_bounded(path, MAX_PICKLE_BYTES, "no CIFAR batch is that large")
        _check_opcodes(data)
        return _resolved(SafeUnpickler(io.BytesIO(data)).load())
    except _Refused as e:
        raise TRMError(f"{path}: refused: {e}") from None
    except (EOFError, pickle.UnpicklingError) as e:
        raise TRMError(f"{path}: truncated or not a pickle ({printable(str(e))})") from None
    except (
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        OverflowError,
        MemoryError,
        UnicodeDecodeError,
        struct.error,
    ) as e:
        raise TRMError(
            f"{path}: corrupt pickle ({type(e).__name__}: {printable(str(e))})"
        ) from None


class _Py2PickleWriter:
    """Protocol-2 pickle opcodes for the few types CIFAR files hold, with bytes written as
    Python 2 strings (SHORT_BINSTRING/BINSTRING) and arrays as numpy 1 under Python 2
    pickled them (``numpy.core.multiarray._reconstruct``): byte for byte the layout of the
    official batches, minus their memo entries, which readers do not need."""

    def __init__(self, out: io.BufferedIOBase):
        self.write = out.write

    def dump(self, obj: object) -> None:
        self.write(b"\x80\x02")  # PROTO 2
        self.save(obj)
        self.write(b".")  # STOP

    def save(self, obj: object) -> None:
        w = self.write
        if obj is None:
            w(b"N")
        elif isinstance(obj, bool):
            w(b"\x88" if obj else b"\x89")  # NEWTRUE / NEWFALSE
        elif isinstance(obj, (int, np.integer)):
            self.save_int(int(obj))
        elif isinstance(obj, str):
            self.save_bytes(obj.encode("utf-8"))
        elif isinstance(obj, bytes):
            self.save_bytes(obj)
        elif isinstance(obj, tuple):
            self.save_tuple(obj)
        elif isinstance(obj, list):
            w(b"]")  # EMPTY_LIST
            if obj:
                w(b"(")  # MARK
                for item in obj:
                    self.save(item)
                w(b"e")  # APPENDS
        elif isinstance(obj, dict):
            w(b"}")  # EMPTY_DICT
            if obj:
                w(b"(")
                for key, value in obj.items():
                    self.save(key)
                    self.save(value)
                w(b"u")  # SETITEMS
        elif isinstance(obj, np.ndarray):
            self.save_array(obj)
        else:
            raise TypeError(f"cannot write {type(obj).__name__} in a CIFAR pickle")

    def save_int(self, i: int) -> None:
        if 0 <= i < 256:
            self.write(b"K" + bytes([i]))  # BININT1
        elif 0 <= i < 65536:
            self.write(b"M" + struct.pack("<H", i))  # BININT2
        elif -(2**31) <= i < 2**31:
            self.write(b"J" + struct.pack("<i", i))  # BININT
        else:
            data = i.to_bytes((i.bit_length() + 8) // 8, "little", signed=True)
            self.write(b"\x8a" + bytes([len(data)]) + data)  # LONG1

    def save_bytes(self, data: bytes) -> None:
        if len(data) < 256:
            self.write(b"U" + bytes([len(data)]) + data)  # SHORT_BINSTRING
        else:
            self.write(b"T" + struct.pack("<i", len(data)) + data)  # BINSTRING

    def save_tuple(self, items: tuple) -> None:
        if not items:
            self.write(b")")
            return
        if len(items) > 3:
            self.write(b"(")
        for item in items:
            self.save(item)
        self.write({1: b"\x85", 2: b"\x86", 3: b"\x87"}.get(len(items), b"t"))

    def save_array(self, a: np.ndarray) -> None:
        if a.dtype != np.uint8:
            raise TypeError(f"CIFAR pickles hold uint8 arrays, not {a.dtype}")
        w = self.write
        w(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")  # two GLOBALs
        self.save((0,))
        self.save(b"b")
        w(b"\x87R")  # TUPLE3 (ndarray, (0,), b"b"), REDUCE
        w(b"(")  # state: (1, shape, dtype, fortran, raw bytes)
        self.save(1)
        self.save(tuple(a.shape))
        w(b"cnumpy\ndtype\n")
        self.save(("u1", 0, 1))
        w(b"R")
        self.save((3, "|", None, None, None, -1, -1, 0))
        w(b"b")  # BUILD the dtype
        self.save(False)
        self.save_bytes(np.ascontiguousarray(a).tobytes())
        w(b"tb")  # TUPLE, BUILD the array


def write_python_pickle(path: Path, obj: object) -> None:
    """Write ``obj`` (dicts, lists, tuples, bytes, str, ints, uint8 arrays) as the official
    CIFAR python files are written; see :class:`_Py2PickleWriter`."""
    buf = io.BytesIO()
    _Py2PickleWriter(buf).dump(obj)
    Path(path).write_bytes(buf.getvalue())
