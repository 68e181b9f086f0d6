"""Convert a SavedModel's signatures into one LiteRT (TFLite) file, builtin ops only.

Every signature of the SavedModel (`prefill`, `decode`, `encode`, `classify` ...)
becomes a signature runner of ONE `.tflite` file. Only `TFLITE_BUILTINS` (plus
`TFLITE_BUILTINS_INT8` for full-integer) are allowed: no Select TF ("Flex") ops and no
custom ops, which `ai_edge_litert` cannot run. A graph that needs one fails to convert
with an `ExportError` naming the op; the written file is checked again with
`check_builtins_only` before it is renamed into place.

Quantization (`quantize=`):

    None / "float32"  float weights and activations
    "fp16"            float16 weights, dequantized at load; float32 compute
    "int8"            dynamic range: int8 weights (tensors of >= 1024 elements), float
                      activations quantized on the fly by the kernels that support it
    "int8-full"       full integer: int8 weights and activations, calibrated on
                      `representative` samples; float inputs/outputs stay float32 at the
                      signature boundary (QUANTIZE/DEQUANTIZE inside) and ids, positions
                      and masks stay int32; an op with no int8 kernel would stay float
                      (TFLITE_BUILTINS next to TFLITE_BUILTINS_INT8)

`TFLiteConverter.convert()` leaks memory on every call (about 20 MB on TF 2.21), so the
conversion runs in a fresh Python subprocess; this module itself never imports
TensorFlow (the parent process keeps no converter state). The output is written to a
temporary sibling and renamed: a failed conversion leaves no file behind.

`op_histogram` and `check_builtins_only` read the flatbuffer with the schema bundled in
`ai_edge_litert` (no TensorFlow, no interpreter, so they also work on files with Flex ops).

Example:
>>> from keras_lm.errors import ConfigError
>>> quantization_name(None), quantization_name("int8")
('float32', 'int8')
>>> quantization_name("int4")
Traceback (most recent call last):
...
keras_lm.errors.ConfigError: unknown TFLite quantization 'int4'; valid: float32, fp16, int8, int8-full
>>> convert_tflite("export/sm", "export/model.tflite", "fp16")  # doctest: +SKIP
PosixPath('export/model.tflite')
>>> op_histogram("export/model.tflite")  # doctest: +SKIP
{'ADD': 42, 'BATCH_MATMUL': 16, 'DEQUANTIZE': 39, 'FULLY_CONNECTED': 26, ...}
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from keras_lm.errors import ConfigError
from keras_lm.errors import InputError
from keras_lm.export.child import run_child
from keras_lm.export.errors import ExportError

QUANTIZATIONS = ("float32", "fp16", "int8", "int8-full")
# How much of the converter's message an ExportError keeps.
_MAX_MESSAGE = 4000

Representative = list[dict[str, dict[str, np.ndarray]]]


def quantization_name(quantize: str | None) -> str:
    """The canonical quantization name (`None` -> "float32"); `ConfigError` for an unknown one."""
    name = "float32" if quantize is None else str(quantize)
    if name not in QUANTIZATIONS:
        raise ConfigError(
            f"unknown TFLite quantization {name!r}; valid: {', '.join(QUANTIZATIONS)}"
        )
    return name


def convert_tflite(
    saved_model_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    quantize: str | None = None,
    representative: Representative | None = None,
    signature_keys: list[str] | None = None,
    timeout: float | None = None,
) -> Path:
    """Convert the SavedModel's signatures into one builtin-only `.tflite` file at `out_path`.

    Args:
        saved_model_dir: a SavedModel with one tensor signature per graph
            (`keras_lm.export.savedmodel.write_savedmodel`).
        out_path: the `.tflite` file to write (atomically; parents are created).
        quantize: None/"float32", "fp16", "int8" (dynamic range) or "int8-full".
        representative: for "int8-full" only (ignored otherwise): calibration samples, each
            `{signature_name: {input_name: array}}`; every converted signature needs at least
            one. Integer inputs are fed as int32, float ones as float32; dynamic axes may
            differ between samples.
        signature_keys: the signatures to convert (None: all of them).
        timeout: seconds the converter subprocess may run (None: no limit).

    Returns:
        `out_path` as a `Path`.

    Raises:
        ConfigError: an unknown `quantize`, or "int8-full" without usable samples.
        ExportError: the converter failed (its message is kept), or the result holds a
            Flex/custom op. Nothing is left at `out_path` (an existing file is untouched).
    """
    name = quantization_name(quantize)
    saved_model_dir = Path(saved_model_dir)
    if not (saved_model_dir / "saved_model.pb").is_file():
        raise InputError(str(saved_model_dir), "not a SavedModel directory (no saved_model.pb)")
    if name == "int8-full" and not representative:
        raise ConfigError("quantize='int8-full' needs representative samples to calibrate on")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with tempfile.TemporaryDirectory(prefix="keras_lm_tflite_") as work:
            job = {
                "saved_model": str(saved_model_dir.resolve()),
                "out": str(tmp),
                "quantize": name,
                "signature_keys": signature_keys,
                "representative": None,
                "error_file": str(Path(work, "error.json")),
            }
            if name == "int8-full":
                job["representative"] = _save_samples(representative, Path(work, "samples.npz"))
            _run_worker(job, Path(work, "job.json"), timeout)
        check_builtins_only(tmp)
        os.replace(tmp, out_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return out_path


def _save_samples(representative: Representative, path: Path) -> str:
    """Write the samples to an `.npz` (keys `index/signature/input`) for the worker."""
    arrays = {}
    for index, sample in enumerate(representative):
        if not isinstance(sample, dict):
            raise ConfigError(
                f"representative[{index}] must be a dict {{signature: {{input: array}}}}, "
                f"got {type(sample).__name__}"
            )
        for signature, inputs in sample.items():
            for key, value in inputs.items():
                if "/" in signature or "/" in key:
                    raise ConfigError(f"representative[{index}]: '/' in {signature}/{key}")
                arrays[f"{index:06d}/{signature}/{key}"] = np.asarray(value)
    np.savez(path, **arrays)
    return str(path)


def _worker_command(job_file: Path) -> list[str]:
    """The subprocess that converts: a fresh interpreter, so the converter's leak dies with it."""
    code = "import sys; from keras_lm.export.tflite import _main; sys.exit(_main(sys.argv[1:]))"
    return [sys.executable, "-c", code, "--worker", str(job_file)]


