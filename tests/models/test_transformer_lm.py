"""transformer_lm: the shared harness, plus parity of shape and size with torch_ref's GPT."""

from __future__ import annotations

import dataclasses

import pytest

from keras_lm.errors import ConfigError
from keras_lm.models import TransformerLMConfig
from keras_lm.models.transformer_lm.model import build_transformer_lm
from tests.models import harness

CASE = harness.Case("transformer_lm", TransformerLMConfig.tiny())


def test_config_round_trip():
    harness.check_config_round_trip(CASE)


def test_variable_length():
    harness.check_variable_length(CASE)


def test_fit_memorises():
    harness.check_fit_memorises(CASE)


def test_save_load(tmp_path):
    harness.check_save_load(CASE, tmp_path)


def test_padding_invariance():
    harness.check_padding_invariance(CASE)


def test_causal():
    harness.check_causal(CASE)


def test_mixed_precision_logits():
    harness.check_mixed_precision_logits(CASE)


@pytest.mark.parametrize(
    ("config", "torch_ref_params"),
    [(TransformerLMConfig.baby(), 809_856), (TransformerLMConfig.small(), 2_706_624)],
)
def test_param_count_matches_torch_ref(config, torch_ref_params):
    assert build_transformer_lm(config).count_params() == torch_ref_params


def test_untied_output_adds_one_matrix():
    tied = build_transformer_lm(CASE.config).count_params()
    untied = build_transformer_lm(
        dataclasses.replace(CASE.config, tie_embeddings=False)
    ).count_params()
    assert untied - tied == CASE.config.vocab_size * CASE.config.hidden_dim


def test_heads_must_divide_width():
    with pytest.raises(ConfigError, match="multiple of num_heads"):
        TransformerLMConfig.from_dict({"hidden_dim": 16, "num_heads": 3})
