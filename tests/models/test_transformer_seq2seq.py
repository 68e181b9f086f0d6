"""transformer_seq2seq beyond the shared harness: post-LN, separate embeddings and vocabularies."""

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


@pytest.mark.parametrize("name", VARIANTS)
def test_padding_invariance(name):
    harness.check_padding_invariance(harness.Case(CASE.family, VARIANTS[name]))


@pytest.mark.parametrize("name", VARIANTS)
def test_causal(name):
    harness.check_causal(harness.Case(CASE.family, VARIANTS[name]))


def test_sharing_embeddings_saves_a_matrix():
    shared = build_transformer_seq2seq(TINY).count_params()
    separate = build_transformer_seq2seq(
        dataclasses.replace(TINY, share_embeddings=False)
    ).count_params()
    assert separate - shared == TINY.vocab_size * TINY.hidden_dim


def test_shared_embeddings_need_one_vocabulary():
    with pytest.raises(ConfigError, match="share_embeddings"):
        dataclasses.replace(TINY, target_vocab_size=30)


@pytest.mark.parametrize("name", VARIANTS)
def test_runtime_cache_graphs_decode_as_the_standard_ones(name):
    """Post-LN, an untied Dense head, relu and a separate source embedding in the fused graphs."""
    from keras_lm.generation.keras_graphs import KerasGraphs
    from keras_lm.models.registry import get_family

    model = build_transformer_seq2seq(VARIANTS[name])
    facts = KerasGraphs(model, jit_compile=False).facts
    sources = [[harness.FIRST_ID] * 2, [harness.FIRST_ID + 1] * 4, [harness.FIRST_ID + 2] * 3]
    harness.check_runtime_cache_seq2seq_graphs(get_family(CASE.family), model, facts, sources)
