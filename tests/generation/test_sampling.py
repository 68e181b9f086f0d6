"""Token choice from logits, checked on fixed distributions and against keras_hub's samplers."""

from __future__ import annotations

import numpy as np
import pytest

from keras_lm.errors import ConfigError
from keras_lm.inference.sampling import SamplingConfig
from keras_lm.inference.sampling import choose_tokens
from keras_lm.inference.sampling import filtered_probabilities

PROBS = np.array([[0.5, 0.3, 0.15, 0.05]])
LOGITS = np.log(PROBS)


def _draws(config: SamplingConfig, n: int = 4000, logits=LOGITS) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([choose_tokens(logits, config, rng) for _ in range(n)])


def test_greedy_is_argmax_per_row():
    logits = np.array([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0], [-1.0, -2.0, -0.5]])
    assert choose_tokens(logits, SamplingConfig(), np.random.default_rng(0)).tolist() == [1, 0, 2]


def test_random_sampling_follows_the_distribution():
    counts = np.bincount(_draws(SamplingConfig(strategy="random")), minlength=4) / 4000
    np.testing.assert_allclose(counts, PROBS[0], atol=0.03)


def test_top_k_draws_only_from_the_k_likeliest_renormalised():
    counts = np.bincount(_draws(SamplingConfig(strategy="top_k", top_k=2)), minlength=4) / 4000
    assert counts[2] == counts[3] == 0
    np.testing.assert_allclose(counts[:2], [0.5 / 0.8, 0.3 / 0.8], atol=0.03)


@pytest.mark.parametrize(
    ("p", "kept"), [(0.5, [0]), (0.79, [0, 1]), (0.81, [0, 1, 2]), (1.0, [0, 1, 2, 3])]
)
def test_top_p_keeps_the_smallest_set_reaching_p(p, kept):
    probs = filtered_probabilities(LOGITS, SamplingConfig(strategy="top_p", top_p=p))
    assert np.flatnonzero(probs[0]).tolist() == kept
    np.testing.assert_allclose(probs.sum(), 1.0)


def test_low_temperature_approaches_greedy_and_high_flattens():
    cold = _draws(SamplingConfig(strategy="random", temperature=0.05), n=500)
    hot = (
        np.bincount(_draws(SamplingConfig(strategy="random", temperature=50.0)), minlength=4) / 4000
    )
    assert (cold == 0).all()
    np.testing.assert_allclose(hot, 0.25, atol=0.04)


def test_the_same_seed_draws_the_same_tokens():
    logits = np.random.default_rng(1).normal(size=(8, 50))
    config = SamplingConfig(strategy="top_p", top_p=0.95)
    first = choose_tokens(logits, config, np.random.default_rng(3))
    assert (first == choose_tokens(logits, config, np.random.default_rng(3))).all()
    assert (first != choose_tokens(logits, config, np.random.default_rng(4))).any()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("strategy", "nucleus"),
        ("temperature", 0.0),
        ("top_p", 1.5),
        ("num_beams", 0),
        ("max_new_tokens", 0),
    ],
)
def test_bad_settings_are_named(field, value):
    with pytest.raises(ConfigError, match=field):
        SamplingConfig(**{field: value})


def test_top_k_strategy_needs_k():
    with pytest.raises(ConfigError, match="top_k"):
        SamplingConfig(strategy="top_k")


@pytest.mark.parametrize("p", [0.3, 0.7, 0.9])
def test_top_p_support_matches_keras_hub_top_p_sampler(p):
    import keras_hub

    logits = np.random.default_rng(2).normal(size=(4, 30)).astype("float32") * 2
    ours = filtered_probabilities(logits, SamplingConfig(strategy="top_p", top_p=p)) > 0
    sampler = keras_hub.samplers.TopPSampler(p=p, seed=0)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    seen = np.zeros_like(ours)
    for _ in range(300):
        tokens = np.asarray(sampler.get_next_token(probs))
        seen[np.arange(4), tokens] = True
    assert not (seen & ~ours).any(), "keras_hub drew a token our nucleus excludes"
    assert (seen == ours).mean() > 0.95


def test_greedy_matches_keras_hub_greedy_sampler_on_a_fake_model():
    import keras_hub
    from keras import ops

    from keras_lm.generation.testing import SequenceStepper
    from keras_lm.inference.decoding import generate_lm

    table = np.random.default_rng(5).normal(size=(12, 12)).astype("float32")

    def next_fn(prompt, cache, index):  # keras_hub's protocol: logits for position `index`
        previous = ops.take(prompt, index - 1, axis=1)
        return ops.take(table, previous, axis=0), None, cache

    prompt = np.array([[3, 0, 0, 0, 0, 0, 0]], "int32")
    theirs = keras_hub.samplers.GreedySampler()(next_fn, prompt, index=1)
    ours = generate_lm(
        SequenceStepper(lambda seq: table[seq[-1]]), [[3]], SamplingConfig(max_new_tokens=6)
    )
    assert np.asarray(theirs)[0, 1:].tolist() == ours[0]
