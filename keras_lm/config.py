"""Configuration as dataclasses that round-trip through dicts, JSON and YAML.

Every stage of keras_lm takes one of these; the CLI and notebooks build the
same objects. `from_dict` is strict: an unknown key or a value of the wrong type
raises `ConfigError` naming the key. `with_overrides` applies `a.b=c` strings
(as `keras-lm ... --set a.b=c` does) with the same checks. Every numeric field is
range-checked on construction against its class's `RANGES` (`Range`), so a bad value
is refused by name before any stage writes a file.

Example:
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Inner(Config):
...     width: int = 16
>>> @dataclass(frozen=True)
... class Outer(Config):
...     name: str = "tiny"
...     inner: Inner = Inner()
>>> Outer().with_overrides(["inner.width=32"]).inner.width
32
>>> Outer.from_dict({"inner": {"depth": 2}})
Traceback (most recent call last):
...
keras_lm.errors.ConfigError: Unknown config key: inner.depth (known: width)
>>> @dataclass(frozen=True)
... class Sized(Config):
...     RANGES = {"width": at_least(1)}
...     width: int = 16
>>> Outer.from_dict({"inner": {"width": 8}}).inner.width
8
>>> Sized.from_dict({"width": 0}, _prefix="model.")
Traceback (most recent call last):
...
keras_lm.errors.FieldError: model.width: expected an integer >= 1, got 0
"""

import dataclasses
import functools
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from typing import ClassVar
from typing import Self

import yaml

from keras_lm.errors import ConfigError
from keras_lm.errors import FieldError
from keras_lm.io import write_text_atomic


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a numeric config field allows: finite, and within `low`/`high` when given.

    `low_open` / `high_open` exclude the bound itself. Items of a tuple field and values of a
    dict field are checked one by one; None (an optional field left unset) always passes.

    >>> Range(0, 1, high_open=True).describe(integer=False)
    'a number >= 0 and < 1'
    >>> above(0).allows(0.0), at_least(1).allows(1), Range().allows(float("nan"))
    (False, True, False)
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def allows(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self, integer: bool) -> str:
        """What the field expects, as an error message says it: "an integer >= 1"."""
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {_number(self.low)}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_open else '<='} {_number(self.high)}")
        noun = "an integer" if integer else ("a number" if bounds else "a finite number")
        return " ".join([noun, " and ".join(bounds)]).strip()


def at_least(low: float) -> Range:
    """`value >= low`."""
    return Range(low=low)


def above(low: float) -> Range:
    """`value > low`."""
    return Range(low=low, low_open=True)


FRACTION = Range(0, 1, high_open=True)  # dropout, label smoothing, Adam's betas: [0, 1)
FINITE = Range()  # any finite number


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class: subclasses are frozen dataclasses whose fields are typed.

    `RANGES` maps each numeric field to the `Range` it allows; a subclass that defines
    `__post_init__` calls `super().__post_init__()` first, so ranges are checked before
    the checks that combine fields.
    """

    RANGES: ClassVar[dict[str, Range]] = {}

    def __post_init__(self) -> None:
        check_ranges(self)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of JSON-compatible values (tuples become lists)."""
        return _to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], _prefix: str = "") -> Self:
        """Build from a dict, rejecting unknown keys and wrong types by name."""
        if not isinstance(data, dict):
            raise ConfigError(
                f"{_prefix or cls.__name__}: expected a mapping, got {type(data).__name__}"
            )
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        kwargs = {}
        for key, value in data.items():
            name = f"{_prefix}{key}"
            if key not in fields:
                raise ConfigError(f"Unknown config key: {name} (known: {', '.join(fields)})")
            kwargs[key] = _coerce(value, hints[key], name)
        try:
            return cls(**kwargs)
        except FieldError as err:
            if err.owner is not cls or not _prefix:
                raise
            raise err.within(_prefix) from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        """Write as JSON or YAML (by the file's suffix), atomically."""
        path = Path(path)
        text = self.to_yaml() if path.suffix in (".yaml", ".yml") else self.to_json()
        return write_text_atomic(path, text)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a JSON or YAML file written by `save` (or by hand)."""
        path = Path(path)
        try:
            data = read_yaml(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML/JSON: {err}") from None
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"{path}: not a text file (byte {err.start} is not UTF-8: {err.reason})"
            ) from None
        try:
            return cls.from_dict(data)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None

    def with_overrides(self, overrides: list[str] | tuple[str, ...] | Mapping[str, Any]) -> Self:
        """Apply overrides: `key.sub=value` strings (values parsed as YAML scalars), or a mapping of
        `key.sub` to Python values (from a notebook); either way type-checked, unknown keys named.

        >>> from keras_lm.training.config import LoopConfig
        >>> LoopConfig().with_overrides({"batch_size": 8}) == LoopConfig().with_overrides(["batch_size=8"])
        True
        """
        data = self.to_dict()
        for key, value in _override_items(overrides):
            node = data
            parts = key.strip().split(".")
            for depth, part in enumerate(parts[:-1]):
                if not isinstance(node.get(part), dict):
                    raise ConfigError(f"Unknown config key: {'.'.join(parts[: depth + 1])}")
                node = node[part]
            if parts[-1] not in node:
                raise ConfigError(f"Unknown config key: {key.strip()}")
            node[parts[-1]] = _to_plain(value)
        return type(self).from_dict(data)


def check_ranges(config: Config) -> None:
    """Raise `FieldError` for the first field of `config` outside its class's `RANGES`."""
    integers = _integer_fields(type(config))
    for name, allowed in config.RANGES.items():
        value = getattr(config, name)
        for item in _numbers(value):
            if item is None or isinstance(item, bool) or not isinstance(item, (int, float)):
                continue  # unset, or a type `from_dict` refuses by name
            if not allowed.allows(item):
                raise FieldError(
                    name, allowed.describe(name in integers), value, owner=type(config)
                )