def _run_worker(job: dict, job_file: Path, timeout: float | None) -> None:
    """Run the converter subprocess on `job`; raise its ConfigError/ExportError here."""
    job_file.write_text(json.dumps(job))
    what = f"TFLite conversion ({job['quantize']}) of {job['saved_model']}"
    result = run_child(_worker_command(job_file), what, timeout)
    if result.returncode == 0 and Path(job["out"]).stat().st_size > 0:
        return
    error_file = Path(job["error_file"])
    if error_file.is_file():
        error = json.loads(error_file.read_text())
        if error["kind"] == "config":
            raise ConfigError(error["message"])
        raise ExportError(f"{what} failed: {error['message']}")
    tail = "\n".join(result.stderr.strip().splitlines()[-20:])
    raise ExportError(f"{what} failed: the converter exited with {result.returncode}:\n{tail}")


def _short_message(message: str) -> str:
    """The converter's `error:` lines (its notes and call-site chains dropped), shortened."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    errors = list(dict.fromkeys(line for line in lines if "error:" in line))
    text = "\n".join(errors) if errors else "\n".join(lines)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return text


def _main(argv: list[str]) -> int:
    """The converter subprocess: `--worker JOB.json` (see `_run_worker`)."""
    parser = argparse.ArgumentParser(prog="keras_lm.export.tflite")
    parser.add_argument("--worker", required=True, help="the job file the parent wrote")
    job = json.loads(Path(parser.parse_args(argv).worker).read_text())
    try:
        content = _convert_in_process(job)
    except ConfigError as err:
        Path(job["error_file"]).write_text(json.dumps({"kind": "config", "message": str(err)}))
        return 2
    except Exception as err:  # the converter's own exceptions: ConverterError, RuntimeError ...
        message = _short_message(f"{type(err).__name__}: {err}")
        if "only supports 1D-5D" in message:
            message += (
                "\n(int8-full calibration runs the float model on TensorFlow's own TFLite "
                "kernels, which take at most 5-D tensors there; LiteRT runs the float model, "
                "so only a <= 5-D layout of that tensor makes it quantizable)"
            )
        Path(job["error_file"]).write_text(json.dumps({"kind": "export", "message": message}))
        return 1
    with open(job["out"], "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    return 0


def _convert_in_process(job: dict) -> bytes:
    """Run `TFLiteConverter` on the job (imports TensorFlow: only ever in the subprocess)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(
        job["saved_model"], signature_keys=job["signature_keys"]
    )
    converter.allow_custom_ops = False
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    quantize = job["quantize"]
    if quantize != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8-full":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
        samples = _load_samples(job["representative"])
        _check_samples(samples, tf.saved_model.load(job["saved_model"]), job["signature_keys"])

        def representative_dataset():
            yield from samples

        converter.representative_dataset = representative_dataset
    return converter.convert()


