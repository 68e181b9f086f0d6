"""Mobile readiness of a bundle's `.tflite` files: what an app developer checks before shipping one.

For every TFLite variant the manifest lists (float32, fp16, int8, int8-full: whichever
exist) the report gives:

- the file: size, and its sha256, the one recorded (and verified) at export: a file the
  manifest does not list, or of another size or sha256, is refused before it is read;
- its ops: a histogram over the whole file and per signature, and the builtin-only check
  (a Flex or custom op is named as a failure: LiteRT's builtin resolver cannot run it,
  so such a file gets no signatures, memory or timings);
- every signature's inputs and outputs: name, shape (None for a dynamic axis), dtype, and
  the shape fed here (batch 1, `length` on every other dynamic axis);
- memory: `arena_bytes` per signature, the sum of the byte sizes of every non-constant
  tensor of the signature's subgraph (inputs, outputs and intermediates) at the fed shapes
  after one call. LiteRT's arena planner lets tensors whose lifetimes do not overlap share
  memory, so the real tensor arena is at most this: an upper bound without reuse, not
  counting the weights (mapped from the file) nor XNNPACK's packed weights and scratch.
  Beside it, measured in a fresh Python subprocess so that memory freed by earlier
  interpreters cannot hide growth, the resident-set growth (Linux `/proc/self/statm`;
  None elsewhere) of loading the interpreter, of `allocate_tensors()` at the file's
  default shapes, and of the first call of every signature at the fed shapes (the
  resize, XNNPACK's weight packing and workspace, the pages of the file touched);
- speed: the wall time of one signature-runner call (set inputs, invoke, copy outputs
  out) with LiteRT's default XNNPACK delegate at each thread count, after warm-up calls,
  as p50/p90/min in ms. The Python signature runner also re-checks shapes on each call,
  which an app on a phone pays too; the figures are this machine's, not a phone's.

Inputs are made from each signature's input details: token ids cycle through the
manifest's special ids (0..4, always valid), masks are ones, positions count from 0, and
everything else (caches, states) is zeros. This module imports numpy and `ai_edge_litert`
only (never tensorflow or keras), so it runs with the [runtime] extra alone.

Example (needs an exported bundle, so not run here):
>>> report = mobile_report("export/shakespeare-baby", threads=(1, 2), repeats=20)  # doctest: +SKIP
>>> [v["quantization"] for v in report["variants"]]  # doctest: +SKIP
['float32', 'fp16', 'int8', 'int8-full']
>>> print(format_markdown(report))  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from keras_lm.bench.delegation import delegation
from keras_lm.errors import ConfigError
from keras_lm.errors import InputError
from keras_lm.inference.bundle_files import variant_files
from keras_lm.inference.manifest import Manifest
from keras_lm.inference.manifest import Variant
from keras_lm.io import write_text_atomic
from keras_lm.runtime.litert_runner import FLATBUFFER_ERRORS
from keras_lm.runtime.litert_runner import not_a_flatbuffer

WARMUP_CALLS = 3


def _manifest(bundle: Path) -> Manifest:
    """The bundle's checked manifest; an `InputError` naming `bundle` if it is not one."""
    if not bundle.is_dir():
        raise InputError(str(bundle), "no such bundle folder (make one with `keras-lm export RUN`)")
    return Manifest.read(bundle)


def _tflite_variants(manifest: Manifest, bundle: Path) -> list[Variant]:
    variants = [v for v in manifest.variants if v.format == "tflite"]
    if not variants:
        have = [v.key for v in manifest.variants]
        raise InputError(
            str(bundle), f"no tflite variant; the bundle has {have} (export with --format tflite)"
        )
    return variants


def _feed_length(manifest: Manifest) -> int:
    """The length fed on dynamic non-batch axes: source length, context, or max_length."""
    data = manifest.data
    if "encode" in manifest.graphs:
        return int(data.get("max_source_length") or 16)
    return int(manifest.facts.get("context") or data.get("max_length") or 16)


def _token_ids(manifest: Manifest) -> list[int]:
    """Ids every tokenizer has: the manifest's special ids (pad, unk, start, end, mask)."""
    specials = manifest.specials
    ids = sorted({int(v) for k, v in specials.items() if k.endswith("_id")})
    return ids or [0, 1, 2, 3, 4]


def _has_data(buffer) -> bool:
    """Whether a flatbuffer buffer holds constant data (inline, or at an offset past 2 GB)."""
    offset = buffer.Offset() if hasattr(buffer, "Offset") else 0
    return buffer.DataLength() > 0 or offset > 1


