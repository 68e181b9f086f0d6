"""Training runs: every family end to end (tiny), resume after SIGKILL, NaN handling, early failures."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import keras_lm.training.fit as fit  # noqa: E402
from keras_lm.cli.main import main  # noqa: E402
from keras_lm.errors import DatasetNotFoundError  # noqa: E402
from keras_lm.errors import InputError  # noqa: E402
from keras_lm.training.fit import TrainingError  # noqa: E402
from keras_lm.training.fit import train  # noqa: E402
from keras_lm.training.presets import load_config  # noqa: E402

TINY = [
    "tiny-transformer-lm",
    "tiny-lstm-lm",
    "tiny-transformer-seq2seq",
    "tiny-lstm-seq2seq",
    "tiny-classifier",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", TINY)
def test_every_family_trains_into_a_complete_run_dir(tiny_training, name):
    config = load_config(name, ["loop.max_steps=20", "loop.steps_per_epoch=10"])
    result = tiny_training(name)  # `train(config, ...)`, run once per session (conftest.py)
    run = result.run_dir
    for path in (
        "config.yaml",
        "split.json",
        "tokenizer/tokenizer.json",
        "checkpoints/best.keras",
        "model.keras",
        "metrics.json",
        "logs/train.csv",
    ):
        assert (run / path).is_file(), path
    assert result.steps == 20
    losses = result.history["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    reloaded = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert reloaded.count_params() == result.metrics["params"]
    if config.family.endswith("lm") or config.family.endswith("seq2seq"):
        samples = (run / "logs" / "samples.jsonl").read_text().splitlines()
        assert len(samples) == 2 and json.loads(samples[-1])["sample"]


def test_absent_data_fails_before_any_model_is_built(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_LM_DATA", raising=False)
    monkeypatch.setenv("KERAS_LM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("keras_lm.data.download._download", _refuse_network)
    built = []
    monkeypatch.setattr("keras_lm.models.registry.build_model", lambda *a, **k: built.append(a))
    config = load_config("tiny-transformer-lm", ["data.dataset=wikitext2"])
    with pytest.raises(DatasetNotFoundError, match="wikitext2"):
        train(config, tmp_path / "run", verbose=0)
    assert not built and not (tmp_path / "run").exists()


def _train_args(run_dir, override):
    return [
        "train",
        "--config",
        "tiny-transformer-lm",
        "--run-dir",
        str(run_dir),
        "--set",
        override,
    ]


def test_a_field_out_of_range_is_refused_before_any_file_is_written(tmp_path, capsys):
    assert main(_train_args(tmp_path / "run", "model.num_layers=-1")) == 2
    assert capsys.readouterr().err.strip() == (
        "error: model.num_layers: expected an integer >= 1, got -1"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_new_run_that_fails_leaves_no_folder_and_a_corrected_config_then_starts(
    tmp_path, capsys, monkeypatch
):
    run_dir = tmp_path / "run"
    assert main(_train_args(run_dir, "loop.sequence_length=64")) == 2  # fails once built
    assert "loop.sequence_length (64) is longer than model.context (32)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # not even config.yaml, split.json or tokenizer/
    started = []
    monkeypatch.setattr(fit, "_fit", lambda config, folder, *rest: started.append(folder))
    train(load_config("tiny-transformer-lm"), run_dir, verbose=0)  # `fit` itself left out
    assert started == [run_dir]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml", "split.json", "tokenizer"]


def test_a_folder_that_holds_something_else_is_not_made_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and holds no run"):
        train(load_config("tiny-transformer-lm"), tmp_path, verbose=0)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def _refuse_network(remote, path, timeout):
    raise DatasetNotFoundError(f"no network in tests: {remote.url}")


class PoisonAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            weight = self.model.trainable_weights[0]
            weight.assign(np.full(weight.shape, np.nan, dtype="float32"))


@pytest.mark.slow
def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    config = load_config("tiny-lstm-lm", ["loop.max_steps=30", "loop.steps_per_epoch=10"])
    with pytest.raises(TrainingError, match=r"NaN at step 11.*best\.keras \(epoch 1\)"):
        train(config, tmp_path / "run", verbose=0, callbacks=[PoisonAtEpoch(1)])
    best = keras.saving.load_model(tmp_path / "run" / "checkpoints" / "best.keras", safe_mode=True)
    assert all(np.isfinite(w).all() for w in best.get_weights())
    assert json.loads((tmp_path / "run" / "backup" / "backup.json").read_text())["epoch"] == 1


@pytest.mark.slow
def test_a_run_dir_with_another_config_is_refused(tiny_run, tmp_path):
    # A copy of the session's finished 20-step run, which must refuse a 10-step config.
    shutil.copytree(tiny_run("tiny-lstm-lm"), tmp_path / "run")
    with pytest.raises(Exception, match="different config"):
        train(load_config("tiny-lstm-lm", ["loop.max_steps=10"]), tmp_path / "run", verbose=0)


def test_cli_rejects_bad_overrides_by_name(capsys):
    assert (
        main(
            ["train", "--config", "tiny-lstm-lm", "--set", "model.num_layers=two", "--print-config"]
        )
        == 2
    )
    assert "model.num_layers: expected int" in capsys.readouterr().err
    assert (
        main(["train", "--config", "tiny-lstm-lm", "--set", "model.depth=3", "--print-config"]) == 2
    )
    assert "Unknown config key: model.depth" in capsys.readouterr().err
    assert main(["train", "--config", "no-such-config"]) == 2


def _train_command(run_dir, steps):
    return [
        sys.executable,
        "-m",
        "keras_lm",
        "train",
        "--config",
        "tiny-transformer-lm",
        "--quiet",
        "--run-dir",
        str(run_dir),
        "--set",
        f"loop.max_steps={steps}",
        "--set",
        "loop.steps_per_epoch=10",
    ]


@pytest.mark.slow
def test_resume_after_sigkill_completes_the_same_steps(tmp_path):
    steps = 60
    killed = tmp_path / "killed"
    # The uninterrupted run goes alongside: the three runs' start-up is most of the test's time.
    whole = subprocess.Popen(
        _train_command(tmp_path / "whole", steps),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = open(tmp_path / "killed.log", "w")  # noqa: SIM115 (closed after the kill)
    proc = subprocess.Popen(_train_command(killed, steps), stdout=log, stderr=subprocess.STDOUT)
    state = killed / "backup" / "backup.json"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if state.is_file() and json.loads(state.read_text())["epoch"] >= 2:
            break
        time.sleep(0.05)
    ended_early = proc.poll() is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()
    assert not ended_early, (tmp_path / "killed.log").read_text()[-2000:]
    assert not (killed / "metrics.json").exists()
    resumed = subprocess.run(
        _train_command(killed, steps), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _, whole_err = whole.communicate(timeout=300)
    assert whole.returncode == 0, whole_err[-3000:]
    a = json.loads((killed / "metrics.json").read_text())
    b = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert a["steps"] == b["steps"] == steps
    with open(killed / "logs" / "train.csv") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs[-1] == steps // 10 - 1
    import keras_lm.layers  # noqa: F401  (registers the custom layers, as a user must)
    import keras_lm.models.losses  # noqa: F401  (and the loss)

    for path in (killed / "model.keras", killed / "checkpoints" / "best.keras"):
        keras.saving.load_model(path, safe_mode=True)
    leftovers = [
        p.name
        for p in killed.rglob("*")
        if p.name.startswith(".") and p.suffix in (".tmp", ".h5", ".keras")
    ]
    assert not leftovers


@pytest.mark.slow
def test_same_seed_same_run(tiny_training, tmp_path):
    config = load_config("tiny-transformer-lm", ["loop.max_steps=20", "loop.steps_per_epoch=10"])
    a = tiny_training("tiny-transformer-lm")  # the session's run of the same config
    b = train(config, tmp_path / "b", verbose=0)
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(a.history["val_loss"], b.history["val_loss"], rtol=1e-5)
    assert (a.run_dir / "split.json").read_text() == (tmp_path / "b" / "split.json").read_text()


@pytest.mark.slow
def test_max_steps_shorter_than_an_epoch_runs_exactly_max_steps(tmp_path):
    config = load_config("tiny-lstm-lm", ["loop.max_steps=6", "loop.steps_per_epoch=10"])
    assert train(config, tmp_path / "run", verbose=0).steps == 6
    with pytest.raises(Exception, match=r"max_steps \(25\) must be a positive multiple"):
        load_config("tiny-lstm-lm", ["loop.max_steps=25", "loop.steps_per_epoch=10"])


@pytest.mark.slow
def test_steps_per_execution_runs_exactly_max_steps(tmp_path):
    overrides = ["loop.max_steps=20", "loop.steps_per_epoch=10", "loop.steps_per_execution=5"]
    result = train(load_config("tiny-lstm-lm", overrides), tmp_path / "run", verbose=0)
    assert result.steps == 20 and len(result.history["loss"]) == 2
    # Keras would run whole executions past the epoch: 10 steps at 3 a call would be 12.
    with pytest.raises(Exception, match=r"steps_per_execution \(3\) must divide"):
        load_config("tiny-lstm-lm", [*overrides[:2], "loop.steps_per_execution=3"])


def test_lm_on_pairs_learns_the_responses_and_scores_only_them(tmp_path):
    from keras_lm.data.corpus import Corpus
    from keras_lm.evaluation.evaluate import _evaluate_lm
    from keras_lm.runs import open_run

    # Prompts drawn from eleven words, responses from two: a response-only loss sees just those.
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    rows = [(f"{words[i % 10]} {words[(3 * i) % 7]}", "yes" if i % 3 else "no") for i in range(300)]
    corpus = tmp_path / "pairs.tsv"
    corpus.write_text("".join(f"{p}\t{r}\n" for p, r in rows[:240]), encoding="utf-8")
    overrides = [f"data.dataset={corpus}", "data.max_length=32", "data.clean=false"]
    overrides += ["loop.max_steps=60", "loop.steps_per_epoch=30", "loop.eval_steps=2"]
    overrides += ["data.prompt_template='Q: {source} A:'", "optimizer.learning_rate=0.01"]
    run_dir = tmp_path / "run"
    train(load_config("tiny-transformer-lm", overrides), run_dir, verbose=0)
    run = open_run(run_dir)
    held_out = Corpus.from_pairs(rows[240:])
    metrics = _evaluate_lm(run, held_out, "final", 8, None)
    scored = sum(len(run.tokenizer.encode(r)) + 1 for _, r in rows[240:])  # responses + ends
    assert metrics["tokens"] == scored
    assert metrics["perplexity"] < 3.0  # learnt: the prompts' letters would cost far more
