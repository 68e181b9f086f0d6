"""`keras-lm bench train --repeats`: rows measured in rounds, medians and paired ratios."""

from __future__ import annotations

import json

import pytest

import benchmarks.speed_rounds as speed_rounds
from benchmarks.speed_rounds import TrainSpeedConfig
from benchmarks.speed_rounds import combine_rounds
from benchmarks.speed_rounds import plan_jobs
from benchmarks.speed_rounds import run_train_speed


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


def test_measures_every_row_once_per_round(monkeypatch, tmp_path):
    calls = []
    speeds = iter([100.0, 90.0, 95.0, 50.0, 45.0, 48.0])

    def fake_keras(name, steps, overrides, data_dir):
        calls.append(("keras", tuple(overrides)))
        return {**_row("keras_lm", next(speeds)), "config": name, "params": 1, "peak_rss_mb": 1.0}

    monkeypatch.setattr(speed_rounds, "run_keras", fake_keras)
    config = TrainSpeedConfig(
        configs=("shakespeare-baby",),
        steps=20,
        repeats=2,
        variants=("loop.jit_compile=true", "loop.steps_per_execution=5"),
        data_dir=str(tmp_path / "no-data"),
        out=str(tmp_path / "out"),
    )
    monkeypatch.delenv("KERAS_LM_DATA", raising=False)
    text = run_train_speed(config, "keras-lm bench train")
    assert "No PyTorch reference rows: no torch_ref folder given" in text
    variants = [(), ("loop.jit_compile=true",), ("loop.steps_per_execution=5",)]
    assert calls == [("keras", v) for v in variants] * 2  # round 1, then round 2, same order
    report = json.loads((tmp_path / "out" / "train.json").read_text())
    assert [r["tokens_per_s"] for r in report["rows"]] == [75.0, 67.5, 71.5]
    assert report["rows"][0]["tokens_per_s_range"] == [50.0, 100.0]
    assert "(50-100)" in (tmp_path / "out" / "train.md").read_text()


def test_plan_pairs_every_keras_row_with_its_torch_ref_row():
    config = TrainSpeedConfig(configs=("a", "b"), variants=("x=1",), overrides=("m=0",))
    jobs, partner = plan_jobs(config, with_torch=True)
    assert [(j.config, j.torch, j.overrides) for j in jobs] == [
        ("a", True, ("m=0",)),
        ("a", False, ("m=0",)),
        ("a", False, ("m=0", "x=1")),
        ("b", True, ("m=0",)),
        ("b", False, ("m=0",)),
        ("b", False, ("m=0", "x=1")),
    ]
    assert partner == [None, 0, 0, None, 3, 3]
    jobs, partner = plan_jobs(config, with_torch=False)
    assert not any(j.torch for j in jobs) and partner == [None] * 4


def test_a_torch_ref_given_but_absent_is_named(tmp_path):
    from keras_lm.errors import InputError

    config = TrainSpeedConfig(torch_ref=str(tmp_path / "nowhere"), out=str(tmp_path / "out"))
    with pytest.raises(InputError, match="nowhere: not a torch_ref folder"):
        run_train_speed(config)
    assert not (tmp_path / "out").exists()
