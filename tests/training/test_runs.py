"""`Run.splits()` loads and cleans the data once per opened run."""

from __future__ import annotations

import pytest

import keras_lm.training.fit as fit
from keras_lm.runs import Run
from keras_lm.training.presets import load_config


def test_splits_are_loaded_once_and_each_call_gets_its_own_dict(monkeypatch, tmp_path):
    loads = []
    train_split = object()

    def fake_load_and_clean(config, run_dir):
        loads.append(config.name)
        return {"train": train_split}, {}

    monkeypatch.setattr(fit, "load_and_clean", fake_load_and_clean)
    run = Run(tmp_path, load_config("tiny-transformer-lm"), tokenizer=None)
    first = run.splits()
    first.pop("train")  # a caller editing its dict does not change the run's splits
    assert run.splits() == {"train": train_split}
    assert loads == ["tiny-transformer-lm"]


@pytest.mark.slow
def test_max_train_rows_caps_train_only_and_training_sees_the_cap(tmp_path, caplog):
    import logging

    import pytest

    from keras_lm.errors import ConfigError
    from keras_lm.runs import open_run

    full, _ = fit.load_and_clean(load_config("tiny-classifier"), None)
    config = load_config(
        "tiny-classifier",
        {"data.max_train_rows": 12, "loop.max_steps": 2, "loop.steps_per_epoch": 2},
    )
    with caplog.at_level(logging.INFO, logger="keras_lm.training.fit"):
        fit.train(config, tmp_path / "run", verbose=0)
    assert f"first 12 of {len(full['train'].records)} train rows" in caplog.text
    splits = open_run(tmp_path / "run").splits()
    assert splits["train"].records == full["train"].records[:12]
    assert splits["valid"].records == full["valid"].records
    with pytest.raises(ConfigError, match="data.max_train_rows: expected an integer >= 1, got 0"):
        load_config("tiny-classifier", {"data.max_train_rows": 0})
