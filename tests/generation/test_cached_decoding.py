"""The cached path (KV cache / LSTM state) gives the logits and tokens of a full recompute."""

from __future__ import annotations

import numpy as np
import pytest

from keras_lm.features import DECODER_PADDING_MASK
from keras_lm.features import DECODER_TOKEN_IDS
from keras_lm.features import ENCODER_PADDING_MASK
from keras_lm.features import ENCODER_TOKEN_IDS
from keras_lm.generation.keras_graphs import RecomputeLMStepper
from keras_lm.generation.keras_graphs import keras_stepper
from keras_lm.inference.decoding import generate_lm
from keras_lm.inference.decoding import left_pad
from keras_lm.inference.decoding import translate_ids
from keras_lm.inference.sampling import SamplingConfig
from keras_lm.models import registry

LM_FAMILIES = ["transformer_lm", "lstm_lm"]
SEQ2SEQ_FAMILIES = ["transformer_seq2seq", "lstm_seq2seq"]
GREEDY = SamplingConfig(max_new_tokens=12)


def _model(family: str, **overrides):
    import keras

    keras.utils.set_random_seed(7)
    config = registry.get_family(family).config.tiny()
    config = type(config).from_dict({**config.to_dict(), **overrides})
    model = registry.build_model(family, config.to_dict())
    _sharpen(model)
    return model


def _sharpen(model) -> None:
    """Scale the output layer so that argmax is decided by margins far above float noise."""
    for variable in model.weights:
        if (
            variable.path.startswith(("logits/", "token_embedding/"))
            or "target_token_embedding" in variable.path
        ):
            variable.assign(variable.numpy() * 20)


def _full_logits(model, seq: list[int]) -> np.ndarray:
    ids = np.asarray([seq], np.int32)
    return model({"token_ids": ids, "padding_mask": np.ones_like(ids)}, training=False).numpy()[0]


@pytest.mark.parametrize("family", LM_FAMILIES)
def test_lm_cached_logits_match_full_recompute_at_every_step(family):
    model = _model(family)
    stepper = keras_stepper(model)
    prompt = [5, 9, 11, 7]
    logits, state = stepper.prefill(*left_pad([prompt]))
    seq = list(prompt)
    for _ in range(8):
        np.testing.assert_allclose(logits[0], _full_logits(model, seq)[-1], atol=1e-5)
        token = int(np.argmax(logits[0]))
        seq.append(token)
        logits, state = stepper.step(np.array([token], np.int32), state)


@pytest.mark.parametrize(
    "family", [pytest.param("transformer_lm", marks=pytest.mark.slow), "lstm_lm"]
)
def test_lm_batched_prompts_of_different_lengths_decode_as_each_alone(family):
    model = _model(family)
    prompts = [[5, 9, 11, 7, 12, 30], [8], [20, 21, 22]]
    batched = generate_lm(keras_stepper(model), prompts, GREEDY)
    alone = [generate_lm(keras_stepper(model), [p], GREEDY)[0] for p in prompts]
    naive = generate_lm(RecomputeLMStepper(model), prompts, GREEDY)
    assert batched == alone == naive
    assert all(len(out) == GREEDY.max_new_tokens for out in batched)


def test_past_the_context_the_window_slides_like_a_full_recompute():
    model = _model("transformer_lm")  # context 16
    stepper = keras_stepper(model)
    config = SamplingConfig(max_new_tokens=30)  # prompt 10 + 30 passes the context of 16
    cached = generate_lm(stepper, [[5, 9, 11, 7, 12, 30, 3, 4, 8, 9], [6]], config)
    naive = generate_lm(RecomputeLMStepper(model), [[5, 9, 11, 7, 12, 30, 3, 4, 8, 9], [6]], config)
    assert cached == naive
    # and the logits right after the slide equal a recompute over the last 16 tokens
    seq = [5, 9, 11, 7, 12, 30, 3, 4, 8, 9] + cached[0]
    logits, _ = stepper.prefill(*left_pad([seq[-16:]]))
    np.testing.assert_allclose(logits[0], _full_logits(model, seq[-16:])[-1], atol=1e-5)


def test_the_cache_is_fixed_size_fills_one_slot_per_token_and_reports_full_at_the_context():
    model = _model("transformer_lm")  # context 16
    stepper = keras_stepper(model)
    _, state = stepper.prefill(*left_pad([[5] * 15, [6, 7]]))
    cache = state["cache"]  # (B, 2L, C, H, Dh)
    assert cache.shape[2] == 16 and state["next"].tolist() == [15, 2]
    assert np.abs(cache[1, :, 2:]).max() == 0, "left padding wrote into the cache"
    assert (np.abs(cache[1, :, :2]).max(axis=(-1, -2)) > 0).all(), "a real token was not written"
    assert not stepper.full(state)
    _, state = stepper.step(np.array([6, 8], np.int32), state)
    assert state["cache"].shape[2] == 16 and stepper.full(state)


def _seq2seq_full_logits(model, source, target):
    src, tgt = np.asarray([source], np.int32), np.asarray([target], np.int32)
    features = {
        ENCODER_TOKEN_IDS: src,
        ENCODER_PADDING_MASK: np.ones_like(src),
        DECODER_TOKEN_IDS: tgt,
        DECODER_PADDING_MASK: np.ones_like(tgt),
    }
    return model(features, training=False).numpy()[0, -1]


@pytest.mark.parametrize("family", SEQ2SEQ_FAMILIES)
def test_seq2seq_cached_logits_match_full_recompute(family):
    model = _model(family)
    stepper = keras_stepper(model)
    source, start = [7, 8, 9, 10, 11], 2
    ids, mask = left_pad([source])
    logits, state = stepper.start(ids, mask, start)
    target = [start]
    for _ in range(8):
        np.testing.assert_allclose(
            logits[0], _seq2seq_full_logits(model, source, target), atol=1e-5
        )
        token = int(np.argmax(logits[0]))
        target.append(token)
        logits, state = stepper.step(np.array([token], np.int32), state)


@pytest.mark.slow
@pytest.mark.parametrize("family", SEQ2SEQ_FAMILIES)
def test_seq2seq_batched_sources_decode_as_each_alone(family):
    model = _model(family)
    sources = [[7, 8, 9, 10, 11], [12], [20, 21, 22]]
    batched = translate_ids(keras_stepper(model), sources, GREEDY, start_id=2, end_id=3)
    alone = [translate_ids(keras_stepper(model), [s], GREEDY, 2, 3)[0] for s in sources]
    assert batched == alone


def test_bidirectional_lstm_encoder_with_a_bridge_steps_like_the_full_model():
    model = _model("lstm_seq2seq", bidirectional=True)
    stepper = keras_stepper(model)
    source = [7, 8, 9]
    logits, _ = stepper.start(*left_pad([source]), 2)
    np.testing.assert_allclose(logits[0], _seq2seq_full_logits(model, source, [2]), atol=1e-5)
