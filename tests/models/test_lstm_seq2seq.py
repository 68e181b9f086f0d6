"""lstm_seq2seq beyond the shared harness: every attention score and encoder kind, the heat-map model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from keras_lm.errors import ConfigError
from keras_lm.models import LSTMSeq2SeqConfig
from keras_lm.models.lstm_seq2seq.model import build_attention_model
from tests.models import harness

TINY = LSTMSeq2SeqConfig.tiny()
CASE = harness.Case("lstm_seq2seq", TINY)
VARIANTS = {
    "dot_bi": dataclasses.replace(TINY, attention="dot"),
    "additive_uni_bridged": dataclasses.replace(
        TINY, attention="additive", bidirectional=False, num_layers=1
    ),
    "dot_uni_shared": dataclasses.replace(
        TINY, attention="dot", bidirectional=False, encoder_units=16, share_embeddings=True
    ),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_padding_invariance(name):
    """Padded source tokens (any ids, mask 0) change nothing: not the states, not the attention."""
    harness.check_padding_invariance(harness.Case(CASE.family, VARIANTS[name]))


def test_attention_model_shares_weights_and_gives_no_weight_to_padding():
    model = CASE.build()
    viewer = build_attention_model(model)
    inputs = harness.random_inputs(CASE, 2, 4)
    inputs["encoder_padding_mask"][:, -2:] = 0
    out = viewer(inputs, training=False)
    weights = np.asarray(out["attention_weights"])  # (B, T, S)
    assert weights.shape == (2, 4, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert (weights[:, :, -2:] == 0).all()
    np.testing.assert_allclose(np.asarray(out["logits"]), harness.predict(model, inputs), atol=1e-6)


def test_dot_attention_needs_matching_widths():
    with pytest.raises(ConfigError, match="dot attention"):
        dataclasses.replace(TINY, attention="dot", decoder_units=32)
