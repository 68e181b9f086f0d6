"""Training speed of the shipped GPT configs, side by side with the PyTorch reference (torch_ref).

Each measurement runs in its own process, one after another (the machine has 2
cores; two at once would measure neither): keras_lm's `transformer_lm` through
the same compile and tf.data path as `keras-lm train`, and torch_ref's train.py
(the folder given as `torch_ref`) with the same architecture, batch and steps.
Reported: tokens/s, median step time, peak RSS, and the Keras/PyTorch ratio.
A variant may name another Keras backend (`--variant backend=jax`, with the
`[jax]` extra installed): the same model and tf.data pipeline, trained by JAX.

`keras-lm bench train --repeats N` measures every row N times in rounds; the
plan, the rounds and the report are `benchmarks.speed_rounds`.

Example:
>>> row = {"config": "shakespeare-baby", "impl": "keras_lm", "params": 810496, "tokens_per_s": 30529.2,
...        "step_ms_median": 25.1, "peak_rss_mb": 1828.3, "ratio": 0.92, "overrides": [],
...        "repeats": 3, "tokens_per_s_range": [26491.3, 31002.0]}
>>> print(format_markdown([row]).splitlines()[-1])
| shakespeare-baby | - | keras_lm | 810,496 | 30,529 (26,491-31,002) | 25.1 | 1828.3 | 0.92x |
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.processes import python_module
from benchmarks.processes import run_measured
from keras_lm.bench.memory import peak_rss_mb
from keras_lm.errors import ConfigError

BACKENDS = ("tensorflow", "jax")
# The shipped configs that have a torch_ref twin, and torch_ref's flags for them.
TORCH_FLAGS = {
    "shakespeare-baby": "--n_layer 4 --n_head 4 --n_embd 128 --block_size 64 --batch_size 12",
    "shakespeare-small": "--n_layer 6 --n_head 6 --n_embd 192 --block_size 128 --batch_size 32",
}


def keras_worker(name: str, steps: int, overrides: list[str], data_dir: str | None) -> dict:
    """Train `steps` steps of shipped config `name` in this process; time each step after 10 warm-up steps."""
    import keras

    from keras_lm.models.registry import build_model
    from keras_lm.models.registry import get_family
    from keras_lm.tokenizers import train_tokenizer
    from keras_lm.training.compile import compile_model
    from keras_lm.training.fit import load_and_clean
    from keras_lm.training.presets import load_config
    from keras_lm.training.tasks import build_task

    extra = [f"data.data_dir={data_dir}"] if data_dir else []
    config = load_config(
        name, [*overrides, *extra, f"loop.max_steps={steps}", f"loop.steps_per_epoch={steps}"]
    )
    keras.utils.set_random_seed(config.loop.seed)
    keras.config.set_dtype_policy("mixed_bfloat16" if config.loop.mixed_precision else "float32")
    splits, _ = load_and_clean(config, None)  # the same data, cleaning and tokenizer as `train`
    tokenizer = train_tokenizer(splits["train"].texts(), config.tokenizer)
    task = build_task(get_family(config.family).task, splits, tokenizer, config)
    loop = config.loop
    train = task.train
    model = build_model(config.family, config.model_config(**task.fixed))
    compile_model(model, config)
    timer = step_timer()
    start = time.perf_counter()
    model.fit(train, steps_per_epoch=steps, epochs=1, callbacks=[timer], verbose=0)
    wall = time.perf_counter() - start
    # With steps_per_execution > 1 each timed call runs that many steps; skip about 10 warm-up steps.
    per_call = loop.steps_per_execution
    skip = max(1, 10 // per_call)
    steady = timer.times[skip:] if len(timer.times) > 2 * skip else timer.times
    tokens_per_step = task.tokens_per_step * per_call
    return {
        "impl": _impl(keras.backend.backend()),
        "backend": keras.backend.backend(),
        "config": name,
        "overrides": overrides,
        "steps": steps,
        "params": int(model.count_params()),
        "tokens_per_s": round(len(steady) * tokens_per_step / sum(steady), 1),
        "step_ms_median": round(statistics.median(steady) * 1000 / per_call, 2),
        "step_ms_mean": round(statistics.fmean(steady) * 1000 / per_call, 2),
        "first_step_ms": round(timer.times[0] * 1000, 1),
        "wall_s": round(wall, 1),
        "final_loss": round(float(timer.last_loss), 4),
        "peak_rss_mb": peak_rss_mb(),
        "threads": os.cpu_count(),
    }


def step_timer():
    """A Keras callback timing each train step (made here so this module imports without Keras)."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times: list[float] = []
            self.last_loss = float("nan")

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last_loss = (logs or {}).get("loss", self.last_loss)
            self.times.append(time.perf_counter() - self._start)

    return StepTimer()


def _torch_train(
    name: str, steps: int, python: str, torch_ref: Path, data: Path, dropout: float
) -> dict:
    """Run torch_ref's train.py (no periodic evaluation); its final JSON line plus its peak RSS."""
    out_dir = Path(tempfile.mkdtemp(prefix=f"keras_lm_torch_ref_{name}_"))
    command = [
        python,
        str(torch_ref / "train.py"),
        "--data",
        str(data),
        "--out_dir",
        str(out_dir),
        "--max_iters",
        str(steps),
        "--eval_interval",
        "0",
        "--eval_iters",
        "1",
        "--threads",
        "2",
        "--dropout",
        str(dropout),
        *TORCH_FLAGS[name].split(),
    ]
    result = run_measured(command)
    return {
        **json.loads(result["stdout"].strip().splitlines()[-1]),
        "peak_rss_mb": result["peak_rss_mb"],
    }


