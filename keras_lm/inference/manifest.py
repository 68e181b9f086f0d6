"""`Manifest`: a bundle's `manifest.json`, typed, read and checked before anything in it is used.

A bundle is untrusted input: every field the runtime relies on is checked for its
type, every path it names must stay inside the bundle, and a file of the wrong kind
is an `InputError` naming `manifest.json` and the field, never a `KeyError` or a
`JSONDecodeError`. Export writes it with `Manifest.write`; the runtime, the
benchmarks, the CLI and the demo read it with `Manifest.read`. TensorFlow-free.

Example:
>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> Manifest(name="tiny", family="lstm_lm", task="lm").write(folder).name
'manifest.json'
>>> Manifest.read(folder).family
'lstm_lm'
>>> from pathlib import Path
>>> _ = Path(folder, "manifest.json").write_text("[1, 2]")
>>> Manifest.read(folder)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
keras_lm.errors.InputError: .../manifest.json: expected a JSON object, got list
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from pathlib import PurePosixPath
from typing import Any

from keras_lm.errors import InputError

FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
FILE_NAME = "manifest.json"
# How a variant's decode graphs treat the cache (see keras_lm.inference.steppers): "graph_cache"
# takes and returns the whole cache; "runtime_cache" returns each step's keys and values and
# the runtime writes them. Manifests written before the field existed are "graph_cache".
CONTRACTS = ("graph_cache", "runtime_cache")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One exported file (or folder) of the bundle, verified against Keras at export."""

    format: str
    quantization: str
    path: str
    bytes: int = 0
    verification: dict = dataclasses.field(default_factory=dict)
    inputs: dict | None = None  # this file's own input shapes per graph (fixed axes as ints)
    outputs: dict | None = None  # and its output shapes (absent in older manifests)
    contract: str = "graph_cache"  # one of CONTRACTS

    @property
    def key(self) -> str:
        return f"{self.format}/{self.quantization}"


