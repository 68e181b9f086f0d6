"""`keras-lm bench BUNDLE...`: inference speed, size, memory and quality kept, per export variant.

For every ONNX and TFLite variant of each bundle, at each thread count, one fresh
process (`keras_lm.bench.runtime_worker`) loads the bundle TensorFlow-free and
measures: process start to first token (cold start), load time, time to first
token, decode tokens/s, per-token latency p50/p90/p99 and peak RSS, at batch 1 and
8. In the same run, the baselines: Keras in-process generation (the run's model, its
XLA-compiled cached step), naive decoding that re-runs the whole sequence through
`prefill` for every token (float32 ONNX and Keras, decoder-only LMs), and, where the
torch venv exists, PyTorch eager with and without its KV cache
(../shared/anchors/torch_ref) at the same architecture. Workers run one at a time:
the machine's cores are the thing measured.

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

from keras_lm.config import Config
from keras_lm.errors import InputError

ENGINES = ("onnx", "tflite")


@dataclasses.dataclass(frozen=True)
class RuntimeBenchConfig(Config):
    """What `bench_bundles` measures; the same fields as `keras-lm bench BUNDLE` options.

    threads / batches: the grid measured for every variant.
    prompt_length / new_tokens: the greedy workload (tokens; sources for seq2seq).
    repeats: timed generations per cell, after one warm-up.
    engines: runtime formats to measure ("onnx", "tflite").
    baselines: also time Keras in-process generation and naive full recompute.
    torch_python / torch_ref: the PyTorch reference (skipped when the python is absent).
    """

    threads: tuple[int, ...] = (1, 2)
    batches: tuple[int, ...] = (1, 8)
    prompt_length: int = 32
    new_tokens: int = 96
    repeats: int = 3
    engines: tuple[str, ...] = ENGINES
    baselines: bool = True
    torch_python: str = ".venv-torchref/bin/python"
    torch_ref: str = "../shared/anchors/torch_ref"
    timeout_s: float = 900.0

    def __post_init__(self):
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


def plan_jobs(bundle: Path, manifest: dict, config: RuntimeBenchConfig) -> list[dict]:
    """Every worker job for one bundle, in the order they run."""
    lm = manifest["family"] == "transformer_lm"
    keras = config.baselines and Path(manifest.get("source_run") or "").is_dir()
    jobs = []
    for threads in config.threads:
        for variant in manifest["variants"]:
            if variant["format"] in config.engines:
                jobs.append(
                    _job(
                        bundle,
                        config,
                        engine=variant["format"],
                        quantization=variant["quantization"],
                        threads=threads,
                    )
                )
        if keras and manifest["family"] != "encoder_classifier":
            jobs.append(
                _job(bundle, config, engine="keras", quantization="float32", threads=threads)
            )
        if config.baselines and lm:
            for engine in ("onnx", "keras") if keras else ("onnx",):
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


def _variant_facts(manifest: dict, bundle: Path) -> dict:
    """(format, quantization) -> size in bytes and the verification's quality record."""
    facts = {}
    for variant in manifest["variants"]:
        path = bundle / variant["path"]
        size = variant.get("bytes") or sum(
            p.stat().st_size for p in (path.rglob("*") if path.is_dir() else [path]) if p.is_file()
        )
        quality = (variant.get("verification") or {}).get("quality")
        facts[(variant["format"], variant["quantization"])] = {"bytes": size, "quality": quality}
    return facts


def _torch_rows(bundle: Path, manifest: dict, config: RuntimeBenchConfig) -> list[dict]:
    from keras_lm.bench.torch_decode import torch_decode_rows

    if manifest["family"] != "transformer_lm" or not Path(config.torch_python).exists():
        return []
    from keras_lm.tokenizers import load_tokenizer

    vocab = load_tokenizer(bundle / "tokenizer").vocab_size
    return torch_decode_rows(
        manifest["train_config"]["model"] | {"context": manifest["facts"]["context"]},
        vocab,
        config.torch_python,
        config.torch_ref,
        config.prompt_length,
        config.new_tokens,
        config.threads,
        config.repeats,
        config.timeout_s,
    )


def bench_bundle(bundle: str | Path, config: RuntimeBenchConfig, progress=None) -> dict:
    """Every measurement of one bundle: `{"name", "family", "variants", "rows", "torch"}`."""
    from keras_lm.runtime.bundle import read_manifest

    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    rows = []
    for job in plan_jobs(bundle, manifest, config):
        if progress:
            progress(
                f"{manifest['name']}: {job['engine']} {job['quantization']} {job['mode']} x{job['threads']}"
            )
        rows.append(run_worker(job, config.timeout_s))
    facts = _variant_facts(manifest, bundle)
    for row in rows:
        row.update(
            facts.get((row["engine"], row["quantization"]), {}) if row["engine"] != "keras" else {}
        )
    torch = _torch_rows(bundle, manifest, config)
    return {
        "name": manifest["name"],
        "bundle": str(bundle),
        "family": manifest["family"],
        "params": manifest.get("params"),
        "facts": manifest.get("facts"),
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
