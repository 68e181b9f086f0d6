"""`Manifest`: a bundle's `manifest.json`, typed, read and checked before anything in it is used.

A bundle is untrusted input: every field the runtime relies on is checked for its
type, every path it names must be relative, normalised and stay inside the bundle,
every file a runtime loads must be listed in `files` with its sha256 and size, and a
file of the wrong kind is an `InputError` naming `manifest.json` and the field, never a
`KeyError` or a `JSONDecodeError`. Export writes it with `Manifest.write`, which refuses
a manifest the reader would refuse; the runtime, the benchmarks, the CLI and the demo
read it with `Manifest.read`; `keras_lm.inference.bundle_files` checks the files it
lists on disk. TensorFlow-free.

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
import re
from pathlib import Path
from pathlib import PurePosixPath
from typing import Any

from keras_lm.errors import InputError
from keras_lm.io import write_text_atomic

FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
FILE_NAME = "manifest.json"
# How a variant's decode graphs treat the cache (see keras_lm.inference.steppers): "graph_cache"
# takes and returns the whole cache; "runtime_cache" returns each step's keys and values and
# the runtime writes them. Manifests written before the field existed are "graph_cache".
CONTRACTS = ("graph_cache", "runtime_cache")
TASKS = ("lm", "seq2seq", "classify")
FORMATS = ("savedmodel", "tflite", "onnx")
QUANTIZATIONS = ("float32", "fp16", "int8", "int8-full", "int8-weight-only", "int4-weight-only")
OVERFLOWS = ("error", "truncate", "drop")
TOKENIZER = "tokenizer/tokenizer.json"  # the tokenizer's config: the runtime loads its folder
MAX_FILE_BYTES = 2**40  # 1 TiB: past any model file; a larger `bytes` is a forged manifest
MAX_MANIFEST_BYTES = 2**26  # 64 MiB: an exported manifest is a few hundred KiB at most
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One exported file (or folder) of the bundle, verified against Keras at export."""

    format: str  # one of FORMATS
    quantization: str  # one of QUANTIZATIONS
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
    tokenizer: str = TOKENIZER
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

    def files_of(self, variant: Variant) -> list[str]:
        """The listed files of `variant`: its own path, or every listed path under its folder.

        >>> entry = {"sha256": "0" * 64, "bytes": 1}
        >>> onnx = Variant("onnx", "float32", "onnx/float32")
        >>> Manifest("m", "lstm_lm", "lm", files={"onnx/float32/decode.onnx": entry,
        ...     "onnx/float32.onnx": entry}).files_of(onnx)
        ['onnx/float32/decode.onnx']
        """
        if variant.path in self.files:
            return [variant.path]
        return sorted(rel for rel in self.files if rel.startswith(variant.path + "/"))

    def to_dict(self) -> dict:
        known = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"
        }
        known["variants"] = [_variant_dict(v) for v in self.variants]
        return {**self.extra, **known}

    def write(self, folder: str | Path) -> Path:
        """Write `manifest.json` into `folder`, atomically, after the reader's own checks.

        A manifest the reader would refuse (a path out of the bundle, a variant with no
        listed file, an unknown format ...) is an `InputError`, and nothing is written.
        """
        path = Path(folder) / FILE_NAME
        text = json.dumps(self.to_dict(), indent=2, default=str) + "\n"
        Manifest.from_dict(json.loads(text), path)
        return write_text_atomic(path, text)

    @classmethod
    def read(cls, bundle: str | Path) -> Manifest:
        """The checked manifest of `bundle`; an `InputError` naming the file and field otherwise."""
        path = Path(bundle) / FILE_NAME
        if not path.is_file():
            raise InputError(
                bundle,
                f"not an export bundle (no {FILE_NAME}); make one with `keras-lm export RUN`",
            )
        return cls.from_dict(_load_json(path), path)

    @classmethod
    def from_dict(cls, data: Any, source: str | Path = FILE_NAME) -> Manifest:
        """Check every field the runtime uses, then build the manifest."""
        if not isinstance(data, dict):
            raise InputError(source, f"expected a JSON object, got {type(data).__name__}")
        field = _Fields(data, source)
        version = _version(field.get("format_version", int), source)
        variants = tuple(_variant(v, i, source) for i, v in enumerate(field.get("variants", list)))
        files = {
            rel: _file_entry(rel, entry, source)
            for rel, entry in field.get("files", dict, {}).items()
        }
        train_config = field.get("train_config", dict, {})
        _check_train_config(train_config, source)
        known = {f.name for f in dataclasses.fields(cls)}
        manifest = cls(
            name=field.get("name", str),
            family=field.get("family", str),
            task=field.one_of("task", TASKS),
            format_version=version,
            facts=_facts(field.get("facts", dict, {}), source),
            specials=_specials(field.get("specials", dict, {}), source),
            labels=_labels(field.get("labels", (list, type(None)), None), source),
            tokenizer=field.one_of("tokenizer", (TOKENIZER,), TOKENIZER),
            graphs=field.get("graphs", dict, {}),
            variants=variants,
            files=files,
            train_config=train_config,
            extra={k: v for k, v in data.items() if k not in known},
        )
        _check_listed(manifest, source)
        return manifest


