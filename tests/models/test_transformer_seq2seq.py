"""transformer_seq2seq: the shared harness over pre- and post-LN, shared and separate embeddings."""

from __future__ import annotations

import dataclasses

import pytest

from keras_lm.errors import ConfigError
from keras_lm.models import TransformerSeq2SeqConfig
from keras_lm.models.transformer_seq2seq.model import build_transformer_seq2seq
from tests.models import harness

TINY = TransformerSeq2SeqConfig.tiny()
CASE = harness.Case("transformer_seq2seq", TINY)
VARIANTS = {
    "post_ln_untied": dataclasses.replace(
        TINY, normalize_first=False, tie_embeddings=False, activation="relu"
    ),
    "two_vocabularies": dataclasses.replace(TINY, share_embeddings=False, target_vocab_size=30),
}


def test_config_round_trip():
    harness.check_config_round_trip(CASE)


def test_variable_length():
    harness.check_variable_length(CASE)


def test_fit_memorises():
    harness.check_fit_memorises(CASE)


def test_save_load(tmp_path):
    harness.check_save_load(CASE, tmp_path)


@pytest.mark.parametrize("name", ["default", *VARIANTS])
def test_padding_invariance(name):
    harness.check_padding_invariance(harness.Case(CASE.family, VARIANTS.get(name, TINY)))


@pytest.mark.parametrize("name", ["default", *VARIANTS])
def test_causal(name):
    harness.check_causal(harness.Case(CASE.family, VARIANTS.get(name, TINY)))


def test_mixed_precision_logits():
    harness.check_mixed_precision_logits(CASE)


def test_sharing_embeddings_saves_a_matrix():
    shared = build_transformer_seq2seq(TINY).count_params()
    separate = build_transformer_seq2seq(
        dataclasses.replace(TINY, share_embeddings=False)
    ).count_params()
    assert separate - shared == TINY.vocab_size * TINY.hidden_dim


def test_shared_embeddings_need_one_vocabulary():
    with pytest.raises(ConfigError, match="share_embeddings"):
        dataclasses.replace(TINY, target_vocab_size=30)
