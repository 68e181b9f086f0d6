"""`export_run(run_dir, ExportConfig)`: a verified bundle under `export/<name>/`, or nothing.

Data flow: run checkpoint -> export graphs -> SavedModel -> TFLite / ONNX variants ->
each variant verified against Keras -> manifest.json. Everything is built in a
temporary directory beside the target and renamed into place only when every
variant passed verification, so a failed export leaves no bundle behind.

Example:
>>> ExportConfig(formats=("tflite",), quantize=("int8",)).variants()
[('tflite', 'float32'), ('tflite', 'int8')]
>>> ExportConfig(formats=("pdf",))
Traceback (most recent call last):
...
keras_lm.errors.ConfigError: formats: unknown 'pdf'; expected some of ['savedmodel', 'tflite', 'onnx']
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

from keras_lm.config import Config
from keras_lm.errors import ConfigError
from keras_lm.errors import InputError
from keras_lm.export.onnx import quantize_onnx_dynamic
from keras_lm.export.onnx import quantize_onnx_weight_only
from keras_lm.export.onnx_worker import convert_in_subprocess
from keras_lm.export.probes import build_probe
from keras_lm.export.probes import calibration_samples
from keras_lm.export.savedmodel import write_savedmodel
from keras_lm.export.text_signatures import text_signatures
from keras_lm.export.tflite import check_builtins_only
from keras_lm.export.tflite import convert_tflite
from keras_lm.export.tflite_weight_only import quantize_tflite_weight_only
from keras_lm.export.verify import TOLERANCES
from keras_lm.export.verify import VerificationError
from keras_lm.export.verify import verify_text_signatures
from keras_lm.export.verify import verify_variant
from keras_lm.framing import Framing
from keras_lm.generation.keras_graphs import KerasGraphs
from keras_lm.inference.manifest import CONTRACTS
from keras_lm.inference.manifest import FORMAT_VERSION
from keras_lm.inference.manifest import Manifest
from keras_lm.io import atomic_dir
from keras_lm.io import sha256_file
from keras_lm.models.family import Family
from keras_lm.models.graph_parts import prefill_buckets
from keras_lm.models.registry import get_family
from keras_lm.runs import open_run
from keras_lm.runtime.litert_runner import LiteRTGraphs
from keras_lm.runtime.onnx_runner import OnnxGraphs

log = logging.getLogger(__name__)

FORMATS = ("savedmodel", "tflite", "onnx")
ONNX_WEIGHT_ONLY = {"int8-weight-only": 8, "int4-weight-only": 4}  # name -> bits
QUANTIZATIONS = {
    "tflite": ("fp16", "int8", "int8-full", "int8-weight-only"),
    "onnx": ("int8", *ONNX_WEIGHT_ONLY),
}
ALL_QUANTIZATIONS = ("fp16", "int8", "int8-full", *ONNX_WEIGHT_ONLY)


@dataclasses.dataclass(frozen=True)
class ExportConfig(Config):
    """What to export. The same fields as `keras-lm export`'s options.

    formats: any of "savedmodel", "tflite", "onnx".
    quantize: any of "fp16", "int8", "int8-full" (TFLite), "int8" (ONNX Runtime's dynamic
        quantization), "int8-weight-only" (TFLite: per-channel int8 weights, float compute;
        ONNX: block-wise `MatMulNBits`) and "int4-weight-only" (ONNX); each format gets the
        ones it has, and float32.
    out: folder bundles go into (a bundle is `out/<name>`).
    name: bundle name (default: the run's config name).
    checkpoint: "best" or "final".
    overwrite: replace an existing bundle.
    opset: ONNX opset.
    decode_graphs: the cache contract of the TFLite and ONNX graphs, for families that have
        both (`keras_lm.inference.manifest.CONTRACTS`): "runtime_cache" (each runtime's
        own graphs: the runtime keeps the cache; TFLite at batch 1 with static prefill
        lengths) or "graph_cache" (the SavedModel's graphs, whole cache in and out).
    float32: also ship each format's float32 variant (the SavedModel always is); False ships
        only the `quantize` variants, for a model whose float32 TFLite would pass 2 GiB.
    """

    formats: tuple[str, ...] = FORMATS
    quantize: tuple[str, ...] = ()
    out: str = "export"
    name: str | None = None
    checkpoint: str = "best"
    overwrite: bool = False
    opset: int = 17
    decode_graphs: str = "runtime_cache"
    float32: bool = True

    def __post_init__(self):
        _check_names("formats", self.formats, FORMATS)
        _check_names("decode_graphs", (self.decode_graphs,), CONTRACTS)
        _check_names("quantize", self.quantize, ALL_QUANTIZATIONS)
        if not self.float32 and not any(
            q in QUANTIZATIONS.get(f, ()) for f in self.formats for q in self.quantize
        ):
            raise ConfigError("float32: false leaves nothing to export; name a --quantize")
        if self.opset < 17:
            raise ConfigError(f"opset: expected 17 or newer, got {self.opset}")

    def variants(self) -> list[tuple[str, str]]:
        """(format, quantization) pairs to build; savedmodel is float32 only."""
        out = []
        for fmt in self.formats:
            if self.float32 or fmt == "savedmodel":
                out.append((fmt, "float32"))
            out += [(fmt, q) for q in self.quantize if q in QUANTIZATIONS.get(fmt, ())]
        return out


FLATBUFFER_LIMIT = 2**31  # bytes: a .tflite file is one flatbuffer, addressed by 32-bit offsets
WEIGHT_BYTES = {"float32": 4, "fp16": 2, "int8": 1, "int8-full": 1}


def check_flatbuffer_limit(params: int, config: ExportConfig) -> None:
    """Refuse, before any conversion, a TFLite variant whose weights alone pass 2 GiB.

    >>> check_flatbuffer_limit(700_000_000, ExportConfig(formats=("onnx",)))  # no TFLite: fine
    >>> check_flatbuffer_limit(700_000_000, ExportConfig(formats=("tflite",)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    keras_lm.errors.ConfigError: the float32 TFLite file of this model (700,000,000 parameters) would hold 2.6 GiB of weights, past ...
    """
    for fmt, quantization in config.variants():
        size = params * WEIGHT_BYTES.get(quantization, 4)
        if fmt == "tflite" and size >= FLATBUFFER_LIMIT:
            raise ConfigError(
                f"the {quantization} TFLite file of this model ({params:,} parameters) would hold "
                f"{size / 2**30:.1f} GiB of weights, past the 2 GiB flatbuffer limit: export TFLite "
                f"as int8 only (--quantize int8 --no-float32, about {params / 2**30:.1f} GiB), or "
                "use ONNX (--format onnx), whose weights may live outside the graph"
            )


def _check_names(field: str, given, allowed) -> None:
    for name in given:
        if name not in allowed:
            raise ConfigError(f"{field}: unknown {name!r}; expected some of {list(allowed)}")


def export_run(run_dir: str | Path, config: ExportConfig = ExportConfig()) -> Path:
    """Export, verify and write the bundle; return its path. Raises before writing on any failure."""

    run = open_run(run_dir)
    target = Path(config.out) / (config.name or run.config.name)
    if target.exists() and any(target.iterdir()) and not config.overwrite:
        raise InputError(target, "a bundle is already there; pass --overwrite to replace it")
    model = run.model(
        config.checkpoint
    )  # errors on a missing or corrupted checkpoint, before any work
    check_flatbuffer_limit(model.count_params(), config)
    start = time.perf_counter()
    with atomic_dir(target, overwrite=True) as tmp:
        manifest = _build(run, model, config, tmp)
        manifest["export_seconds"] = round(time.perf_counter() - start, 1)
        _write_manifest(tmp, manifest)
    return target


def record_source_run(bundle: str | Path, source_run: str | Path) -> None:
    """Name `source_run` as the bundle's run: where it will be once renamed into place.

    For a run and its bundles built together in a temporary folder (the demo), which
    `export_run` would otherwise record as `source_run` (and the `checkpoint` in it).
    """
    path = Path(bundle) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    old = Path(manifest["source_run"])
    manifest["source_run"] = str(source_run)
    checkpoint = Path(manifest.get("checkpoint") or "")
    if checkpoint.is_relative_to(old):
        manifest["checkpoint"] = str(Path(source_run) / checkpoint.relative_to(old))
    _write_manifest(Path(bundle), manifest)


def _build(run, model, config: ExportConfig, folder: Path) -> dict:

    family = get_family(run.family)
    reference = KerasGraphs(
        model, jit_compile=False, max_target_length=run.config.data.max_target_length
    )
    run.tokenizer.save(folder / "tokenizer")
    held_out = run.splits().get("valid") or run.splits()["train"]  # read once, for every probe
    standard = _target(run, family, model, reference, held_out, None, "graph_cache")
    manifest = _manifest_head(run, model, config, standard.functions, reference.facts)

    text_facts = {
        **reference.facts,
        "labels": run.labels(),
        "max_length": run.config.data.max_length,
        "framing": run.framing() if family.task == "classify" else None,
        "prompt_head": Framing.prompt_head(run.config.model, run.tokenizer.specials),
    }
    strings, graph_tokenizer = {}, None
    if "savedmodel" in config.formats:
        strings, graph_tokenizer = text_signatures(model, family, run.tokenizer, text_facts)
    savedmodel = write_savedmodel(
        model, standard.functions, folder / "savedmodel", strings, graph_tokenizer
    )
    if strings:
        manifest["text_signatures"] = verify_text_signatures(
            savedmodel, family, reference, run, standard.probe
        )
    targets = {"savedmodel": standard}
    for fmt in ("tflite", "onnx"):
        if fmt in config.formats:
            targets[fmt] = _format_target(
                run, family, model, reference, held_out, config, fmt, standard
            )
    sources = {}
    for fmt in ("tflite", "onnx"):  # tensor graphs only: no tokenizer tables, no loops
        if fmt in targets:  # each converter runs in a child process, from a SavedModel
            sources[fmt] = write_savedmodel(
                model, targets[fmt].functions, folder / f".{fmt}-source"
            )
    job = _Job(folder, savedmodel, sources, targets, family, run, config)
    for fmt, quantization in config.variants():
        entry = _variant(job, fmt, quantization)
        manifest["variants"].append(entry)
        log.info("%s %s verified", fmt, quantization)
    for fmt in sources:
        _remove_tree(folder / f".{fmt}-source")
    for fmt in ("tflite", "onnx"):  # the float graphs --no-float32 quantized from
        _remove_tree(folder / f".{fmt}-float32")
    if "savedmodel" not in config.formats:
        _remove_tree(savedmodel)
    manifest["files"] = _file_hashes(folder)
    return manifest


@dataclasses.dataclass
class _Target:
    """One format's graphs, the Keras graphs they are verified against, and the probe."""

    functions: dict
    reference: object
    probe: object
    contract: str


def _target(run, family, model, reference, held_out, functions, contract: str) -> _Target:
    """`functions` (None: the family's standard graphs) with a Keras reference running the same ones."""
    if functions is not None:
        reference = KerasGraphs(
            model,
            jit_compile=False,
            max_target_length=run.config.data.max_target_length,
            functions=functions,
        )
    data = run.config.data
    probe = build_probe(
        reference,
        family,
        reference.facts,
        held_out,
        run.tokenizer,
        run.labels(),
        data.max_source_length,
        max_length=data.max_length,
        contract=contract,
        framing=run.framing() if family.task == "classify" else None,
    )
    probe.upstream = run.upstream()  # an imported preset's own library's outputs, or None
    return _Target(dict(reference.functions), reference, probe, contract)


def _format_target(
    run, family, model, reference, held_out, config, fmt: str, standard: _Target
) -> _Target:
    """The graphs `fmt` gets: the runtime-cache ones where the family has them, else the standard."""
    if family.runtime_cache_stepper is not None and config.decode_graphs == "runtime_cache":
        # TFLite LMs: batch 1, static prompt lengths, one XNNPACK-ready shape (seq2seq: no prompts)
        static = fmt == "tflite" and family.task == "lm"
        lengths = prefill_buckets(reference.facts["context"]) if static else None
        functions = family.runtime_cache_graphs(model, 1 if static else None, lengths, fmt)
        if static:  # the reference runs any batch over the same static lengths
            verified = family.runtime_cache_graphs(model, None, lengths, fmt)
            return dataclasses.replace(
                _target(run, family, model, reference, held_out, verified, "runtime_cache"),
                functions=functions,
            )
        return _target(run, family, model, reference, held_out, functions, "runtime_cache")
    if fmt == "tflite" and family.static_encoder_batch:
        # TFLite's builtin LSTM loop needs a static batch: such an encoder encodes one row at a time.
        return dataclasses.replace(standard, functions=family.export_graphs(model, encoder_batch=1))
    return standard


@dataclasses.dataclass
class _Job:
    """What every variant of one export shares."""

    folder: Path
    savedmodel: Path | None
    sources: dict[str, Path]  # format -> the SavedModel its converter child reads
    targets: dict[str, _Target]
    family: Family
    run: object
    config: ExportConfig


def _variant(job: _Job, fmt: str, quantization: str) -> dict:

    path, candidate = _convert(job, fmt, quantization)
    target = job.targets[fmt]
    try:
        results = verify_variant(
            target.reference,
            candidate,
            job.family,
            target.reference.facts,
            target.probe,
            TOLERANCES[quantization],
            job.run.tokenizer.specials,
        )
    except VerificationError as err:
        raise VerificationError(f"{fmt} {quantization}: {err}") from err
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    entry = {
        "format": fmt,
        "quantization": quantization,
        "path": str(path.relative_to(job.folder)),
        "bytes": sum(f.stat().st_size for f in files),
        "contract": target.contract,
        "verification": results,
    }
    if hasattr(candidate, "inputs"):  # this file's own shapes: fixed axes as ints, dynamic as null
        entry["inputs"] = {
            name: {k: list(shape) for k, (shape, _) in candidate.inputs(name).items()}
            for name in target.functions
        }
    if hasattr(candidate, "outputs"):
        entry["outputs"] = {
            name: {k: list(shape) for k, (shape, _) in candidate.outputs(name).items()}
            for name in target.functions
        }
    return entry


def _convert(job: _Job, fmt: str, quantization: str):
    """Write one variant; return its path and graphs runnable for verification."""
    if fmt == "savedmodel":
        return job.savedmodel, _SavedModelGraphs(job.savedmodel)
    if fmt == "tflite":
        return _convert_tflite(job, quantization)

    float_dir = job.folder / "onnx" / "float32"
    if quantization == "float32":
        names = sorted(job.targets["onnx"].functions)
        paths = convert_in_subprocess(job.sources["onnx"], names, float_dir, job.config.opset)
        return float_dir, OnnxGraphs(paths)
    if not float_dir.is_dir():  # --no-float32: the float graphs only as the quantizer's input
        float_dir = job.folder / ".onnx-float32"
        if not float_dir.is_dir():
            names = sorted(job.targets["onnx"].functions)
            convert_in_subprocess(job.sources["onnx"], names, float_dir, job.config.opset)
    out_dir = job.folder / "onnx" / quantization
    out_dir.mkdir(parents=True, exist_ok=True)
    bits = ONNX_WEIGHT_ONLY.get(quantization)
    paths = {
        p.stem: quantize_onnx_dynamic(p, out_dir / p.name)
        if bits is None
        else quantize_onnx_weight_only(p, out_dir / p.name, bits)
        for p in sorted(float_dir.glob("*.onnx"))
    }
    return out_dir, OnnxGraphs(paths)


def _convert_tflite(job: _Job, quantization: str):
    path = job.folder / "tflite" / f"model.{quantization}.tflite"
    path.parent.mkdir(parents=True, exist_ok=True)
    if quantization == "int8-weight-only":  # from the float32 file, converted once
        source = path.parent / "model.float32.tflite"
        if not source.is_file():  # --no-float32: a hidden one
            source = _tflite_file(job, job.folder / ".tflite-float32" / source.name, "float32")
        quantize_tflite_weight_only(source, path)
        check_builtins_only(path)
        return path, LiteRTGraphs(path)
    return _tflite_file(job, path, quantization), LiteRTGraphs(path)


def _tflite_file(job: _Job, path: Path, quantization: str) -> Path:
    """The converter's `.tflite` of the run's graphs at `quantization`, builtins checked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = job.targets["tflite"]
    representative = None
    if quantization == "int8-full":
        samples = calibration_samples(target.reference, job.family, target.probe)
        representative = [
            {g: _fit_batch(target.functions[g], inputs) for g, inputs in sample.items()}
            for sample in samples
        ]
    quantize = None if quantization == "float32" else quantization
    keys = sorted(target.functions)
    convert_tflite(job.sources["tflite"], path, quantize, representative, signature_keys=keys)
    check_builtins_only(path)
    return path


def _fit_batch(function, inputs: dict) -> dict:
    """`inputs` cut to the first rows where `function` has a static batch (TFLite's batch 1)."""
    batch = function.input_signature[0].shape[0]
    return inputs if batch is None else {k: v[:batch] for k, v in inputs.items()}


class _SavedModelGraphs:
    """The written SavedModel, reloaded, as `graphs` for verification."""

    def __init__(self, path: Path):
        import tensorflow as tf

        self.loaded = tf.saved_model.load(str(path))

    def inputs(self, name: str) -> dict[str, tuple]:
        _, specs = self.loaded.signatures[name].structured_input_signature
        return {k: (tuple(s.shape.as_list()), s.dtype.name) for k, s in specs.items()}

    def run(self, name: str, **inputs) -> dict:
        return {k: v.numpy() for k, v in self.loaded.signatures[name](**inputs).items()}


def _manifest_head(run, model, config, graphs, facts) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "name": config.name or run.config.name,
        "family": run.family,
        "task": run.task,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source_run": str(run.path),
        "checkpoint": str(run.checkpoint(config.checkpoint)),
        "train_config": run.config.to_dict(),
        "params": int(model.count_params()),
        "facts": facts,
        "specials": dataclasses.asdict(run.tokenizer.specials),
        "labels": run.labels(),
        "tokenizer": "tokenizer/tokenizer.json",
        "graphs": {name: _describe(fn) for name, fn in graphs.items()},
        "versions": _versions(),
        "variants": [],
    }


def _describe(fn) -> dict:
    concrete = fn.get_concrete_function()
    inputs = [
        {"name": s.name, "dtype": s.dtype.name, "shape": s.shape.as_list()}
        for s in fn.input_signature
    ]
    outputs = [
        {"name": k, "dtype": v.dtype.name, "shape": v.shape.as_list()}
        for k, v in sorted(concrete.structured_outputs.items())
    ]
    return {"inputs": inputs, "outputs": outputs}


def _versions() -> dict:
    from importlib import metadata

    names = [
        "keras_lm",
        "tensorflow",
        "keras",
        "keras-hub",
        "tf2onnx",
        "onnx",
        "onnxruntime",
        "ai-edge-litert",
    ]
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _file_hashes(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def _write_manifest(folder: Path, manifest: dict) -> None:
    """Written through the reader's own checks: what export writes, the runtime reads."""
    Manifest.from_dict(json.loads(json.dumps(manifest, default=str))).write(folder)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