def _read_model(path: Path) -> dict:
    """Per subgraph its ops `(name, is_custom)` and constant tensor indices; signature -> subgraph."""
    # The interpreter's _get_ops_details() lists subgraph 0 only (NodeName takes no subgraph
    # index), so the ops of every signature are read from the flatbuffer with the schema that
    # ai_edge_litert ships (no TensorFlow needed).
    content = path.read_bytes()
    if len(content) < 8 or content[4:8] != b"TFL3":
        raise InputError(str(path), "not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        return _walk_model(content)
    except FLATBUFFER_ERRORS as err:
        raise not_a_flatbuffer(path, err) from err


def _walk_model(content: bytes) -> dict:
    """`_read_model` of a flatbuffer's bytes; a damaged one raises one of `FLATBUFFER_ERRORS`."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content, 0)
    names = {value: key for key, value in vars(schema.BuiltinOperator).items() if key.isupper()}
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:  # Flex ops are custom ops named Flex*
            codes.append(((code.CustomCode() or b"<unnamed custom op>").decode(), True))
        else:
            codes.append((names.get(builtin, f"BUILTIN_{builtin}"), False))
    subgraphs = []
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        ops = [codes[graph.Operators(o).OpcodeIndex()] for o in range(graph.OperatorsLength())]
        constant = {
            t
            for t in range(graph.TensorsLength())
            if graph.Tensors(t).Buffer() < model.BuffersLength()
            and _has_data(model.Buffers(graph.Tensors(t).Buffer()))
        }
        subgraphs.append({"ops": ops, "constant": constant})
    signatures = {
        model.SignatureDefs(i).SignatureKey().decode(): model.SignatureDefs(i).SubgraphIndex()
        for i in range(model.SignatureDefsLength())
    }
    return {"subgraphs": subgraphs, "signatures": signatures}


def _histogram(ops: list[tuple[str, bool]]) -> dict[str, int]:
    return dict(sorted(collections.Counter(name for name, _ in ops).items()))


def _interpreter(path: Path, num_threads: int):
    """A LiteRT interpreter with its default (XNNPACK) delegate at `num_threads` threads."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.interpreter import OpResolverType

    try:
        return Interpreter(
            model_path=str(path),
            num_threads=num_threads,
            experimental_op_resolver_type=OpResolverType.AUTO,
        )
    except (RuntimeError, ValueError) as err:
        raise InputError(str(path), f"LiteRT cannot load this model: {err}") from err


def _tensor_specs(details: dict) -> list[dict]:
    """Signature tensor details -> `[{name, shape (None: dynamic), dtype}]`."""
    specs = []
    for name, detail in details.items():
        signature = detail.get("shape_signature")
        if signature is None or len(signature) == 0:
            signature = detail["shape"]
        shape = [int(d) if d >= 0 else None for d in signature]
        specs.append({"name": name, "shape": shape, "dtype": np.dtype(detail["dtype"]).name})
    return specs


def _fill(spec: dict, length: int, ids: list[int]) -> np.ndarray:
    """A valid input for `spec`: batch 1, `length` on other dynamic axes (see the module doc)."""
    shape = tuple(
        (1 if axis == 0 else length) if d is None else d for axis, d in enumerate(spec["shape"])
    )
    dtype, name = np.dtype(spec["dtype"]), spec["name"]
    if dtype.kind not in "biuf":
        raise InputError(name, f"cannot make a {dtype} input for timing")
    if "mask" in name:
        return np.ones(shape, dtype)
    if dtype.kind in "iu" and "position" in name:
        last = shape[-1] if shape else 1
        return np.broadcast_to(np.arange(last, dtype=dtype), shape).copy()
    if dtype.kind in "iu" and "token" in name:
        return np.resize(np.asarray(ids, dtype), shape)
    return np.zeros(shape, dtype)


def _feeds(interpreter, length: int, ids: list[int]) -> dict[str, dict[str, np.ndarray]]:
    """signature -> input name -> array, for every signature of `interpreter`."""
    feeds = {}
    for name in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(name)
        specs = _tensor_specs(runner.get_input_details())
        feeds[name] = {spec["name"]: _fill(spec, length, ids) for spec in specs}
    return feeds


def _arena_bytes(interpreter, subgraph: int, constant: set[int]) -> int:
    """Bytes of every non-constant tensor of `subgraph` at its current shapes (no reuse)."""
    total = 0
    for detail in interpreter.get_tensor_details(subgraph):
        if detail["index"] not in constant:
            total += int(np.prod(detail["shape"])) * np.dtype(detail["dtype"]).itemsize
    return total


def _timings(runner, feed: dict[str, np.ndarray], repeats: int) -> dict:
    """p50/p90/min ms of `repeats` calls of `runner` on `feed`, after warm-up calls."""
    for _ in range(WARMUP_CALLS):
        runner(**feed)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner(**feed)
        times.append((time.perf_counter() - start) * 1e3)
    p50, p90 = np.percentile(times, [50, 90])
    return {
        "p50_ms": round(float(p50), 4),
        "p90_ms": round(float(p90), 4),
        "min_ms": round(min(times), 4),
    }


def _rss() -> int | None:
    """This process's resident set in bytes (Linux); None where /proc is absent."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _growth(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


def _memory_probe(path: str, num_threads: int, length: int, ids: list[int]) -> dict:
    """RSS growth of load, `allocate_tensors()` and first calls; meant for a fresh process."""
    from ai_edge_litert.interpreter import Interpreter  # noqa: F401  (imported before measuring)

    start = _rss()
    interpreter = _interpreter(Path(path), num_threads)
    loaded = _rss()
    interpreter.allocate_tensors()
    allocated = _rss()
    for name, feed in _feeds(interpreter, length, ids).items():
        interpreter.get_signature_runner(name)(**feed)
    called = _rss()
    return {
        "threads": num_threads,
        "rss_load_bytes": _growth(start, loaded),
        "rss_allocate_bytes": _growth(loaded, allocated),
        "rss_first_calls_bytes": _growth(allocated, called),
    }


def _memory(path: Path, num_threads: int, length: int, ids: list[int]) -> dict:
    """`_memory_probe` in a fresh Python subprocess; `{"error": ...}` if it fails."""
    code = (
        "import json, sys; from keras_lm.bench.mobile import _memory_probe; "
        "print(json.dumps(_memory_probe(*json.loads(sys.argv[1]))))"
    )
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    args = json.dumps([str(path), num_threads, length, ids])
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, args],
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {"error": "the memory probe timed out after 600 s"}
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"error": f"the memory probe exited with {done.returncode}: {tail}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _signatures(path: Path, model: dict, settings: dict) -> dict:
    """Per signature: specs, fed shapes, ops, arena bytes and timings at each thread count."""
    report, feeds = {}, None
    for n in settings["threads"]:
        interpreter = _interpreter(path, n)
        feeds = feeds or _feeds(interpreter, settings["length"], settings["ids"])
        for name, feed in feeds.items():
            runner = interpreter.get_signature_runner(name)
            subgraph = model["signatures"][name]
            if name not in report:
                ops = model["subgraphs"][subgraph]["ops"]
                report[name] = {
                    "subgraph": subgraph,
                    "inputs": _tensor_specs(runner.get_input_details()),
                    "outputs": _tensor_specs(runner.get_output_details()),
                    "fed": {key: list(value.shape) for key, value in feed.items()},
                    "ops": len(ops),
                    "op_histogram": _histogram(ops),
                    "timings": [],
                }
            timing = _timings(runner, feed, settings["repeats"])
            report[name]["timings"].append({"threads": n, **timing})
            if "arena_bytes" not in report[name]:  # after the calls: tensors at the fed shapes
                constant = model["subgraphs"][subgraph]["constant"]
                report[name]["arena_bytes"] = _arena_bytes(interpreter, subgraph, constant)
    return dict(sorted(report.items()))


def _variant_report(bundle: Path, manifest: Manifest, variant: Variant, settings: dict) -> dict:
    """The report of one `.tflite` variant (see the module docstring)."""
    paths = variant_files(bundle, manifest, variant)  # listed, inside, size and sha256 checked
    if len(paths) != 1 or paths[0].suffix != ".tflite":
        raise InputError(bundle / variant.path, "expected one listed .tflite file")
    path = paths[0]
    model = _read_model(path)
    ops = [op for graph in model["subgraphs"] for op in graph["ops"]]
    custom = sorted({name for name, is_custom in ops if is_custom})
    row = {
        "quantization": variant.quantization,
        "path": variant.path,
        "bytes": path.stat().st_size,
        "sha256_matches_manifest": True,  # else `variant_files` refused the file
        "verified_at_export": variant.verification.get("passed"),
        "ops": len(ops),
        "op_histogram": _histogram(ops),
        "builtin_only": not custom,
        "custom_ops": custom,
    }
    if custom:
        row["error"] = (
            f"LiteRT's builtin op resolver cannot run {', '.join(custom)} (Flex ops need the "
            "Select TF ops delegate): no signatures, memory or timings"
        )
        return row
    row["signatures"] = _signatures(path, model, settings)
    row["delegation"] = delegation(path, settings["threads"][0])
    row["memory"] = _memory(path, settings["threads"][0], settings["length"], settings["ids"])
    return row


def _check_settings(threads, repeats: int) -> tuple[int, ...]:
    threads = tuple(threads)
    if not threads or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in threads):
        raise ConfigError(f"threads must be ints >= 1, got {threads!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats must be an int >= 1, got {repeats!r}")
    return threads


def _litert_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        return None


def mobile_report(
    bundle: str | os.PathLike, threads: tuple[int, ...] = (1, 2), repeats: int = 20
) -> dict:
    """The mobile-readiness report (JSON-serialisable) of every `.tflite` variant of `bundle`.

    Args:
        bundle: an export bundle folder (`keras-lm export RUN` writes one).
        threads: LiteRT (XNNPACK) thread counts to time each signature at.
        repeats: timed calls per signature and thread count (after 3 warm-up calls).

    Returns:
        `{"bundle", "name", "family", "litert", "machine", "cpus", "threads", "repeats",
        "warmup", "length", "token_ids", "variants": [...]}`; each variant has `quantization`,
        `path`, `bytes`, `op_histogram`, `builtin_only`, `custom_ops`, `signatures` (per
        signature: `inputs`, `outputs`, `fed`, `op_histogram`, `arena_bytes`, `timings`) and
        `memory`; see the module docstring for what each figure measures.

    Raises:
        InputError: `bundle` is not a bundle folder, has no tflite variant, or a `.tflite`
            file that is missing, unlisted, changed since export or not a flatbuffer.
        ConfigError: bad `threads` or `repeats`.

    Example:
    >>> report = mobile_report("export/tiny-transformer-lm", threads=(1,), repeats=5)  # doctest: +SKIP
    >>> report["variants"][0]["signatures"]["decode"]["timings"][0]["p50_ms"]  # doctest: +SKIP
    0.0412
    """
    bundle = Path(bundle)
    manifest = _manifest(bundle)
    variants = _tflite_variants(manifest, bundle)
    threads = _check_settings(threads, repeats)
    settings = {
        "threads": threads,
        "repeats": repeats,
        "length": _feed_length(manifest),
        "ids": _token_ids(manifest),
    }
    return {
        "bundle": str(bundle),
        "name": manifest.name,
        "family": manifest.family,
        "litert": _litert_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "threads": list(threads),
        "repeats": repeats,
        "warmup": WARMUP_CALLS,
        "length": settings["length"],
        "token_ids": settings["ids"],
        "variants": [_variant_report(bundle, manifest, v, settings) for v in variants],
    }


def write_mobile_report(
    bundle: str | os.PathLike,
    out: str | os.PathLike,
    command: str = "",
    threads: tuple[int, ...] = (1, 2),
    repeats: int = 20,
) -> str:
    """`mobile_report`, written as `mobile.json` and `mobile.md` under `out`; the Markdown.

    The Markdown starts with the command that made it (`keras-lm bench mobile` passes its own).

    Example:
    >>> text = write_mobile_report("export/tiny", "reports/bench/tiny", threads=(1,))  # doctest: +SKIP
    """
    report = mobile_report(bundle, threads=threads, repeats=repeats)
    text = f"Command: `{command}`\n\n" + format_markdown(report)
    out = Path(out)
    write_text_atomic(out / "mobile.md", text)
    write_text_atomic(
        out / "mobile.json", json.dumps({"command": command, **report}, indent=2) + "\n"
    )
    return text


def _size(n: int | None) -> str:
    if n is None:
        return "n/a"
    if abs(n) < 1024:
        return f"{n} B"
    if abs(n) < 1024**2:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024**2:.2f} MiB"


def _shape(shape: list) -> str:
    axes = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(axes) + ("," if len(axes) == 1 else "") + ")"


def _summary_table(variant: dict) -> list[str]:
    memory = variant.get("memory", {})
    sha = {True: "matches", False: "**DIFFERS**", None: "not recorded"}
    builtin = "yes" if variant["builtin_only"] else "**NO**: " + ", ".join(variant["custom_ops"])
    return [
        "| size | sha256 vs manifest | builtin ops only | ops | signatures "
        "| RSS load | RSS allocate_tensors | RSS first calls |",
        "|---|---|---|---|---|---|---|---|",
        f"| {_size(variant['bytes'])} | {sha[variant['sha256_matches_manifest']]} | {builtin} "
        f"| {variant['ops']} | {', '.join(variant.get('signatures', {})) or '-'} "
        f"| {_size(memory.get('rss_load_bytes'))} | {_size(memory.get('rss_allocate_bytes'))} "
        f"| {_size(memory.get('rss_first_calls_bytes'))} |",
    ]


def _ops_table(variant: dict) -> list[str]:
    signatures = variant.get("signatures", {})
    lines = [
        "| op | file | " + " | ".join(signatures) + (" |" if signatures else ""),
        "|---|---|" + "---|" * len(signatures),
    ]
    for op, count in variant["op_histogram"].items():
        per = [str(s["op_histogram"].get(op, 0)) for s in signatures.values()]
        lines.append(f"| {op} | {count} | " + " | ".join(per) + (" |" if per else ""))
    return lines


def _shapes_table(variant: dict) -> list[str]:
    lines = [
        "| signature | tensor | name | shape | dtype | fed shape |",
        "|---|---|---|---|---|---|",
    ]
    for name, sig in variant.get("signatures", {}).items():
        for kind in ("inputs", "outputs"):
            for spec in sig[kind]:
                fed = _shape(sig["fed"][spec["name"]]) if kind == "inputs" else ""
                lines.append(
                    f"| {name} | {kind[:-1]} | {spec['name']} | {_shape(spec['shape'])} "
                    f"| {spec['dtype']} | {fed} |"
                )
    return lines


def _timings_table(variant: dict) -> list[str]:
    lines = [
        "| signature | threads | p50 ms | p90 ms | min ms | arena (non-constant tensors) |",
        "|---|---|---|---|---|---|",
    ]
    for name, sig in variant.get("signatures", {}).items():
        for t in sig["timings"]:
            lines.append(
                f"| {name} | {t['threads']} | {t['p50_ms']:.3f} | {t['p90_ms']:.3f} "
                f"| {t['min_ms']:.3f} | {_size(sig['arena_bytes'])} |"
            )
    return lines


def _delegation_line(found: dict) -> str:
    share = found["delegated_flops_share"]
    left = ", ".join(f"{op} x{n}" for op, n in found["left_out"].items()) or "none"
    return (
        f"XNNPACK on `{found['signature']}`: {found['partitions']} partition(s), "
        f"{found['delegated_nodes']} of {found['nodes']} ops and "
        f"{'-' if share is None else f'{100 * share:.1f}%'} of {found['flops']:,.0f} FLOPs "
        f"delegated; left to LiteRT's builtin kernels: {left}."
    )


def format_markdown(report: dict) -> str:
    """The report as Markdown: per `.tflite` file a summary, its ops, its signatures, timings.

    Example:
    >>> text = format_markdown(mobile_report("export/tiny-transformer-lm"))  # doctest: +SKIP
    >>> "tflite/model.float32.tflite" in text  # doctest: +SKIP
    True
    """
    threads = ", ".join(str(n) for n in report["threads"])
    lines = [
        f"# Mobile readiness: {report['name']} ({report['family']})",
        "",
        f"LiteRT {report['litert']} on {report['machine']} ({report['cpus']} CPUs), XNNPACK at "
        f"{threads} thread(s);",
        f"{report['repeats']} timed calls per signature after {report['warmup']} warm-up calls.",
        f"Inputs: batch 1, length {report['length']} on dynamic axes, token ids from "
        f"{report['token_ids']}.",
        "Arena: the bytes of every non-constant tensor at the fed shapes, without the planner's",
        "reuse (an upper bound). RSS: resident-set growth in a fresh process.",
    ]
    for variant in report["variants"]:
        lines += ["", f"## {variant['path']} ({variant['quantization']})", ""]
        lines += _summary_table(variant)
        if "error" in variant:
            lines += ["", f"**Not runnable:** {variant['error']}"]
        if "error" in variant.get("memory", {}):
            lines += ["", f"Memory probe failed: {variant['memory']['error']}"]
        if variant.get("delegation"):
            lines += ["", _delegation_line(variant["delegation"])]
        lines += ["", "Ops:", ""] + _ops_table(variant)
        if variant.get("signatures"):
            lines += ["", "Signatures:", ""] + _shapes_table(variant)
            lines += ["", "Timings (ms per signature call):", ""] + _timings_table(variant)
    return "\n".join(lines) + "\n"