@dataclasses.dataclass(frozen=True)
class Manifest:
    """What `keras-lm export` wrote beside the model files (see export/README.md)."""

    name: str
    family: str
    task: str
    format_version: int = FORMAT_VERSION
    facts: dict = dataclasses.field(default_factory=dict)
    specials: dict = dataclasses.field(default_factory=dict)
    labels: list[str] | None = None
    tokenizer: str = "tokenizer/tokenizer.json"
    graphs: dict = dataclasses.field(default_factory=dict)
    variants: tuple[Variant, ...] = ()
    files: dict = dataclasses.field(default_factory=dict)  # path -> {"sha256", "bytes"}
    train_config: dict = dataclasses.field(default_factory=dict)
    extra: dict = dataclasses.field(default_factory=dict)  # created, versions, params, ...

    @property
    def data(self) -> dict:
        """The training run's data section (token limits, overflow rule); {} when absent."""
        return self.train_config.get("data") or {}

    def variant(self, backend: str, quantization: str, bundle: str | Path = "bundle") -> Variant:
        """The variant for `backend`/`quantization`; an `InputError` listing the others."""
        for variant in self.variants:
            if variant.format == backend and variant.quantization == quantization:
                return variant
        have = [v.key for v in self.variants]
        raise InputError(bundle, f"no {backend}/{quantization} variant; the bundle has {have}")

    def to_dict(self) -> dict:
        known = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"
        }
        known["variants"] = [_variant_dict(v) for v in self.variants]
        return {**self.extra, **known}

    def write(self, folder: str | Path) -> Path:
        path = Path(folder) / FILE_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, bundle: str | Path) -> Manifest:
        """The checked manifest of `bundle`; an `InputError` naming the file and field otherwise."""
        path = Path(bundle) / FILE_NAME
        if not path.is_file():
            raise InputError(
                bundle,
                f"not an export bundle (no {FILE_NAME}); make one with `keras-lm export RUN`",
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(path, f"not valid JSON ({err})") from err
        return cls.from_dict(data, path)

    @classmethod
    def from_dict(cls, data: Any, source: str | Path = FILE_NAME) -> Manifest:
        """Check every field the runtime uses, then build the manifest."""
        if not isinstance(data, dict):
            raise InputError(source, f"expected a JSON object, got {type(data).__name__}")
        field = _Fields(data, source)
        version = field.get("format_version", int)
        if version not in SUPPORTED_VERSIONS:
            raise InputError(
                source,
                f"format_version {version} is not one this keras_lm reads "
                f"({list(SUPPORTED_VERSIONS)}); export the run again with this version",
            )
        variants = tuple(_variant(v, i, source) for i, v in enumerate(field.get("variants", list)))
        files = field.get("files", dict, {})
        for rel, entry in files.items():
            safe_relative(rel, source, f"files[{rel!r}]")
            if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
                raise InputError(
                    source, f"files[{rel!r}]: expected {{'sha256': str, 'bytes': int}}"
                )
        labels = field.get("labels", (list, type(None)), None)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(
            name=field.get("name", str),
            family=field.get("family", str),
            task=field.get("task", str),
            format_version=version,
            facts=field.get("facts", dict, {}),
            specials=field.get("specials", dict, {}),
            labels=labels,
            tokenizer=safe_relative(
                field.get("tokenizer", str, cls.tokenizer), source, "tokenizer"
            ),
            graphs=field.get("graphs", dict, {}),
            variants=variants,
            files=files,
            train_config=field.get("train_config", dict, {}),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _variant_dict(variant: Variant) -> dict:
    """The variant as JSON; an absent `outputs` stays absent, so older manifests round-trip."""
    data = dataclasses.asdict(variant)
    if data["outputs"] is None:
        del data["outputs"]
    return data


class _Fields:
    """Typed reads of a JSON object, each failure naming the field."""

    def __init__(self, data: dict, source, prefix: str = ""):
        self.data, self.source, self.prefix = data, source, prefix

    _MISSING = object()

    def get(self, name: str, kind, default=_MISSING):
        if name not in self.data:
            if default is self._MISSING:
                raise InputError(self.source, f"missing field {self.prefix}{name}")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            expected = " or ".join(k.__name__ for k in kinds)
            raise InputError(
                self.source, f"field {self.prefix}{name}: expected {expected}, got {value!r:.60}"
            )
        return value


def _variant(data: Any, index: int, source) -> Variant:
    if not isinstance(data, dict):
        raise InputError(source, f"variants[{index}]: expected an object, got {data!r:.60}")
    field = _Fields(data, source, f"variants[{index}].")
    path = safe_relative(field.get("path", str), source, f"variants[{index}].path")
    return Variant(
        format=field.get("format", str),
        quantization=field.get("quantization", str),
        path=path,
        bytes=field.get("bytes", int, 0),
        verification=field.get("verification", dict, {}),
        inputs=field.get("inputs", (dict, type(None)), None),
        outputs=field.get("outputs", (dict, type(None)), None),
        contract=_one_of(field.get("contract", str, "graph_cache"), CONTRACTS, source, index),
    )


def _one_of(value: str, allowed: tuple[str, ...], source, index: int) -> str:
    if value not in allowed:
        raise InputError(
            source,
            f"variants[{index}].contract: expected one of {list(allowed)}, got {value!r:.60}",
        )
    return value


def safe_relative(path: str, source, field: str) -> str:
    """`path` if it is relative and stays inside the bundle; an `InputError` naming `field` otherwise.

    >>> safe_relative("tflite/model.tflite", "manifest.json", "path")
    'tflite/model.tflite'
    >>> safe_relative("tokenizer/../../etc/passwd", "manifest.json", "files")
    Traceback (most recent call last):
    ...
    keras_lm.errors.InputError: manifest.json: files: 'tokenizer/../../etc/passwd' leaves the bundle
    """
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or "\\" in path or ".." in pure.parts:
        raise InputError(source, f"{field}: {path!r} leaves the bundle")
    return path
