"""Defaults as `--help` shows them, derived from the library (presets, configs), never
written twice: one value where every preset agrees, else each preset's."""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections import Counter
from collections.abc import Callable, Iterable

from cli.common import flag


def shown(value) -> str | None:
    """A value as `--help` shows it: 3e-4 as 0.0003, pairs as 0.9,0.999; None: none."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ",".join(shown(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def switch(name: str, value: bool) -> str:
    """A switch's value as its flag's word: --unique-ends/--shared-ends -> shared-ends."""
    on, _, off = flag(name).partition("/")
    return (on if value else off or "--no-" + on[2:])[2:]


def each_preset(presets: Iterable[str], value_of: Callable[[str], object]) -> str:
    """One value if every preset has it, else each preset's ("cifar 256; small 32")."""
    values = {p: shown(value_of(p)) for p in presets}
    given = {p: v for p, v in values.items() if v is not None}
    if len(given) == len(values) and len(set(given.values())) == 1:
        return next(iter(given.values()))
    return "; ".join(f"{p} {v}" for p, v in given.items())


def common_else(values: dict) -> str:
    """The common value with its exceptions ("vitrm cifar 0.1, else 0"); ``values``: a
    name (a string, or a tuple of words) -> value."""
    text = {k: shown(v) for k, v in values.items()}
    common = Counter(text.values()).most_common(1)[0][0]  # ties: the first one's
    others = [f"{_words(k)} {v}" for k, v in text.items() if v != common]
    return ", ".join([*others, f"else {common}"]) if others else common


def _words(key) -> str:
    return " ".join(key) if isinstance(key, tuple) else key


@functools.cache
def _config_fields() -> dict[str, object]:
    """Every field of the model and training configs, with its default (or MISSING)."""
    from trm.config import TrainConfig, TRMConfig

    return {f.name: f.default for cls in (TRMConfig, TrainConfig) for f in dataclasses.fields(cls)}


def preset_default(name: str) -> str:
    """A `trm train` setting's default at each preset (trm/config.py): the common value
    with its exceptions ("sudoku-small 64, maze-cpu 64, tiny 32, else 768")."""
    from trm.config import PRESETS

    base = {k: v for k, v in _config_fields().items() if v is not dataclasses.MISSING}
    values = {
        preset: {**base, **model, **train}.get(name) for preset, (model, train) in PRESETS.items()
    }
    return common_else(
        {k: switch(name, v) if isinstance(v, bool) else v for k, v in values.items()}
    )


def show_preset_defaults(command: Callable, *, keep: Iterable[str] = ()) -> Callable:
    """Give every option of ``command`` that sets a preset's field (parameters are named as
    the fields they set) the presets' values as its `--help` default, except ``keep``."""
    fields = _config_fields()
    # (evaluated once and kept: string annotations would make new options at every read)
    hints = typing.get_type_hints(command, include_extras=True)
    for name, hint in hints.items():
        if name in fields and name not in keep:
            for info in getattr(hint, "__metadata__", ()):
                info.show_default = preset_default(name)
    command.__annotations__ = hints
    return command
