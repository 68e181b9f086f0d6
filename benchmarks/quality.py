"""The quality table: each shipped config trained within its CPU budget, then evaluated on valid.

For each row: a short calibration run measures this machine's mean seconds per step;
`loop.max_steps` is set so that training fits the budget (the learning-rate
schedule then ends where training ends, instead of being cut off); the run is
trained with `keras-lm train` and scored with `keras-lm evaluate`, each in its own
process. Every row records the two commands that reproduce it. `run_quality(QualityConfig())`
is `keras-lm bench quality`: the rows of `ROWS` it names, one after another.

Example:
>>> fitted_schedule(seconds_per_step=0.05, budget_minutes=15, steps_per_epoch=1000)
(15300, 1020)
>>> fitted_schedule(seconds_per_step=0.045, budget_minutes=15, steps_per_epoch=250)
(17000, 850)
>>> fitted_schedule(seconds_per_step=0.5, budget_minutes=1, steps_per_epoch=1000)
(100, 100)
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.processes import child_env
from benchmarks.processes import python_module
from benchmarks.train_speed import run_keras
from keras_lm.config import Config
from keras_lm.errors import ConfigError
from keras_lm.io import write_text_atomic
from keras_lm.training.presets import load_config

CALIBRATION_STEPS = 100
TRAIN_SHARE = 0.85  # of the budget; the rest goes to per-epoch evaluation and checkpoints
MAX_EPOCHS = 20  # each epoch end evaluates, samples and checkpoints: a few seconds each


@dataclasses.dataclass(frozen=True)
class QualityRow:
    """One row: a shipped config, its training budget and what it should reach on valid."""

    config: str
    budget_minutes: float
    overrides: tuple[str, ...] = ()
    metric: str = "loss"
    target: float | None = None
    higher_is_better: bool = False
    evaluate_options: tuple[str, ...] = ()


# Translation rows: the weights averaged over the last fifth of the steps (the configs'
# loop.average_share), decoded by beam search of width 4.
BEAM_4 = ("--checkpoint", "averaged", "--strategy", "beam", "--num-beams", "4")
ROWS = (
    # baby is torch_ref's architecture (dropout 0, for the speed table); alone it overfits in 15 minutes.
    QualityRow("shakespeare-baby", 15, ("model.dropout=0.1",), "loss", 1.47),
    QualityRow("sst2-classifier", 15, (), "accuracy", 0.84, True),
    QualityRow("spa-eng-transformer", 30, (), "bleu", 35.0, True, BEAM_4),
    QualityRow("spa-eng-lstm", 30, (), "bleu", None, True, BEAM_4),
    # windows start at every character, as torch_ref's random crops do (stride 64 saw 64x fewer).
    QualityRow("shakespeare-lstm", 15, ("loop.window_stride=1",), "loss", None),
)


def fitted_schedule(
    seconds_per_step: float, budget_minutes: float, steps_per_epoch: int, multiple: int = 1
) -> tuple[int, int]:
    """(max_steps, steps_per_epoch) filling `TRAIN_SHARE` of the budget.

    The steps are rounded down to 100 (10 for short runs), not to a whole epoch, which
    could waste most of an epoch of the budget; the epoch is bent to divide them, as
    close to `steps_per_epoch` as it goes, and lengthened so that there are at most
    `MAX_EPOCHS` (at 250 steps an epoch, a 15-minute run spent a third of its time at
    epoch ends). The epoch is a multiple of `multiple` (`loop.steps_per_execution`).

    >>> fitted_schedule(0.05, 15, 250, multiple=10)
    (15300, 850)
    """
    steps = int(budget_minutes * 60 * TRAIN_SHARE / seconds_per_step)
    steps = steps // 100 * 100 if steps >= 1000 else max(10, steps // 10 * 10)
    steps = max(multiple, steps // multiple * multiple)
    if steps <= steps_per_epoch:
        return steps, steps
    wanted = max(1, min(round(steps / steps_per_epoch), MAX_EPOCHS))
    epochs = min(
        (e for e in range(1, steps + 1) if steps % (e * multiple) == 0),
        key=lambda e: (abs(e - wanted), e),
    )
    return steps, steps // epochs


def _keras_lm(*args: str) -> list[str]:
    return python_module("keras_lm", *args)


def _train_command(row: QualityRow, run_dir: Path, extra: list[str]) -> list[str]:
    sets = [a for o in (*row.overrides, *extra) for a in ("--set", o)]
    return _keras_lm("train", "--config", row.config, *sets, "--run-dir", str(run_dir), "--quiet")


def _run(command: list[str], log: Path) -> None:
    with open(log, "a", encoding="utf-8") as out:
        out.write("$ " + shlex.join(command) + "\n")
        out.flush()
        done = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, check=False, env=child_env(None)
        )
    if done.returncode:
        raise RuntimeError(f"{shlex.join(command)} failed ({done.returncode}); see {log}")


def calibrate(row: QualityRow) -> float:
    """Steady-state seconds per training step of `row.config` on this machine (mean, warm)."""
    measured = run_keras(
        row.config, CALIBRATION_STEPS, list(row.overrides), os.environ.get("KERAS_LM_DATA")
    )
    # The mean, not the median: with length buckets, long batches are rarer and slower.
    return measured["step_ms_mean"] / 1000


def run_row(row: QualityRow, work: Path, log: Path) -> dict:
    """Calibrate, train within budget, evaluate; the row's numbers and commands."""
    seconds_per_step = calibrate(row)
    loop = load_config(row.config, list(row.overrides)).loop
    steps, epoch = fitted_schedule(
        seconds_per_step, row.budget_minutes, loop.steps_per_epoch, loop.steps_per_execution
    )
    extra = [f"loop.max_steps={steps}", f"loop.steps_per_epoch={epoch}"]
    run_dir = work / row.config
    train = _train_command(row, run_dir, extra)
    start = time.perf_counter()
    _run(train, log)
    train_minutes = (time.perf_counter() - start) / 60
    evaluate = _keras_lm("evaluate", str(run_dir), "--split", "valid", *row.evaluate_options)
    _run(evaluate, log)
    scores = json.loads((run_dir / "eval" / "valid.json").read_text(encoding="utf-8"))
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    value = _metric(scores, row.metric)
    split = json.loads((run_dir / "split.json").read_text(encoding="utf-8"))
    return {
        "config": row.config,
        "family": load_config(row.config).family,
        "budget_minutes": row.budget_minutes,
        "steps": steps,
        "train_minutes": round(train_minutes, 1),
        "tokens_per_s": metrics.get("tokens_per_s"),
        "metric": row.metric,
        "value": value,
        "target": row.target,
        "met": _met(value, row),
        "scores": scores,
        "split": {"method": split.get("method"), "leak": split_leak(run_dir)},
        "commands": [_public(train), _public(evaluate)],
    }


