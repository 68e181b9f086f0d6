"""transformer_lm beyond the shared harness (test_every_family.py): shape and size as torch_ref's GPT."""

from __future__ import annotations

import dataclasses

import pytest

from keras_lm.errors import ConfigError
from keras_lm.models import TransformerLMConfig
from keras_lm.models.transformer_lm.model import build_transformer_lm
from tests.models import harness

CASE = harness.Case("transformer_lm", TransformerLMConfig.tiny())


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
