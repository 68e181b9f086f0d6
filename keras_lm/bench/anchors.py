"""The anchor engines (what a user would pick instead of keras_lm) at a bundle's own weights.

For a `transformer_lm` bundle, `keras_lm/bench/anchor_worker.py` runs in the anchors
venv (`make anchors`: torch, transformers, optimum-onnx, onnxruntime, and when they
install, onnxruntime-genai and litert-torch), once per thread count. It loads the
bundle's source checkpoint into a Hugging Face `GPT2LMHeadModel` and times greedy
decoding, batch 1, with HF eager + KV cache, optimum ONNX + ORT, onnxruntime-genai and
litert-torch TFLite. So that "same weights" is checked, not assumed, this module first
computes the logits of a fixed prompt with onnxruntime from the bundle's float32 ONNX
prefill; the worker refuses to time anything when its model's logits differ by more
than 1e-3. TensorFlow-free: numpy and onnxruntime, imported when needed.

Each row: `{"engine", "threads", "batch", "prompt_length", "new_tokens", "tokens_per_s",
"skipped", "seconds", "max_abs_diff", "agreement"}`; `tokens_per_s` is None and
`skipped` says why when an engine cannot run; `agreement` is the fraction of generated
ids equal to HF eager's. A failed worker gives one row per thread count with engine
`anchors`, `skipped` its last error line and `error` the end of its stderr.

Example (no anchors venv, no rows):
>>> anchor_rows("export/shakespeare-small", None, python="no/such/venv/bin/python")
[]
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keras_lm.inference.manifest import Manifest

# The families with a Hugging Face twin: GPT-2, Llama.
ANCHOR_FAMILIES = ("transformer_lm", "llama_lm")
WORKER = Path(__file__).with_name("anchor_worker.py")
DEFAULT_PYTHON = ".venv-anchors/bin/python"


def anchor_rows(
    bundle: str | Path,
    manifest: Manifest | None,
    python: str | Path = DEFAULT_PYTHON,
    prompt_length: int = 32,
    new_tokens: int = 96,
    threads: tuple[int, ...] = (1, 2),
    repeats: int = 3,
    timeout: float = 1800,
    cache_dir: str | Path | None = None,
) -> list[dict]:
    """The anchor engines' rows for one bundle (`manifest`: its `Manifest`), per thread count.

    [] when `python` does not exist or the bundle's family has no twin (`ANCHOR_FAMILIES`). The worker
    caches its exports (ONNX, TFLite) by checkpoint hash under `cache_dir` (default: the
    system temp folder's `keras_lm_anchors`), so the first run converts and later ones
    only time.
    """
    if not Path(python).exists() or manifest is None or manifest.family not in ANCHOR_FAMILIES:
        return []
    checkpoint = source_checkpoint(manifest)
    if checkpoint is None:
        return [
            error_row(t, "the bundle's source checkpoint is not on this machine") for t in threads
        ]
    prompt, logits = reference(bundle, prompt_length)
    rows = []
    for t in threads:
        job = {
            "checkpoint": str(checkpoint),
            "family": manifest.family,
            "architecture": architecture(manifest),
            "vocab_size": len(logits),
            "prompt_length": prompt_length,
            "new_tokens": new_tokens,
            "threads": t,
            "repeats": repeats,
            "reference": {"token_ids": prompt, "logits": logits.tolist()},
            "cache_dir": str(cache_dir) if cache_dir else None,
        }
        rows += run_worker(python, job, timeout)
    return rows


def architecture(manifest: Manifest) -> dict:
    """The worker's `architecture`: the run's model config, with the bundle's context."""
    model = dict(manifest.train_config.get("model", {}))
    return model | {"context": manifest.facts.get("context", model.get("context"))}


def source_checkpoint(manifest: Manifest) -> Path | None:
    """The `.keras` checkpoint the bundle was exported from, if it is still on disk."""
    extra = manifest.extra
    candidates = [extra.get("checkpoint")]
    if extra.get("source_run"):
        candidates.append(str(Path(extra["source_run"], "checkpoints", "best.keras")))
    for candidate in filter(None, candidates):
        if Path(candidate).is_file():
            return Path(candidate).resolve()
    return None


def reference(bundle: str | Path, length: int, seed: int = 0) -> tuple[list[int], object]:
    """The worker's prompt and the bundle's float32 ONNX prefill logits `(V,)` at its last token.

    The prompt is seeded ids above the five special ids and below the vocabulary (the
    logits' width), as `keras_lm.bench.decode_timing.random_ids`; the worker times the
    same prompt.
    """
    import numpy as np
    import onnxruntime

    path = Path(bundle, "onnx", "float32", "prefill.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    vocab = next(o.shape[-1] for o in session.get_outputs() if o.name == "logits")
    if not isinstance(vocab, int):  # a dynamic width: ask the graph
        vocab = len(_last_logits(session, [0]))
    prompt = np.random.default_rng(seed).integers(5, max(vocab, 6), size=length).tolist()
    return prompt, _last_logits(session, prompt)


def _last_logits(session, prompt: list[int]):
    import numpy as np

    feeds = {
        "token_ids": np.asarray([prompt], np.int32),
        "lengths": np.asarray([len(prompt)], np.int32),
    }
    (logits,) = session.run(["logits"], feeds)
    return np.asarray(logits, np.float32).reshape(-1)


def run_worker(python: str | Path, job: dict, timeout: float) -> list[dict]:
    """One worker process (one thread count): its rows, or one error row."""
    threads = str(job["threads"])
    env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    # The job goes in on stdin: with a 50k-id vocabulary its reference logits pass the
    # 128 KiB a single command-line argument may hold.
    command = [str(python), str(WORKER), "-"]
    try:
        done = subprocess.run(
            command,
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return [error_row(job["threads"], f"worker timed out after {timeout:.0f} s")]
    lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
    if done.returncode or not lines:
        stderr = done.stderr.strip()
        last = stderr.splitlines()[-1] if stderr else f"exit status {done.returncode}"
        return [error_row(job["threads"], last, stderr[-4000:])]
    return json.loads(lines[-1])


def error_row(threads: int, reason: str, detail: str = "") -> dict:
    """The row of a worker that gave no measurement."""
    return {
        "engine": "anchors",
        "threads": threads,
        "tokens_per_s": None,
        "skipped": reason[:500],
        "error": detail or reason,
    }


__all__ = ["anchor_rows", "architecture", "reference", "source_checkpoint"]