def _load_samples(path: str) -> list[tuple[str, dict[str, np.ndarray]]]:
    """`(signature, {input: array})` per sample and signature; ints int32, floats float32."""
    grouped: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    with np.load(path) as data:
        for key in sorted(data.files):
            index, signature, name = key.split("/", 2)
            array = data[key]
            if array.dtype.kind in "biu":
                array = array.astype(np.int32)
            elif array.dtype.kind == "f":
                array = array.astype(np.float32)
            grouped.setdefault((index, signature), {})[name] = array
    return [(signature, inputs) for (_, signature), inputs in grouped.items()]


def _check_samples(samples, saved_model, signature_keys: list[str] | None) -> None:
    """Every converted signature has a sample, and every sample names real inputs."""
    wanted = list(signature_keys or saved_model.signatures.keys())
    for signature, inputs in samples:
        if signature not in saved_model.signatures:
            raise ConfigError(
                f"representative sample for unknown signature {signature!r}; "
                f"signatures: {', '.join(wanted)}"
            )
        expected = set(saved_model.signatures[signature].structured_input_signature[1])
        if set(inputs) != expected:
            raise ConfigError(
                f"representative sample of {signature!r} has inputs {sorted(inputs)}; "
                f"expected {sorted(expected)}"
            )
    missing = [key for key in wanted if key not in {s for s, _ in samples}]
    if missing:
        raise ConfigError(f"no representative samples for signature(s) {', '.join(missing)}")


def _schema():
    """The flatbuffer schema module: from ai_edge_litert, else from TensorFlow's TFLite."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:  # only the [train] extra: TensorFlow bundles the same schema
        from tensorflow.lite.python import schema_py_generated
    return schema_py_generated


def _ops(path: str | os.PathLike) -> list[tuple[str, bool]]:
    """`(op name, is custom)` for every operator of every subgraph, read from the flatbuffer."""
    content = Path(path).read_bytes()
    if content[4:8] != b"TFL3":
        raise InputError(str(path), "not a TFLite flatbuffer (no TFL3 identifier)")
    schema = _schema()
    names = {value: key for key, value in vars(schema.BuiltinOperator).items() if key.isupper()}
    model = schema.Model.GetRootAsModel(content, 0)
    ops = []
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            code = model.OperatorCodes(subgraph.Operators(o).OpcodeIndex())
            # Codes below 127 are also kept in the deprecated int8 field; take the larger.
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == schema.BuiltinOperator.CUSTOM:  # Flex ops are custom ops named Flex*
                ops.append(((code.CustomCode() or b"<unnamed custom op>").decode(), True))
            else:
                ops.append((names.get(builtin, f"BUILTIN_{builtin}"), False))
    return ops


def op_histogram(path: str | os.PathLike) -> dict[str, int]:
    """Op name -> number of uses over every subgraph (signature) of a `.tflite` file.

    Builtin ops are named as in the schema (`FULLY_CONNECTED`); custom ops by their custom
    code (Flex ops are `FlexStringLength` ...). Reads the flatbuffer only: no interpreter,
    no TensorFlow, so files with ops LiteRT cannot run are fine.
    """
    return dict(sorted(collections.Counter(name for name, _ in _ops(path)).items()))


def check_builtins_only(path: str | os.PathLike) -> dict[str, int]:
    """The op histogram of `path`; `ExportError` naming every Flex or custom op found."""
    ops = _ops(path)
    custom = collections.Counter(name for name, is_custom in ops if is_custom)
    if custom:
        flex = {k: v for k, v in sorted(custom.items()) if k.startswith("Flex")}
        other = {k: v for k, v in sorted(custom.items()) if not k.startswith("Flex")}
        parts = [f"Flex (Select TF) ops {flex}"] if flex else []
        parts += [f"custom ops {other}"] if other else []
        raise ExportError(
            f"{path}: {' and '.join(parts)}; LiteRT runs builtin ops only "
            "(rewrite the graph so that these ops lower to TFLite builtins)"
        )
    return dict(sorted(collections.Counter(name for name, _ in ops).items()))


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
