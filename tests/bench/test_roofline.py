"""The decode FLOP count matches the model's own matrices, and the GEMM rate is a real measurement."""

import dataclasses

import numpy as np

from keras_lm.bench.roofline import flops_per_token
from keras_lm.bench.roofline import gemm_rate


def test_flops_per_token_counts_every_matrix_of_the_model_once():
    from keras_lm.models.transformer_lm.config import TransformerLMConfig
    from keras_lm.models.transformer_lm.model import build_transformer_lm

    config = dataclasses.replace(TransformerLMConfig.tiny(), intermediate_dim=48)
    model = build_transformer_lm(config)
    matrices = sum(int(np.prod(w.shape)) for w in model.weights if "kernel" in w.path)
    embedding = config.vocab_size * config.hidden_dim  # the tied head reads it once per token
    attention = 2 * config.num_layers * config.hidden_dim * 8  # 8 positions: q.k and p.v
    flops = flops_per_token(config.to_dict(), config.vocab_size, position=7)
    assert flops == 2 * (matrices + embedding) + 2 * attention


def test_gemm_rate_is_measured_in_flops_per_second():
    rate = gemm_rate(size=64, seconds=0.05)
    assert 1e8 < rate < 1e14