def _numbers(value: Any) -> list:
    """The values to range-check in a field: the items of a tuple or list, a dict's values."""
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, (tuple, list)) else [value]


@functools.cache
def _integer_fields(cls: type) -> frozenset[str]:
    """Fields of `cls` typed int (alone, optional, or in a tuple or dict), not float."""
    found = set()
    for name, hint in typing.get_type_hints(cls).items():
        parts = {hint, *typing.get_args(hint)}
        for arg in typing.get_args(hint):
            parts |= set(typing.get_args(arg))
        if int in parts and float not in parts:
            found.add(name)
    return frozenset(found)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading floats as YAML 1.2 does.

    PyYAML follows YAML 1.1, where `1e-8` (no dot) is a string; YAML 1.2 and Python read a float.
    """


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def read_yaml(text: str) -> Any:
    """Parse YAML text safely, with YAML 1.2 floats.

    Example:
    >>> read_yaml("epsilon: 1e-8")
    {'epsilon': 1e-08}
    """
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects


def _override_items(overrides) -> list[tuple[str, Any]]:
    """(key, value) pairs of a mapping, or of `key=value` strings with YAML-parsed values."""
    if isinstance(overrides, Mapping):
        return [(str(k), v) for k, v in overrides.items()]
    items = []
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"Override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        items.append((key, read_yaml(raw) if raw.strip() else ""))
    return items


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    return value


def _coerce(value: Any, hint: Any, name: str) -> Any:
    """Check `value` against the type `hint`; convert lists to tuples and dicts to Configs."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        section = [a for a in args if isinstance(a, type) and issubclass(a, Config)]
        if section and isinstance(value, dict):  # its own errors name the field inside
            return _coerce(value, section[0], name)
        errors = []
        for arg in args:
            try:
                return _coerce(value, arg, name)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{name}: expected {_type_name(hint)}, got {value!r}")
    if hint is type(None):
        if value is None:
            return None
        raise ConfigError(f"{name}: expected null, got {value!r}")
    if hint is Any:
        return value
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{name}: expected one of {list(args)}, got {value!r}")
    if isinstance(hint, type) and issubclass(hint, Config):
        if isinstance(value, hint):
            return value
        return hint.from_dict(value, _prefix=f"{name}.")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: expected a list, got {value!r}")
        item = args[0] if args else Any
        coerced = [_coerce(v, item, f"{name}[{i}]") for i, v in enumerate(value)]
        return tuple(coerced) if origin is tuple else coerced
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a mapping, got {value!r}")
        return {k: _coerce(v, args[1] if args else Any, f"{name}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{name}: expected {hint.__name__}, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{name}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
