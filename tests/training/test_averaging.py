"""Weight averaging over a run's last steps (`loop.average_share`, `--checkpoint averaged`)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from keras_lm.errors import ConfigError
from keras_lm.errors import InputError
from keras_lm.runs import open_run
from keras_lm.training.fit import train
from keras_lm.training.presets import load_config


class _WeightsAt(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step, self.weights = step, None

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.step:
            self.weights = self.model.get_weights()


def test_the_averaged_checkpoint_is_the_mean_of_the_snapshots_and_the_final_model_is_kept(
    tmp_path,
):
    overrides = ["loop.max_steps=20", "loop.steps_per_epoch=10"]
    averaging = ["loop.average_share=0.5", "loop.average_every=5"]
    at_15 = _WeightsAt(15)
    result = train(
        load_config("tiny-lstm-lm", overrides + averaging),
        tmp_path / "run",
        verbose=0,
        callbacks=[at_15],
    )
    run = open_run(result.run_dir)
    note = json.loads((result.run_dir / "checkpoints" / "averaged.json").read_text())
    assert note["steps"] == [15, 20] and note["snapshots"] == 2
    final = run.model("final").get_weights()
    averaged = run.model("averaged").get_weights()
    for w15, w20, mean in zip(at_15.weights, final, averaged, strict=True):
        np.testing.assert_allclose(mean, (w15 + w20) / 2, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(m, f) for m, f in zip(averaged, final, strict=True))


def test_a_run_without_averaging_has_no_averaged_checkpoint_and_says_why(tiny_run):
    with pytest.raises(InputError, match="without loop.average_share"):
        open_run(tiny_run("tiny-lstm-lm")).checkpoint("averaged")


def test_an_average_share_outside_0_to_1_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"^loop.average_share: expected"):
        load_config("tiny-lstm-lm", ["loop.average_share=1.5"])
