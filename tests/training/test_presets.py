"""Every shipped config loads, validates and round-trips; the GPT configs train the way README measures."""

from __future__ import annotations

import pytest

from keras_lm.training.config import TrainConfig
from keras_lm.training.presets import load_config
from keras_lm.training.presets import shipped_names


@pytest.mark.parametrize("name", shipped_names())
def test_shipped_config_loads_and_round_trips(name):
    config = load_config(name)
    assert config.name == name
    assert TrainConfig.from_dict(config.to_dict()) == config
    epochs, per_epoch = config.loop.schedule()
    assert epochs * per_epoch == config.loop.max_steps
    assert per_epoch % config.loop.steps_per_execution == 0


def test_gpt_configs_use_the_faster_mode_measured_in_readme():
    # README "Speed and loss against the PyTorch reference": XLA wins at baby (no dropout),
    # graph mode at small (dropout 0.1).
    baby, small = load_config("shakespeare-baby"), load_config("shakespeare-small")
    assert baby.loop.jit_compile and baby.loop.steps_per_execution == 10
    assert not small.loop.jit_compile and small.model["dropout"] == 0.1