def torch_worker(
    name: str, steps: int, python: str, torch_ref: Path, data: Path, dropout: float
) -> dict:
    """Training speed of torch_ref at shipped config `name`'s architecture and batch."""
    row = _torch_train(name, steps, python, torch_ref, data, dropout)
    return {
        "impl": "torch_ref",
        "config": name,
        "steps": steps,
        "params": row["params"],
        "tokens_per_s": row["steady_tokens_per_s"],
        "step_ms_median": row["step_ms_median"],
        "first_step_ms": row["first_step_ms"],
        "wall_s": row["wall_s"],
        "peak_rss_mb": row["peak_rss_mb"],
        "threads": row["threads"],
        "torch": row["torch"],
    }


def split_backend(overrides: list[str]) -> tuple[str | None, list[str]]:
    """The `backend=NAME` entry of a variant (Keras' backend for that worker), and the config overrides.

    >>> split_backend(["backend=jax", "loop.jit_compile=true"])
    ('jax', ['loop.jit_compile=true'])
    """
    backends = [o.split("=", 1)[1] for o in overrides if o.startswith("backend=")]
    rest = [o for o in overrides if not o.startswith("backend=")]
    if backends and backends[-1] not in BACKENDS:
        raise ConfigError(f"backend: expected one of {list(BACKENDS)}, got {backends[-1]!r}")
    return (backends[-1] if backends else None), rest


def _impl(backend: str | None) -> str:
    """The table's impl column: "keras_lm", or "keras_lm (jax)" on another backend."""
    return "keras_lm" if backend in (None, "tensorflow") else f"keras_lm ({backend})"


def _env(backend: str | None) -> dict | None:
    """The worker's extra environment: KERAS_BACKEND for another backend, else None."""
    return None if backend is None else {**os.environ, "KERAS_BACKEND": backend}


def run_keras(name: str, steps: int, overrides: list[str], data_dir: str | None) -> dict:
    """`keras_worker` in a fresh process, so its peak memory and threads are its own.

    A `backend=jax` entry in `overrides` runs that worker on another Keras backend.
    """
    backend, config_overrides = split_backend(overrides)
    command = python_module(
        "benchmarks.train_speed",
        "--worker",
        name,
        "--steps",
        str(steps),
        *(["--data-dir", data_dir] if data_dir else []),
        *sum((["--set", o] for o in config_overrides), []),
    )
    result = run_measured(command, _env(backend))
    row = json.loads(result["stdout"].strip().splitlines()[-1])
    return {**row, "overrides": overrides}


def quality_run(
    name: str, steps: int, overrides: list[str], data_dir: str | None, run_dir: Path
) -> dict:
    """Train shipped config `name` for `steps` steps with `keras-lm train`; its loss on the whole valid split."""
    backend, config_overrides = split_backend(overrides)
    command = python_module(
        "keras_lm",
        "train",
        "--config",
        name,
        "--quiet",
        "--run-dir",
        str(run_dir),
        "--set",
        f"loop.max_steps={steps}",
        *sum((["--set", o] for o in config_overrides), []),
    )
    if data_dir:
        command += ["--data-dir", data_dir]
    run_measured(command, _env(backend))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "impl": _impl(backend),
        "config": name,
        "overrides": overrides,
        "steps": metrics["steps"],
        "val_loss": round(metrics["valid"]["loss"], 4),
        "train_s": metrics["seconds_this_session"],
    }


def torch_quality_run(
    name: str, steps: int, python: str, torch_ref: Path, data: Path, dropout: float
) -> dict:
    """torch_ref's train.py for `steps` steps; its loss on the whole valid split."""
    row = _torch_train(name, steps, python, torch_ref, data, dropout)
    return {
        "impl": "torch_ref",
        "config": name,
        "overrides": [],
        "steps": row["iters"],
        "val_loss": row["final_val_loss"],
        "train_s": row["train_s"],
    }


def format_quality(rows: list[dict]) -> str:
    lines = [
        "| config | variant | impl | steps | validation loss (whole split) | train s |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        variant = " ".join(row["overrides"]) or "-"
        lines.append(
            f"| {row['config']} | {variant} | {row['impl']} | {row['steps']} | {row['val_loss']:.4f} "
            f"| {row['train_s']} |"
        )
    return "\n".join(lines)


def format_markdown(rows: list[dict]) -> str:
    lines = [
        "| config | variant | impl | params | tokens/s | step ms (median) | peak RSS MB | keras/torch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        variant = " ".join(row.get("overrides", [])) or row.get("variant", "-")
        r = row.get("ratio")
        lines.append(
            f"| {row['config']} | {variant} | {row['impl']} | {row['params']:,} | {_speed(row)} "
            f"| {row['step_ms_median']} | {row['peak_rss_mb']} | {'' if r is None else f'{r:.2f}x'} |"
        )
    return "\n".join(lines)


def _speed(row: dict) -> str:
    """Median tokens/s, with the range over the rounds when there was more than one."""
    text = f"{row['tokens_per_s']:,.0f}"
    low, high = row.get("tokens_per_s_range", [None, None])
    if row.get("repeats", 1) > 1 and low is not None:
        text += f" ({low:,.0f}-{high:,.0f})"
    return text


def _main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="worker process of `keras-lm bench train`")
    parser.add_argument("--worker", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--data-dir")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(json.dumps(keras_worker(args.worker, args.steps, args.set, args.data_dir)))


if __name__ == "__main__":
    _main()
