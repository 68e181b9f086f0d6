"""`keras-lm bench train --repeats`: rows measured in rounds, medians and paired ratios."""

from __future__ import annotations

import json
import types

import pytest

import keras_lm.bench.train_speed as train_speed
from keras_lm.bench.speed_rounds import combine_rounds
from keras_lm.cli.bench import run_train_speed


def _row(impl: str, speed: float) -> dict:
    return {"impl": impl, "tokens_per_s": speed, "step_ms_median": 768_000 / speed}


def test_ratio_pairs_each_round_so_common_drift_cancels():
    # The machine is half as fast in round 2; both sides slow down together.
    rounds = [
        [_row("torch_ref", 100.0), _row("keras_lm", 80.0)],
        [_row("torch_ref", 50.0), _row("keras_lm", 40.0)],
        [_row("torch_ref", 90.0), _row("keras_lm", 72.0)],
    ]
    torch, keras = combine_rounds(rounds, partner=[None, 0])
    assert keras["ratios"] == [0.8, 0.8, 0.8] and keras["ratio"] == 0.8
    assert keras["tokens_per_s"] == 72.0 and keras["tokens_per_s_range"] == [40.0, 80.0]
    assert "ratio" not in torch and torch["repeats"] == 3


def test_rounds_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="same rows"):
        combine_rounds([[_row("keras_lm", 1.0)], []], partner=[None])


def test_cli_measures_every_row_once_per_round(monkeypatch, tmp_path):
    calls = []
    speeds = iter([100.0, 90.0, 95.0, 50.0, 45.0, 48.0])

    def fake_keras(name, steps, overrides, data_dir):
        calls.append(("keras", tuple(overrides)))
        return {**_row("keras_lm", next(speeds)), "config": name, "params": 1, "peak_rss_mb": 1.0}

    monkeypatch.setattr(train_speed, "run_keras", fake_keras)
    args = types.SimpleNamespace(
        configs="shakespeare-baby",
        steps=20,
        repeats=2,
        variant=["loop.jit_compile=true", "loop.steps_per_execution=5"],
        set=[],
        data_dir=str(tmp_path / "no-data"),
        torch_python=str(tmp_path / "no-python"),
        torch_ref=str(tmp_path),
        quality_steps=0,
        out=str(tmp_path / "out"),
    )
    monkeypatch.delenv("KERAS_LM_DATA", raising=False)
    assert run_train_speed(args) == 0
    variants = [(), ("loop.jit_compile=true",), ("loop.steps_per_execution=5",)]
    assert calls == [("keras", v) for v in variants] * 2  # round 1, then round 2, same order
    report = json.loads((tmp_path / "out" / "train.json").read_text())
    assert [r["tokens_per_s"] for r in report["rows"]] == [75.0, 67.5, 71.5]
    assert report["rows"][0]["tokens_per_s_range"] == [50.0, 100.0]
    assert "(50-100)" in (tmp_path / "out" / "train.md").read_text()