def split_leak(run_dir: Path) -> dict:
    """The leak check of the run's valid split against its train split (`keras_lm.data.overlap`)."""
    from keras_lm.data import datasets
    from keras_lm.data.overlap import corpus_overlap

    config = load_config(str(run_dir / "config.yaml"))
    ds = datasets.load(config.data.dataset, data_dir=config.data.data_dir, seed=config.data.seed)
    leak = corpus_overlap(ds["train"], ds["valid"])
    return {k: v for k, v in leak.items() if k != "examples"}


def _split_cell(split: dict) -> str:
    """Which valid split, and how much of it train has seen in some form (0% means it cannot leak)."""
    leak = split.get("leak") or {}
    seen = leak.get("share_any")
    if seen is None:
        return f"valid ({split.get('method')})"
    dup = leak.get("share_near_duplicates") or 0.0
    return (
        f"valid ({split.get('method')}, {leak['rows']:,} rows): {100 * seen:.1f}% seen in train, "
        f"{100 * dup:.1f}% near duplicates"
    )


def _metric(scores: dict, name: str) -> float | None:
    for source in (scores, scores.get("metrics", {})):
        if name in source:
            return source[name]
    return None


def _met(value: float | None, row: QualityRow) -> bool | None:
    if row.target is None or value is None:
        return None
    return value >= row.target if row.higher_is_better else value <= row.target


def _public(command: list[str]) -> str:
    """The command as a user types it: `keras-lm ...`, without --quiet or this machine's paths."""
    args = [a for a in command[3:] if a != "--quiet"]
    return "keras-lm " + shlex.join(args)


def format_markdown(rows: list[dict]) -> str:
    """The README table."""
    lines = [
        "| config | family | budget min | steps | train min | valid metric | target | met | measured on | reproduce |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        value = "n/a" if r["value"] is None else f"{r['metric']} {r['value']:.4g}"
        target = (
            "-"
            if r["target"] is None
            else f"{'>=' if r['metric'] != 'loss' else '<='} {r['target']}"
        )
        met = {True: "yes", False: "**no**", None: "-"}[r["met"]]
        reproduce = "<br>".join(f"`{c}`" for c in r["commands"])
        lines.append(
            f"| {r['config']} | {r['family']} | {r['budget_minutes']} | {r['steps']} | {r['train_minutes']} "
            f"| {value} | {target} | {met} | {_split_cell(r.get('split', {}))} | {reproduce} |"
        )
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class QualityConfig(Config):
    """What `run_quality` trains; the fields of `keras-lm bench quality`'s options.

    configs: the rows of `ROWS` to run, by config name (empty: all of them).
    work: folder for the runs and quality.log.
    out: folder for quality.json and quality.md (rewritten after every row).
    """

    configs: tuple[str, ...] = ()
    work: str = "runs/quality"
    out: str = "reports/bench"

    def __post_init__(self):
        unknown = sorted(set(self.configs) - {r.config for r in ROWS})
        if unknown:
            raise ConfigError(f"--configs: {unknown} not in the table {[r.config for r in ROWS]}")


def run_quality(
    config: QualityConfig, command: str = "", progress: Callable[[str], None] | None = None
) -> str:
    """Run each row in turn, rewriting `quality.json` and `quality.md` after each; the Markdown.

    >>> QualityConfig(configs=("gpt-5",))
    Traceback (most recent call last):
    ...
    keras_lm.errors.ConfigError: --configs: ['gpt-5'] not in the table [...]
    """
    wanted = config.configs or tuple(r.config for r in ROWS)
    work, out = Path(config.work), Path(config.out)
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    text = ""
    for row in (r for r in ROWS if r.config in wanted):
        if progress:
            progress(f"{row.config}: calibrate, train {row.budget_minutes} min, evaluate")
        rows.append(run_row(row, work, work / "quality.log"))
        text = f"Quality within CPU budgets on this machine.\n\nCommand: `{command}`\n\n"
        text += format_markdown(rows)
        write_text_atomic(out / "quality.md", text + "\n")
        report = {"command": command, "rows": rows}
        write_text_atomic(out / "quality.json", json.dumps(report, indent=2) + "\n")
    return text
