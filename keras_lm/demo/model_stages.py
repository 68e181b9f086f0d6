"""The demo's model stages: train, evaluate, export (verified), benchmark; each returns report lines.

Data flow: shipped config -> run directory -> `eval/valid.json` -> export bundle ->
inference benchmark (`bench.json`, plots) and the mobile readiness of each `.tflite`.
Every stage writes under the demo's folder and prints the command that repeats it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from keras_lm.bench import mobile
from keras_lm.bench import runtime_report
from keras_lm.bench.mobile import mobile_report
from keras_lm.bench.runtime_report import write_plots
from keras_lm.bench.runtime_speed import bench_bundles
from keras_lm.evaluation.evaluate import evaluate_run
from keras_lm.export.bundle import ExportConfig
from keras_lm.export.bundle import export_run
from keras_lm.export.summary import verification_table
from keras_lm.inference.manifest import Manifest
from keras_lm.io import write_text_atomic
from keras_lm.training.fit import train
from keras_lm.training.presets import load_config


def train_stage(name: str, overrides: list[str], folder: Path, progress=None) -> list[str]:
    """Train shipped config `name` into `folder`; the report lines.

    `progress(f"train {name}", step, max_steps)` after each step, if given.
    """

    run_config = load_config(name, overrides)
    callbacks = (
        [_StepProgress(progress, f"train {name}", run_config.loop.max_steps)] if progress else []
    )
    result = train(run_config, folder, verbose=0, callbacks=callbacks)
    final = result.metrics["final"]
    samples = (folder / "logs" / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    last = json.loads(samples[-1])["sample"] if samples else ""
    nan = float("nan")
    lines = [
        f"## Training: {name} ({run_config.family})\n",
        f"- {result.steps} steps, {result.metrics['params']:,} parameters, "
        f"{result.metrics['seconds_this_session']:.0f} s, "
        f"{result.metrics['tokens_per_s']:,.0f} tokens/s",
        f"- final loss {final.get('loss', nan):.3f}, validation loss {final.get('val_loss', nan):.3f}, "
        f"validation token accuracy {final.get('val_accuracy', nan):.3f}",
        f"- greedy sample at the last epoch: `{last}`",
        f"- command: `keras-lm train --config {name} "
        + " ".join(f"--set {o}" for o in overrides)
        + f" --run-dir {folder}`\n",
    ]
    return lines


def _StepProgress(progress, stage: str, total: int):
    """A Keras callback that reports the optimizer's step to `progress` (made on use: Keras)."""
    import keras

    class StepProgress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            progress(stage, int(self.model.optimizer.iterations), total)

    return StepProgress()


def evaluate_stage(run_dir: Path, limit: int | None) -> list[str]:
    """Score the run on its valid split (`eval/valid.json`); the report lines."""

    metrics = evaluate_run(run_dir, split="valid", limit=limit)
    shown = {k: metrics[k] for k in ("bleu", "chrf", "perplexity", "accuracy") if k in metrics}
    lines = [
        f"### Evaluation on valid ({metrics.get('examples', limit or 'all')} examples)\n",
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {v:.3f} |" for k, v in shown.items()),
        "",
    ]
    for sample in metrics.get("samples", [])[:3]:
        lines.append(
            f"- `{sample.get('source', '')}` -> `{sample.get('hypothesis', '')}` "
            f"(reference `{sample.get('reference', '')}`)"
        )
    return [*lines, f"\nCommand: `keras-lm evaluate {run_dir} --split valid`\n"]


def export_stage(run_dir: Path, quantize: tuple[str, ...], out: Path) -> list[str]:
    """Export every format of the run, verified, into `out/<run name>`; the report lines."""

    start = time.perf_counter()
    bundle = export_run(run_dir, ExportConfig(quantize=quantize, out=str(out)))
    seconds = time.perf_counter() - start
    manifest = Manifest.read(bundle)
    lines = [
        f"### Export: {bundle.name} ({seconds:.0f} s, every variant verified against Keras)\n",
        verification_table(manifest),
        "",
        f"Command: `keras-lm export {run_dir} --quantize {','.join(quantize)} --out {out}`\n",
    ]
    return lines


def bench_stage(bundles: list[Path], config, folder: Path, progress=None) -> list[str]:
    """The inference benchmark of the bundles (`bench.json`, `bench.md`, plots); the report lines.

    `progress("benchmark", job, jobs)` as each bundle's measurements go on, if given.
    """

    command = "keras-lm bench " + " ".join(str(b) for b in bundles) + _bench_flags(config)
    jobs = (lambda _bundle, done, total: progress("benchmark", done, total)) if progress else None
    result = bench_bundles(bundles, config, command, jobs)
    plots = write_plots(result, folder)
    write_text_atomic(folder / "bench.json", json.dumps(result, indent=2) + "\n")
    text = runtime_report.format_markdown(result, plots)
    write_text_atomic(folder / "bench.md", text + "\n")
    relative = folder.name
    text = text.replace("](", f"]({relative}/")  # the plots sit beside bench.md
    return [text.replace("# Inference benchmark", "## Inference benchmark", 1)]


def _bench_flags(config) -> str:
    return (
        f" --threads {','.join(map(str, config.threads))} --batches {','.join(map(str, config.batches))}"
        f" --prompt-length {config.prompt_length} --new-tokens {config.new_tokens} --repeats {config.repeats}"
    )


def mobile_stage(bundles: list[Path], folder: Path, progress=None) -> list[str]:
    """The mobile readiness of each bundle's `.tflite` files (op histogram, builtin check,
    XNNPACK timings) into `folder/<bundle>.mobile.json`; the report lines."""

    lines = ["## Mobile readiness (LiteRT, XNNPACK)\n"]
    for done, bundle in enumerate(bundles):
        if progress:
            progress("mobile readiness", done, len(bundles))
        report = mobile_report(bundle, threads=(1, 2), repeats=10)
        write_text_atomic(
            folder / f"{bundle.name}.mobile.json", json.dumps(report, indent=2) + "\n"
        )
        lines += [
            f"### {bundle.name}\n",
            mobile.format_markdown(report),
            f"\nCommand: `keras-lm bench mobile {bundle}`\n",
        ]
    return lines
