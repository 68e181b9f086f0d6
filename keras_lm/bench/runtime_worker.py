"""One inference measurement in a process of its own: `python -m keras_lm.bench.runtime_worker JOB`.

A fresh process per (engine, quantization, mode, threads) gives each row its own
cold start and peak RSS, and keeps TensorFlow out of the ONNX Runtime and LiteRT
rows: the worker imports TensorFlow only for the Keras baselines. It prints one JSON
line (the row) on stdout.

The job (a JSON object):
    bundle: the export bundle; engine: "onnx" | "tflite" | "keras"; quantization;
    mode: "cached" (the KV cache / LSTM state) | "recompute" (prefill over the whole
    sequence per token); threads; batches; prompt_length; new_tokens; repeats;
    spawn_time: `time.time()` just before the parent started this process.

Example:
>>> job = {"engine": "onnx", "threads": 1}
>>> _engine_label(job | {"quantization": "int8", "mode": "cached"})
'onnx int8'
"""

from __future__ import annotations

import json
import os
import sys
import time

from keras_lm.bench.memory import peak_rss_mb

IMPORTED_AT = time.time()


def _engine_label(job: dict) -> str:
    label = f"{job['engine']} {job['quantization']}"
    return label + (" recompute" if job["mode"] == "recompute" else "")


def _limit_threads(job: dict) -> None:
    if job["engine"] == "keras":  # before TensorFlow creates its thread pools
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(job["threads"])
        os.environ["TF_NUM_INTEROP_THREADS"] = "1"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _open(job: dict):
    """(text model, vocabulary size, manifest): the run's Keras model or the bundle's runtime."""
    from keras_lm.runtime.bundle import load_bundle
    from keras_lm.runtime.bundle import read_manifest

    manifest = read_manifest(job["bundle"])
    if job["engine"] == "keras":
        import tensorflow as tf

        from keras_lm.generation import Generator

        tf.config.threading.set_intra_op_parallelism_threads(job["threads"])
        model = Generator.from_run(manifest.extra["source_run"])
    else:
        model = load_bundle(job["bundle"], job["engine"], job["quantization"], job["threads"])
    return model, model.tokenizer.vocab_size, manifest


def _timer(stepper, manifest, mode: str):
    from keras_lm.bench.decode_timing import RecomputeStepper
    from keras_lm.bench.decode_timing import TimedStepper

    if mode == "recompute":
        if "prefill" not in manifest.graphs:
            raise SystemExit(f"recompute mode needs a prefill graph; {manifest.family} has none")
        stepper = RecomputeStepper(stepper)
    return TimedStepper(stepper)


def _measure(job: dict, task: str, timed, vocab: int) -> list[dict]:
    from keras_lm.bench import decode_timing as dt

    time_fn = dt.time_lm if task == "lm" else dt.time_seq2seq
    rows = []
    for batch in job["batches"]:
        inputs = dt.random_ids(batch, job["prompt_length"], vocab, seed=batch)
        time_fn(timed, inputs, min(8, job["new_tokens"]))  # warm up (traces, allocations)
        runs = [time_fn(timed, inputs, job["new_tokens"]) for _ in range(job["repeats"])]
        best = max(runs, key=lambda r: r["tokens_per_s"])
        steps = [s for r in runs for s in r["step_seconds"]]
        rows.append(
            {
                "batch": batch,
                "new_tokens": best["new_tokens"],
                "first_token_ms": round(1000 * min(r["first_token_s"] for r in runs), 3),
                "tokens_per_s": round(sorted(r["tokens_per_s"] for r in runs)[len(runs) // 2], 1),
                "tokens_per_s_best": round(best["tokens_per_s"], 1),
                "decode_tokens_per_s": round(
                    sorted(r["decode_tokens_per_s"] or 0 for r in runs)[len(runs) // 2], 1
                ),
                **dt.summarise(steps),
                "step_ms": [round(1000 * s, 3) for s in runs[-1]["step_seconds"]],
            }
        )
    return rows


def _measure_classifier(job: dict, model, vocab: int) -> list[dict]:
    from keras_lm.bench import decode_timing as dt

    rows = []
    for batch in job["batches"]:
        ids = dt.random_ids(batch, job["prompt_length"], vocab, seed=batch)
        texts = [model.tokenizer.decode(row) or "x" for row in ids]
        model.classify(texts)  # warm up
        seconds = []
        for _ in range(max(job["repeats"], 10)):
            start = time.perf_counter()
            model.classify(texts)
            seconds.append(time.perf_counter() - start)
        rows.append(
            {
                "batch": batch,
                "examples_per_s": round(batch / sorted(seconds)[len(seconds) // 2], 1),
                **dt.summarise(seconds),
            }
        )
    return rows


def _cold_start(job: dict, task: str, model, vocab: int) -> float:
    """Seconds from the parent's spawn to the first generated token (or first label)."""
    from keras_lm.bench import decode_timing as dt

    prompt = dt.random_ids(1, job["prompt_length"], vocab)
    if task == "classify":
        model.classify(model.tokenizer.decode(prompt[0]) or "x")
    else:
        time_fn = dt.time_lm if task == "lm" else dt.time_seq2seq
        time_fn(dt.TimedStepper(model.stepper), prompt, 1)
    return time.time() - job["spawn_time"]


def run_job(job: dict) -> dict:
    """The measurement row of `job` (see the module docstring)."""
    _limit_threads(job)
    start = time.perf_counter()
    model, vocab, manifest = _open(job)
    load_s = time.perf_counter() - start
    cold = _cold_start(job, manifest.task, model, vocab)
    if manifest.task == "classify":
        rows = _measure_classifier(job, model, vocab)
    else:
        rows = _measure(job, manifest.task, _timer(model.stepper, manifest, job["mode"]), vocab)
    return {
        "engine": job["engine"],
        "quantization": job["quantization"],
        "mode": job["mode"],
        "label": _engine_label(job),
        "threads": job["threads"],
        "family": manifest.family,
        "task": manifest.task,
        "prompt_length": job["prompt_length"],
        "process_start_s": round(IMPORTED_AT - job["spawn_time"], 3),
        "load_s": round(load_s, 3),
        "cold_start_s": round(cold, 3),
        "peak_rss_mb": peak_rss_mb(),
        "imported_tensorflow": "tensorflow" in sys.modules,
        "imported_keras": "keras" in sys.modules,
        "rows": rows,
    }


def main(argv: list[str]) -> int:
    job = json.loads(argv[0])
    print(json.dumps(run_job(job)), flush=True)  # the parent reads this line
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
