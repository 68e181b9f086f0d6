"""A keras-hub config read as untrusted input: every field declared, of its type and range.

An architecture module declares the fields of its backbone (and tokenizer, task) config
as `Field`s; `checked_config` refuses a field it does not know, a value of the wrong type
(a bool is not a number, a float with a fraction is not an int) or out of range, each
`InputError` naming the file and the field. Keras's own bookkeeping (`IGNORED`) is skipped.

Example:
>>> fields = {"num_layers": number(int, 1, 512), "dropout": number(float, 0.0, 0.99, 0.0),
...     "lowercase": choice(False, True, default=False)}
>>> checked_config({"num_layers": 2.0, "name": "x"}, fields, "config.json", "GPT2Backbone")
{'num_layers': 2, 'dropout': 0.0, 'lowercase': False}
>>> checked_config({"num_layers": True}, fields, "config.json", "GPT2Backbone")
Traceback (most recent call last):
...
keras_lm.errors.InputError: config.json [num_layers]: expected int in [1, 512], got True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keras_lm.errors import InputError

IGNORED = ("name", "trainable", "dtype")  # Keras bookkeeping; keras_lm imports in float32
_REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class Field:
    """kind: int or float (a number in [low, high]), or None for one of `values`.

    default: the value of an absent field (`_REQUIRED`: it must be there).
    nullable: None (JSON null) is a value of the field too.
    """

    kind: type | None
    low: float = 0
    high: float = 0
    values: tuple = ()
    default: Any = _REQUIRED
    nullable: bool = False

    def check(self, value: Any, name: str, where: str) -> Any:
        """`value` as this field's type; `InputError` naming `where` and `name` otherwise."""
        if value is None and self.nullable:
            return None
        if self.kind is None:
            if any(value is v or (type(value) is type(v) and value == v) for v in self.values):
                return value
            raise InputError(
                where, f"expected one of {list(self.values)}, got {value!r}", field=name
            )
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if self.kind is int:
            ok = ok and float(value).is_integer()
        if not ok or not self.low <= value <= self.high:
            raise InputError(
                where,
                f"expected {self.kind.__name__} in [{self.low}, {self.high}], got {value!r}",
                field=name,
            )
        return self.kind(value)


def number(kind: type, low: float, high: float, default: Any = _REQUIRED) -> Field:
    """An int or float field in `[low, high]`."""
    return Field(kind, low, high, default=default)


def optional(kind: type, low: float, high: float) -> Field:
    """An int or float field in `[low, high]`, or null / absent (None)."""
    return Field(kind, low, high, default=None, nullable=True)


def choice(*values: Any, default: Any = _REQUIRED) -> Field:
    """A field that must be one of `values` (compared by type and value: `1` is not `True`)."""
    return Field(None, values=values, default=default)


# The sizes every Transformer backbone config has, and their ranges.
TRANSFORMER_SIZES = {
    "vocabulary_size": number(int, 1, 1_000_000),
    "num_layers": number(int, 1, 512),
    "num_heads": number(int, 1, 1024),
    "hidden_dim": number(int, 1, 65_536),
    "intermediate_dim": number(int, 1, 262_144),
}


def checked_config(
    config: Mapping[str, Any],
    fields: Mapping[str, Field],
    where: str,
    what: str,
    ignored: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Each of `fields` from `config`, checked; `InputError` for unknown or bad ones.

    `what` names the config in the message ("GPT2Backbone"); `ignored` are further fields
    read elsewhere or of no consequence (besides `IGNORED`).
    """
    unknown = sorted(set(config) - set(fields) - set(IGNORED) - set(ignored))
    if unknown:
        raise InputError(where, f"unexpected {what} field(s) {unknown}", field="config")
    found = {}
    for name, field in fields.items():
        value = config.get(name, None if field.default is _REQUIRED else field.default)
        found[name] = field.check(value, name, where)
    return found


def check_context(context: int | None, longest: int, shortest: int = 1) -> None:
    """`InputError` unless `context` (`--context`; None: all) fits the preset's `longest` positions."""
    if context is not None and not shortest <= context <= longest:
        raise InputError(
            "--context", f"expected {shortest}..{longest} (the preset's positions), got {context}"
        )


def load_weights(load: Callable[[str], object], path: Path, what: str) -> None:
    """`load(path)` (a `load_weights` method); `InputError` naming the file when it does not fit."""
    try:
        load(str(path))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(str(path), f"cannot load the {what}'s weights: {err}") from None


def check_heads(fields: Mapping[str, Any], where: str) -> None:
    """`InputError` unless `hidden_dim` is a multiple of `num_heads`."""
    if fields["hidden_dim"] % fields["num_heads"]:
        raise InputError(where, "hidden_dim must be a multiple of num_heads", field="hidden_dim")
