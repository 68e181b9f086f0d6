"""`keras-lm bench BUNDLE...`: inference speed, size, memory and quality kept, per export variant.

For every ONNX and TFLite variant of each bundle, at each thread count, one fresh
process (`keras_lm.bench.runtime_worker`) loads the bundle TensorFlow-free and
measures: process start to first token (cold start), load time, time to first
token, decode tokens/s, per-token latency p50/p90/p99 and peak RSS, at batch 1 and
8. In the same run, the baselines: Keras in-process generation (the run's model, its
XLA-compiled cached step), naive decoding that re-runs the whole sequence through
`prefill` for every token (float32 ONNX and Keras, decoder-only LMs), and, when a
torch_ref folder is given (`torch_ref`, None by default) and the torch venv exists,
PyTorch eager with and without its KV cache at the same architecture. Workers run one
at a time: the machine's cores are the thing measured. `run_bench` is
`keras-lm bench BUNDLE...`: the measurements, then bench.json, bench.md and the plots.

File size comes from the manifest, and "quality kept" is the variant's verification
record (perplexity, BLEU or accuracy of the exported file against the Keras model
on held-out data, measured when the bundle was written).

Example:
>>> RuntimeBenchConfig(engines=("coreml",))
Traceback (most recent call last):
...
keras_lm.errors.InputError: engines: unknown ['coreml']; expected some of ['onnx', 'tflite']
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from keras_lm.bench.anchors import DEFAULT_PYTHON
from keras_lm.bench.anchors import anchor_rows
from keras_lm.bench.runtime_report import format_markdown
from keras_lm.bench.runtime_report import write_plots
from keras_lm.bench.torch_decode import TORCH_REF_FAMILY
from keras_lm.bench.torch_decode import torch_decode_rows
from keras_lm.config import Config
from keras_lm.config import above
from keras_lm.config import at_least
from keras_lm.errors import InputError
from keras_lm.inference.manifest import Manifest
from keras_lm.io import write_text_atomic
from keras_lm.runtime.bundle import load_bundle_tokenizer
from keras_lm.runtime.bundle import read_manifest

ENGINES = ("onnx", "tflite")


@dataclasses.dataclass(frozen=True)
class RuntimeBenchConfig(Config):
    """What `bench_bundles` measures; the same fields as `keras-lm bench BUNDLE` options.

    threads / batches: the grid measured for every variant.
    prompt_length / new_tokens: the greedy workload (tokens; sources for seq2seq).
    repeats: timed generations per cell, after one warm-up.
    engines: runtime formats to measure ("onnx", "tflite").
    baselines: also time Keras in-process generation and naive full recompute.
    recompute: the naive-recompute rows of the baselines (their cost grows with the square of
        the length: at a 135M model, minutes a cell).
    torch_python / torch_ref: the torch venv's python and the torch_ref folder (a checkout
        of the PyTorch reference); PyTorch rows only when torch_ref is given and the
        python exists.
    anchors_python: the anchors venv's python (`make anchors`): Hugging Face eager,
        optimum ONNX + ORT, onnxruntime-genai and litert-torch at the bundle's weights,
        batch 1 (`keras_lm.bench.anchors`); no such rows when it does not exist.
    timeout_s: the longest one worker may run.
    """

    RANGES = {
        "threads": at_least(1),
        "batches": at_least(1),
        "prompt_length": at_least(1),
        "new_tokens": at_least(1),
        "repeats": at_least(1),
        "timeout_s": above(0),
    }

    threads: tuple[int, ...] = (1, 2)
    batches: tuple[int, ...] = (1, 8)
    prompt_length: int = 32
    new_tokens: int = 96
    repeats: int = 3
    engines: tuple[str, ...] = ENGINES
    baselines: bool = True
    recompute: bool = True
    torch_python: str = ".venv-torchref/bin/python"
    torch_ref: str | None = None
    anchors_python: str = DEFAULT_PYTHON
    timeout_s: float = 900.0

    def __post_init__(self):
        super().__post_init__()
        unknown = sorted(set(self.engines) - set(ENGINES))
        if unknown:
            raise InputError("engines", f"unknown {unknown}; expected some of {list(ENGINES)}")
        for field in ("threads", "batches"):
            if not getattr(self, field) or min(getattr(self, field)) < 1:
                raise InputError(field, "expected one or more integers >= 1")


def _job(bundle: Path, config: RuntimeBenchConfig, **fields) -> dict:
    return {
        "bundle": str(bundle),
        "batches": list(config.batches),
        "prompt_length": config.prompt_length,
        "new_tokens": config.new_tokens,
        "repeats": config.repeats,
        "mode": "cached",
        **fields,
    }


def plan_jobs(bundle: Path, manifest: Manifest, config: RuntimeBenchConfig) -> list[dict]:
    """Every worker job for one bundle, in the order they run."""
    lm = recomputes(manifest)
    keras = config.baselines and Path(manifest.extra.get("source_run") or "").is_dir()
    jobs = []
    for threads in config.threads:
        for variant in manifest.variants:
            if variant.format in config.engines:
                jobs.append(
                    _job(
                        bundle,
                        config,
                        engine=variant.format,
                        quantization=variant.quantization,
                        threads=threads,
                    )
                )
        if keras and manifest.task != "classify":
            jobs.append(
                _job(bundle, config, engine="keras", quantization="float32", threads=threads)
            )
        if config.baselines and config.recompute and lm:
            engines = [e for e in ENGINES if e in config.engines] + (["keras"] if keras else [])
            for engine in engines:
                jobs.append(
                    _job(
                        bundle,
                        config,
                        engine=engine,
                        quantization="float32",
                        threads=threads,
                        mode="recompute",
                        batches=[1],
                    )
                )
    return jobs


def recomputes(manifest: Manifest) -> bool:
    """Whether the naive-recompute baseline applies: an LM whose prefill scores a whole window."""
    return manifest.task == "lm" and "prefill" in manifest.graphs


def run_worker(job: dict, timeout: float) -> dict:
    """Run one job in a fresh interpreter; its JSON row (or an error row that says why)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(job["threads"]), TF_CPP_MIN_LOG_LEVEL="3")
    job = {**job, "spawn_time": time.time()}
    command = [sys.executable, "-m", "keras_lm.bench.runtime_worker", json.dumps(job)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {**job, "error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {**job, "error": " | ".join(tail) or f"exit {done.returncode}"}
    return json.loads(lines[-1])


def _variant_facts(manifest: Manifest, bundle: Path) -> dict:
    """(format, quantization) -> size in bytes and the verification's quality record."""
    facts = {}
    for variant in manifest.variants:
        path = bundle / variant.path
        size = variant.bytes or sum(
            p.stat().st_size for p in (path.rglob("*") if path.is_dir() else [path]) if p.is_file()
        )
        quality = variant.verification.get("quality")
        facts[(variant.format, variant.quantization)] = {"bytes": size, "quality": quality}
    return facts


def _torch_rows(bundle: Path, manifest: Manifest, config: RuntimeBenchConfig) -> list[dict]:
    if config.torch_ref is None or not Path(config.torch_python).exists():
        return []
    if manifest.family != TORCH_REF_FAMILY:
        return []
    vocab = load_bundle_tokenizer(bundle, manifest).vocab_size
    return torch_decode_rows(
        manifest.train_config["model"] | {"context": manifest.facts["context"]},
        vocab,
        config.torch_python,
        config.torch_ref,
        config.prompt_length,
        config.new_tokens,
        config.threads,
        config.repeats,
        config.timeout_s,
    )


def gemm_rates(threads: tuple[int, ...], timeout: float = 120) -> dict[int, float]:
    """numpy's float32 GEMM FLOP/s at each thread count, each in a fresh process."""
    rates = {}
    for t in threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(t))
        command = [sys.executable, "-m", "keras_lm.bench.roofline"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        if done.returncode == 0:
            rates[t] = json.loads(done.stdout.strip().splitlines()[-1])["gemm_flops_per_s"]
    return rates


def _bound(bundle: Path, manifest: Manifest, config: RuntimeBenchConfig) -> dict:
    """FLOPs per decoded token and, per thread count, the tokens/s they allow at GEMM speed."""
    from keras_lm.bench.roofline import flops_per_token

    if manifest.family != TORCH_REF_FAMILY:  # the FLOP count is the decoder-only Transformer's
        return {}
    vocab = load_bundle_tokenizer(bundle, manifest).vocab_size
    position = config.prompt_length + config.new_tokens // 2  # the mean cached length
    flops = flops_per_token(manifest.train_config.get("model", {}), vocab, position)
    if not flops:
        return {}
    rates = gemm_rates(config.threads, config.timeout_s)
    return {
        "flops_per_token": flops,
        "gemm_flops_per_s": {str(t): r for t, r in rates.items()},
        "tokens_per_s": {str(t): r / flops for t, r in rates.items()},
    }


def bench_bundle(bundle: str | Path, config: RuntimeBenchConfig, progress=None) -> dict:
    """Every measurement of one bundle: `{"name", "family", "variants", "rows", "torch"}`.

    `progress(f"benchmark {name}", done, jobs)` before each measurement, if given.
    """
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    rows = []
    jobs = plan_jobs(bundle, manifest, config)
    for done, job in enumerate(jobs):
        if progress:
            progress(f"benchmark {manifest.name}", done, len(jobs))
        rows.append(run_worker(job, config.timeout_s))
    facts = _variant_facts(manifest, bundle)
    for row in rows:
        row.update(
            facts.get((row["engine"], row["quantization"]), {}) if row["engine"] != "keras" else {}
        )
    torch = _torch_rows(bundle, manifest, config)
    anchors = []
    if config.baselines and 1 in config.batches:
        anchors = anchor_rows(
            bundle,
            manifest,
            config.anchors_python,
            config.prompt_length,
            config.new_tokens,
            config.threads,
            config.repeats,
            config.timeout_s,
        )
    return {
        "anchors": anchors,
        "bound": _bound(bundle, manifest, config),
        "name": manifest.name,
        "bundle": str(bundle),
        "family": manifest.family,
        "task": manifest.task,
        "params": manifest.extra.get("params"),
        "facts": manifest.facts,
        "rows": rows,
        "torch": torch,
    }


def bench_bundles(
    bundles: list[str | Path], config: RuntimeBenchConfig, command: str = "", progress=None
) -> dict:
    """The whole benchmark: one entry per bundle, with the command that made it and the machine."""
    import platform

    return {
        "command": command,
        "config": config.to_dict(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "bundles": [bench_bundle(b, config, progress) for b in bundles],
    }


def run_bench(
    bundles: list[str | Path],
    config: RuntimeBenchConfig,
    out: str | Path,
    command: str = "",
    progress=None,
) -> Path:
    """Benchmark `bundles`; write `bench.json`, `bench.md` and the PNG plots under `out`.

    Returns the path of `bench.md`. A folder without a manifest.json is refused (an
    `InputError` naming it) before anything is measured or written.

    >>> run_bench(["export/nothing-here"], RuntimeBenchConfig(), "reports/bench/runtime")
    Traceback (most recent call last):
    ...
    keras_lm.errors.InputError: export/nothing-here: not an export bundle (no manifest.json); ...
    """
    for bundle in bundles:
        if not Path(bundle, "manifest.json").is_file():
            raise InputError(
                str(bundle),
                "not an export bundle (no manifest.json); make one with `keras-lm export RUN`",
            )
    out = Path(out)
    result = bench_bundles(bundles, config, command, progress)
    plots = write_plots(result, out)
    write_text_atomic(out / "bench.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(out / "bench.md", format_markdown(result, plots) + "\n")
    return out / "bench.md"
