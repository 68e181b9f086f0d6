"""`keras-lm bench train`: the plan of measurements, the rounds that run it, one row per measurement.

On a shared 2-core machine the speed of every process drifts by tens of percent
within minutes, so a single torch_ref-then-Keras pass can report a ratio that
is mostly drift. `keras-lm bench train --repeats N` measures every row once per
round, in the same order each round, so each Keras row is paired with the
torch_ref row measured a minute before it. Each combined row reports the median
tokens/s and its range over the rounds, and the ratio is the median of the
per-round ratios (the pairing cancels the drift that is common to both).

`run_train_speed(TrainSpeedConfig(...))` is the whole benchmark: it plans the jobs
(`plan_jobs`), measures them in rounds (`measure_rounds`), combines the rounds and,
with `quality_steps`, also trains both sides that long and compares validation losses.

Example:
>>> rounds = [
...     [{"impl": "torch_ref", "tokens_per_s": 100.0}, {"impl": "keras_lm", "tokens_per_s": 90.0}],
...     [{"impl": "torch_ref", "tokens_per_s": 60.0}, {"impl": "keras_lm", "tokens_per_s": 66.0}],
...     [{"impl": "torch_ref", "tokens_per_s": 80.0}, {"impl": "keras_lm", "tokens_per_s": 84.0}],
... ]
>>> torch, keras = combine_rounds(rounds, partner=[None, 0])
>>> keras["tokens_per_s"], keras["tokens_per_s_range"], keras["ratio"], keras["ratios"]
(84.0, [66.0, 90.0], 1.05, [0.9, 1.1, 1.05])
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.processes import torch_ref_folder
from benchmarks.train_speed import format_markdown
from benchmarks.train_speed import format_quality
from benchmarks.train_speed import quality_run
from benchmarks.train_speed import run_keras
from benchmarks.train_speed import torch_quality_run
from benchmarks.train_speed import torch_worker
from keras_lm.config import Config
from keras_lm.data.datasets import find_local
from keras_lm.data.registry import get_spec
from keras_lm.errors import ConfigError
from keras_lm.io import write_text_atomic
from keras_lm.training.presets import load_config

Progress = Callable[[str], None]

# Per-round fields that are summarised by their median over the rounds.
MEDIAN_FIELDS = ("tokens_per_s", "step_ms_median", "step_ms_mean", "peak_rss_mb")


def combine_rounds(rounds: list[list[dict]], partner: list[int | None]) -> list[dict]:
    """One row per position in a round: medians over the rounds, and paired ratios.

    `rounds[r][i]` is measurement i of round r (every round measures the same
    rows in the same order). `partner[i]` is the index of the torch_ref row that
    row i is compared with, or None for a row with no ratio.
    """
    if not rounds:
        return []
    width = len(rounds[0])
    if any(len(r) != width for r in rounds) or len(partner) != width:
        raise ValueError("every round must measure the same rows")
    rows = []
    for i in range(width):
        samples = [r[i] for r in rounds]
        row = {**samples[-1], "repeats": len(samples)}
        for field in MEDIAN_FIELDS:
            values = [s[field] for s in samples if s.get(field) is not None]
            if values:
                row[field] = round(statistics.median(values), 2)
        speeds = [s["tokens_per_s"] for s in samples]
        row["tokens_per_s_range"] = [min(speeds), max(speeds)]
        j = partner[i]
        if j is not None:
            ratios = [round(r[i]["tokens_per_s"] / r[j]["tokens_per_s"], 3) for r in rounds]
            row["ratios"] = ratios
            row["ratio"] = round(statistics.median(ratios), 3)
        rows.append(row)
    return rows


@dataclasses.dataclass(frozen=True)
class TrainSpeedConfig(Config):
    """What `run_train_speed` measures; the fields of `keras-lm bench train`'s options.

    configs: shipped config names, each measured once per variant (and torch_ref once).
    steps: training steps per measurement (the first 10 are warm-up).
    repeats: rounds; every row is measured once per round, in the same order.
    variants: extra keras_lm variants, each "KEY=VALUE[,KEY=VALUE]" (`backend=jax` too).
    overrides: "KEY=VALUE" for every run, both sides (model.dropout reaches torch_ref).
    quality_steps: also train each side this many steps and compare valid losses (0: skip).
    data_dir: where tinyshakespeare is (None: $KERAS_LM_DATA and the usual places).
    torch_python / torch_ref: the torch venv's python and the torch_ref folder; no
        torch_ref rows when torch_ref is None or the python is absent.
    out: folder for train.json and train.md.
    """

    configs: tuple[str, ...] = ("shakespeare-baby", "shakespeare-small")
    steps: int = 120
    repeats: int = 1
    variants: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    quality_steps: int = 0
    data_dir: str | None = None
    torch_python: str | None = None
    torch_ref: str | None = None
    out: str = "reports/bench"

    def __post_init__(self):
        if self.repeats < 1 or self.steps < 1:
            raise ConfigError("repeats and steps: expected whole numbers >= 1")


@dataclasses.dataclass(frozen=True)
class Job:
    """One measurement of a round: torch_ref (`torch`) or keras_lm at `overrides`."""

    label: str
    config: str
    overrides: tuple[str, ...] = ()
    torch: bool = False


def variant_overrides(config: TrainSpeedConfig, variant: str) -> list[str]:
    """The overrides of one keras_lm row: the shared ones, then the variant's.

    >>> variant_overrides(TrainSpeedConfig(overrides=("a=1",)), "b=2,c=3")
    ['a=1', 'b=2', 'c=3']
    """
    return [*config.overrides, *(v for v in variant.split(",") if v)]


def plan_jobs(config: TrainSpeedConfig, with_torch: bool) -> tuple[list[Job], list[int | None]]:
    """One round's jobs, and for each the index of the torch_ref job it is compared with.

    >>> jobs, partner = plan_jobs(TrainSpeedConfig(configs=("baby",), variants=("x=1",)), True)
    >>> [j.label for j in jobs], partner
    (['torch_ref baby', 'keras_lm baby ', 'keras_lm baby x=1'], [None, 0, 0])
    """
    jobs, partner = [], []
    for name in config.configs:
        torch_index = None
        if with_torch:
            torch_index = len(jobs)
            jobs.append(Job(f"torch_ref {name}", name, tuple(config.overrides), torch=True))
            partner.append(None)
        for variant in ("", *config.variants):
            overrides = tuple(variant_overrides(config, variant))
            jobs.append(Job(f"keras_lm {name} {variant}", name, overrides))
            partner.append(torch_index)
    return jobs, partner


def measure(job: Job, config: TrainSpeedConfig, data: Path | None) -> dict:
    """Run one job in its own process: its speed row."""
    if job.torch:
        dropout = load_config(job.config, list(job.overrides)).model["dropout"]
        return torch_worker(
            job.config, config.steps, config.torch_python, Path(config.torch_ref), data, dropout
        )
    return run_keras(job.config, config.steps, list(job.overrides), config.data_dir)


def measure_rounds(
    jobs: list[Job], config: TrainSpeedConfig, data: Path | None, progress: Progress | None = None
) -> list[list[dict]]:
    """`config.repeats` rounds, each measuring every job once, in the plan's order."""
    rounds = []
    for r in range(config.repeats):
        measured = []
        for job in jobs:
            if progress:
                progress(f"round {r + 1}/{config.repeats}: {job.label}")
            measured.append(measure(job, config, data))
        rounds.append(measured)
    return rounds