def _load_json(path: Path) -> Any:
    """`path` parsed as JSON; an `InputError` for an oversized, non-UTF-8 or invalid file."""
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise InputError(
            path, f"{size:,} bytes: expected a manifest of at most {MAX_MANIFEST_BYTES:,} bytes"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError, an over-long integer
        raise InputError(path, f"not valid JSON ({err})") from err
    except RecursionError as err:
        raise InputError(path, "not valid JSON (nested too deeply)") from err


def _version(version: int, source) -> int:
    if version not in SUPPORTED_VERSIONS:
        raise InputError(
            source,
            f"format_version {version} is not one this keras_lm reads "
            f"({list(SUPPORTED_VERSIONS)}); export the run again with this version",
        )
    return version


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
        """`data[name]` if it is of `kind` (a type or tuple of types); `default` when absent."""
        if name not in self.data:
            if default is self._MISSING:
                raise InputError(self.source, f"missing field {self.prefix}{name}")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            expected = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise InputError(
                self.source, f"field {self.prefix}{name}: expected {expected}, got {value!r:.60}"
            )
        return value

    def one_of(self, name: str, allowed: tuple[str, ...], default=_MISSING) -> str:
        """`data[name]` if it is one of `allowed`."""
        value = self.get(name, str, default)
        if value not in allowed:
            raise InputError(
                self.source,
                f"field {self.prefix}{name}: expected one of {list(allowed)}, got {value!r:.60}",
            )
        return value

    def size(self, name: str, default=_MISSING) -> int:
        """`data[name]` if it is a byte count from 0 to `MAX_FILE_BYTES`."""
        value = self.get(name, int, default)
        if not 0 <= value <= MAX_FILE_BYTES:
            raise InputError(
                self.source,
                f"field {self.prefix}{name}: expected a size from 0 to {MAX_FILE_BYTES:,} bytes, "
                f"got {value:.6g}",
            )
        return value


def _variant(data: Any, index: int, source) -> Variant:
    if not isinstance(data, dict):
        raise InputError(source, f"variants[{index}]: expected an object, got {data!r:.60}")
    field = _Fields(data, source, f"variants[{index}].")
    path = safe_relative(field.get("path", str), source, f"variants[{index}].path")
    return Variant(
        format=field.one_of("format", FORMATS),
        quantization=field.one_of("quantization", QUANTIZATIONS),
        path=path,
        bytes=field.size("bytes", 0),
        verification=field.get("verification", dict, {}),
        inputs=field.get("inputs", (dict, type(None)), None),
        outputs=field.get("outputs", (dict, type(None)), None),
        contract=field.one_of("contract", CONTRACTS, "graph_cache"),
    )


def _file_entry(rel: str, entry: Any, source) -> dict:
    """A `files` entry: `{"sha256": 64 lowercase hex digits, "bytes": a sane size}`."""
    where = f"files[{rel!r:.80}]"
    if not isinstance(rel, str):
        raise InputError(source, f"{where}: expected a path (str)")
    safe_relative(rel, source, where)
    if not isinstance(entry, dict):
        raise InputError(source, f"{where}: expected {{'sha256': str, 'bytes': int}}")
    field = _Fields(entry, source, f"{where}.")
    digest = field.get("sha256", str)
    if not _SHA256.fullmatch(digest):
        raise InputError(
            source, f"{where}.sha256: expected 64 lowercase hex digits, got {digest!r:.80}"
        )
    field.size("bytes")
    return entry


def _facts(facts: dict, source) -> dict:
    _Fields(facts, source, "facts.").get("context", (int, type(None)), None)
    return facts


def _specials(specials: dict, source) -> dict:
    """Special tokens: each `*_id` an int (the benchmarks feed them as token ids)."""
    field = _Fields(specials, source, "specials.")
    for key in specials:
        if isinstance(key, str) and key.endswith("_id"):
            field.get(key, int)
    return specials


def _labels(labels: list | None, source) -> list[str] | None:
    if labels is not None and not all(isinstance(label, str) for label in labels):
        raise InputError(source, f"field labels: expected a list of str, got {labels!r:.60}")
    return labels


def _check_train_config(train_config: dict, source) -> None:
    """The run's `data` and `model` sections, and the `data` fields the runtime reads."""
    field = _Fields(train_config, source, "train_config.")
    field.get("model", (dict, type(None)), None)
    data = field.get("data", (dict, type(None)), None) or {}
    data_field = _Fields(data, source, "train_config.data.")
    for name in ("max_length", "max_source_length", "max_target_length"):
        data_field.get(name, (int, type(None)), None)
    if data.get("overflow") is not None:
        data_field.one_of("overflow", OVERFLOWS)


def _check_listed(manifest: Manifest, source) -> None:
    """Every variant, and the tokenizer of a bundle with variants, has listed files."""
    for index, variant in enumerate(manifest.variants):
        if not manifest.files_of(variant):
            raise InputError(
                source,
                f"variants[{index}].path: {variant.path!r} ({variant.key}) has no file in "
                "`files`: expected every file a runtime loads listed with its sha256",
            )
    if manifest.variants and manifest.tokenizer not in manifest.files:
        raise InputError(
            source,
            f"files: expected {manifest.tokenizer!r} listed with its sha256 (the runtime loads it)",
        )


def safe_relative(path: str, source, field: str) -> str:
    """`path` if it is relative, normalised and stays inside the bundle; an `InputError` otherwise.

    Lexical only (`keras_lm.inference.bundle_files.inside` resolves symlinks on disk).

    >>> safe_relative("tflite/model.tflite", "manifest.json", "path")
    'tflite/model.tflite'
    >>> safe_relative("tokenizer/../../etc/passwd", "manifest.json", "files")
    Traceback (most recent call last):
    ...
    keras_lm.errors.InputError: manifest.json: files: 'tokenizer/../../etc/passwd' leaves the bundle
    >>> safe_relative("onnx//./decode.onnx", "manifest.json", "files")
    Traceback (most recent call last):
    ...
    keras_lm.errors.InputError: manifest.json: files: 'onnx//./decode.onnx' is not normalised (expected 'onnx/decode.onnx')
    """
    pure = PurePosixPath(path)
    if (
        not path
        or pure.is_absolute()
        or ".." in pure.parts
        or "\\" in path
        or re.match(r"[A-Za-z]:", path)
    ):
        raise InputError(source, f"{field}: {path!r:.80} leaves the bundle")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise InputError(source, f"{field}: {path!r:.80} holds a control character")
    if str(pure) != path or path == ".":
        raise InputError(
            source, f"{field}: {path!r:.80} is not normalised (expected {str(pure)!r:.80})"
        )
    return path
