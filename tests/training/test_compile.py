"""compile_model's optimizer: torch_ref's warmup, global-norm clipping, decay on matrices only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.models.registry import build_model
from keras_lm.training.compile import compile_model
from keras_lm.training.compile import learning_rate_schedule
from keras_lm.training.config import OptimizerConfig
from keras_lm.training.presets import load_config


def _torch_ref_lr(it: int, lr: float, min_lr: float, warmup: int, total: int) -> float:
    """`lr_at` of ../shared/anchors/torch_ref/train.py."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    ratio = (it - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def test_schedule_is_torch_refs_from_the_first_step():
    opt = OptimizerConfig(learning_rate=1e-3, min_learning_rate=1e-4, warmup_steps=100)
    schedule = learning_rate_schedule(opt, total_steps=850)
    for step in (0, 1, 50, 99, 100, 101, 400, 849):
        expected = _torch_ref_lr(step, 1e-3, 1e-4, 100, 850)
        assert math.isclose(float(schedule(step)), expected, rel_tol=1e-5), step


@pytest.mark.slow
def test_first_step_moves_every_weight_and_decays_only_matrices():
    config = load_config("tiny-transformer-lm", ["loop.max_steps=10", "optimizer.weight_decay=0.5"])
    model = build_model(config.family, config.model_config(vocab_size=40))
    compile_model(model, config)
    before = {v.path: np.array(v) for v in model.trainable_weights}
    x = np.random.default_rng(0).integers(0, 40, (2, 8)).astype("int32")
    model.train_on_batch({TOKEN_IDS: x, PADDING_MASK: np.ones_like(x)}, x)
    moved = {
        v.path: not np.array_equal(np.array(v), before[v.path]) for v in model.trainable_weights
    }
    assert all(moved.values()), [path for path, m in moved.items() if not m]
    optimizer = model.optimizer
    decayed = {v.path for v in model.trainable_weights if optimizer._use_weight_decay(v)}
    assert "token_embedding/embeddings" in decayed
    assert not any(p.endswith(("/bias", "/gamma", "/beta")) for p in decayed), decayed
    assert optimizer.global_clipnorm == config.optimizer.clipnorm and optimizer.clipnorm is None