def quality_rows(
    config: TrainSpeedConfig, data: Path | None, with_torch: bool, progress: Progress | None = None
) -> list[dict]:
    """Each config trained `quality_steps` steps on each side; the loss on the whole valid split."""
    rows = []
    steps = config.quality_steps
    for name in config.configs:
        if with_torch:
            if progress:
                progress(f"torch_ref {name}: {steps} steps")
            dropout = load_config(name, list(config.overrides)).model["dropout"]
            rows.append(
                torch_quality_run(
                    name, steps, config.torch_python, Path(config.torch_ref), data, dropout
                )
            )
        for variant in ("", *config.variants):
            if progress:
                progress(f"keras_lm {name} {variant}: {steps} steps")
            run_dir = Path(tempfile.mkdtemp(prefix="keras_lm_quality_")) / name
            overrides = variant_overrides(config, variant)
            rows.append(quality_run(name, steps, overrides, config.data_dir, run_dir))
    return rows


def _torch_absent(config: TrainSpeedConfig, data: Path | None) -> str | None:
    """Why there are no torch_ref rows, or None when there are."""
    if config.torch_ref is None:
        return "no torch_ref folder given"
    if not config.torch_python or not Path(config.torch_python).is_file():
        return f"{config.torch_python} is absent (make torchref creates the venv)"
    if data is None:
        return "tinyshakespeare is absent"
    return None


def run_train_speed(
    config: TrainSpeedConfig, command: str = "", progress: Progress | None = None
) -> str:
    """Measure, write `train.json` and `train.md` under `config.out`; the Markdown.

    >>> config = TrainSpeedConfig(configs=("shakespeare-baby",), steps=40, repeats=3)
    >>> print(run_train_speed(config, "keras-lm bench train"))  # doctest: +SKIP
    """
    torch_ref_folder(config.torch_ref)  # a torch_ref given but absent is named now, not later
    data = find_local(get_spec("tinyshakespeare"), config.data_dir)
    absent = _torch_absent(config, data)
    jobs, partner = plan_jobs(config, with_torch=absent is None)
    rows = combine_rounds(measure_rounds(jobs, config, data, progress), partner)
    quality = quality_rows(config, data, absent is None, progress) if config.quality_steps else []
    text = (
        f"Training speed, {config.steps} steps each, one process at a time, "
        f"{config.repeats} round(s); tokens/s is the median over rounds, keras/torch the median "
        "of the per-round ratios.\n\n"
        f"Command: `{command}`\n\n"
    )
    if absent:
        text += f"No PyTorch reference rows: {absent}.\n\n"
    text += format_markdown(rows)
    if quality:
        text += f"\n\nValidation loss after {config.quality_steps} steps:\n\n"
        text += format_quality(quality)
    out = Path(config.out)
    write_text_atomic(out / "train.md", text + "\n")
    report = {"command": command, "rows": rows, "quality": quality}
    write_text_atomic(out / "train.json", json.dumps(report, indent=2) + "\n")
    return text
