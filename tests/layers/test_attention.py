"""Seq2SeqAttention: masks honoured, weights normalised, scores as defined, serializable."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_lm.layers import Seq2SeqAttention

RNG = np.random.default_rng(0)
QUERY = RNG.normal(size=(2, 3, 4)).astype("float32")  # (B, T, D)
VALUE = RNG.normal(size=(2, 5, 4)).astype("float32")  # (B, S, D)
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], "int32")


@pytest.mark.parametrize("score", ["dot", "general", "additive"])
def test_padded_values_get_no_weight_and_do_not_matter(score):
    layer = Seq2SeqAttention(score)
    context, weights = (np.asarray(t) for t in layer(QUERY, VALUE, MASK))
    assert context.shape == (2, 3, 4) and weights.shape == (2, 3, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    assert (weights[0, :, 3:] == 0).all() and (weights[1] > 0).all()
    changed = VALUE.copy()
    changed[0, 3:] = 100.0  # padded source positions
    np.testing.assert_allclose(np.asarray(layer(QUERY, changed, MASK)[0]), context, atol=1e-6)


def test_dot_score_is_luong_dot():
    _, weights = Seq2SeqAttention("dot")(QUERY, VALUE)
    scores = np.einsum("btd,bsd->bts", QUERY, VALUE)
    expected = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(weights), expected, atol=1e-5)


def test_dot_needs_equal_widths():
    with pytest.raises(ValueError, match="equal query and value widths"):
        Seq2SeqAttention("dot")(QUERY, VALUE[..., :3])


def test_unknown_score_is_rejected():
    with pytest.raises(ValueError, match="score must be one of"):
        Seq2SeqAttention("cosine")


@pytest.mark.parametrize("score", ["general", "additive"])
def test_saved_in_a_model_and_reloaded_safely(score, tmp_path):
    q, v = keras.Input((None, 4)), keras.Input((None, 4))
    m = keras.Input((None,), dtype="int32")
    context, _ = Seq2SeqAttention(score, units=6, name="attention")(q, v, m)
    model = keras.Model([q, v, m], context)
    model.save(tmp_path / "attention.keras")
    loaded = keras.saving.load_model(tmp_path / "attention.keras", safe_mode=True)
    assert loaded.get_layer("attention").get_config()["units"] == 6
    np.testing.assert_allclose(loaded([QUERY, VALUE, MASK]), model([QUERY, VALUE, MASK]), atol=1e-6)


def test_mixed_precision_masking_stays_finite():
    layer = Seq2SeqAttention("additive", dtype="mixed_float16")
    context, weights = layer(QUERY, VALUE, MASK)
    assert keras.backend.standardize_dtype(context.dtype) == "float16"
    assert np.isfinite(np.asarray(context, "float32")).all()
    assert (np.asarray(weights, "float32")[0, :, 3:] == 0).all()
