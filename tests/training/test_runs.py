"""`Run.splits()` loads and cleans the data once per opened run."""

from __future__ import annotations

import keras_lm.training.fit as fit
from keras_lm.training.presets import load_config
from keras_lm.training.runs import Run


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
