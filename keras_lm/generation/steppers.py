"""Keras-side steppers: each family's decoding graph in a `tf.function`, driven by `decoding`.

A stepper keeps its state (cache, LSTM state, encoder output) as TensorFlow tensors
between steps; only the logits come back to numpy for the sampler. `RecomputeLMStepper`
is the naive baseline that runs the whole model over the window for every token.

Example:
>>> from keras_lm.models import TransformerLMConfig, build_transformer_lm
>>> from keras_lm.generation.decoding import generate_lm
>>> from keras_lm.generation.sampling import SamplingConfig
>>> model = build_transformer_lm(TransformerLMConfig.tiny())
>>> cached = generate_lm(make_stepper(model), [[5, 6]], SamplingConfig(max_new_tokens=4))
>>> cached == generate_lm(RecomputeLMStepper(model), [[5, 6]], SamplingConfig(max_new_tokens=4))
True
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.generation.graphs import GRAPHS


def _spec(*shape, dtype="int32"):
    return tf.TensorSpec(shape, dtype)


def _select(state: dict, rows: np.ndarray) -> dict:
    rows = tf.constant(rows, tf.int32)
    return {k: tf.gather(v, rows) if k != "fixed" else v for k, v in state.items()}


class TransformerLMStepper:
    """Prefill and one-token steps of a `transformer_lm` with its fixed-size key/value cache.

    The one-token step is XLA-compiled (its shapes never change for a batch size);
    prefill runs in graph mode, since prompts come in every length.
    """

    def __init__(self, model, jit_compile: bool = True):
        self.graph = graph = GRAPHS["transformer_lm"](model)
        self.context = graph.context
        cache = _spec(None, *graph.cache_shape(1)[1:], dtype=graph.dtype)
        signature = [_spec(None, None)] * 3 + [cache]
        self._prefill = tf.function(graph.__call__, input_signature=signature)
        self._decode = tf.function(
            graph.__call__, input_signature=signature, jit_compile=jit_compile
        )

    def prefill(self, ids: np.ndarray, mask: np.ndarray):
        positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0).astype(np.int32)
        cache = tf.zeros(self.graph.cache_shape(len(ids)), self.graph.dtype)
        logits, cache = self._prefill(ids, positions, mask, cache)
        return logits[:, -1].numpy(), {"cache": cache, "next": tf.constant(positions[:, -1] + 1)}

    def step(self, tokens: np.ndarray, state: dict):
        ones = np.ones((len(tokens), 1), np.int32)
        logits, cache = self._decode(tokens[:, None], state["next"][:, None], ones, state["cache"])
        return logits[:, -1].numpy(), {"cache": cache, "next": state["next"] + 1}

    def select(self, state: dict, rows: np.ndarray) -> dict:
        return _select(state, rows)

    def full(self, state: dict) -> bool:
        return int(tf.reduce_max(state["next"])) >= self.context


class LSTMLMStepper:
    """An `lstm_lm` one token at a time, carrying `h` and `c`."""

    context = None

    def __init__(self, model):
        self.graph = graph = GRAPHS["lstm_lm"](model)
        state = _spec(None, graph.num_layers, graph.units, dtype=graph.dtype)
        self._step = tf.function(graph.step, input_signature=[_spec(None), state, state])

    def prefill(self, ids: np.ndarray, mask: np.ndarray):
        h = c = tf.zeros(self.graph.state_shape(len(ids)), self.graph.dtype)
        for t in range(ids.shape[1]):  # left padding: a row's state starts at its first real token
            logits, h_new, c_new = self._step(ids[:, t], h, c)
            keep = tf.constant(mask[:, t, None, None].astype(bool))
            h, c = tf.where(keep, h_new, h), tf.where(keep, c_new, c)
        return logits.numpy(), {"h": h, "c": c}

    def step(self, tokens: np.ndarray, state: dict):
        logits, h, c = self._step(tokens, state["h"], state["c"])
        return logits.numpy(), {"h": h, "c": c}

    def select(self, state: dict, rows: np.ndarray) -> dict:
        return _select(state, rows)

    def full(self, state: dict) -> bool:
        return False


class RecomputeLMStepper:
    """The naive baseline: every token runs the whole model over the last `context` tokens."""

    def __init__(self, model, context: int | None = None):
        self.model = model
        self.context = context or _model_context(model)
        self._forward = tf.function(
            lambda ids, mask: model({TOKEN_IDS: ids, PADDING_MASK: mask}, training=False),
            input_signature=[_spec(None, None)] * 2,
        )

    def prefill(self, ids: np.ndarray, mask: np.ndarray):
        seqs = [row[m.astype(bool)].tolist() for row, m in zip(ids, mask, strict=True)]
        return self._logits(seqs), seqs

    def step(self, tokens: np.ndarray, state: list):
        seqs = [s + [int(t)] for s, t in zip(state, tokens, strict=True)]
        return self._logits(seqs), seqs

    def select(self, state: list, rows: np.ndarray) -> list:
        return [list(state[r]) for r in rows]

    def full(self, state) -> bool:
        return False  # windows are cut in `_logits`

    def _logits(self, seqs: list[list[int]]) -> np.ndarray:
        from keras_lm.generation.decoding import right_pad

        windows = [s[-self.context :] if self.context else s for s in seqs]
        ids, mask = right_pad(windows)
        logits = self._forward(ids, mask).numpy()
        return logits[np.arange(len(windows)), mask.sum(axis=1) - 1]


class TransformerSeq2SeqStepper:
    """A `transformer_seq2seq`: encode once (cross-attention keys/values), then cached steps."""

    def __init__(self, model, jit_compile: bool = True):
        self.graph = graph = GRAPHS["transformer_seq2seq"](model)
        self.max_target_length = graph.max_target_length
        cross = (graph.num_layers, 2, None, graph.num_heads, graph.head_dim)
        self._encode = tf.function(graph.encode, input_signature=[_spec(None, None)] * 2)
        self._decode = tf.function(
            graph.decode,
            input_signature=[
                _spec(None, None),
                _spec(None, None),
                _spec(None, *graph.cache_shape(1)[1:], dtype=graph.dtype),
                _spec(None, *cross, dtype=graph.dtype),
                _spec(None, None),
            ],
            jit_compile=jit_compile,
        )

    def start(self, ids: np.ndarray, mask: np.ndarray, start_id: int):
        batch = len(ids)
        state = {
            "cache": tf.zeros(self.graph.cache_shape(batch), self.graph.dtype),
            "cross": self._encode(ids, mask),
            "source_mask": tf.constant(mask),
            "next": tf.zeros((batch,), tf.int32),
        }
        return self.step(np.full((batch,), start_id, np.int32), state)

    def step(self, tokens: np.ndarray, state: dict):
        logits, cache = self._decode(
            tokens[:, None],
            state["next"][:, None],
            state["cache"],
            state["cross"],
            state["source_mask"],
        )
        return logits[:, -1].numpy(), {**state, "cache": cache, "next": state["next"] + 1}

    def select(self, state: dict, rows: np.ndarray) -> dict:
        return _select(state, rows)


class LSTMSeq2SeqStepper:
    """An `lstm_seq2seq`: encode once, then one decoder step per token with attention."""

    def __init__(self, model, max_target_length: int = 128):
        self.graph = graph = GRAPHS["lstm_seq2seq"](model)
        self.max_target_length = max_target_length
        state = _spec(None, graph.num_layers, graph.units, dtype=graph.dtype)
        encoded = _spec(None, None, None, dtype=graph.dtype)
        self._encode = tf.function(graph.encode, input_signature=[_spec(None, None)] * 2)
        self._decode = tf.function(
            graph.decode, input_signature=[_spec(None), state, state, encoded, _spec(None, None)]
        )

    def start(self, ids: np.ndarray, mask: np.ndarray, start_id: int):
        encoded, h, c = self._encode(ids, mask)
        state = {"h": h, "c": c, "encoded": encoded, "source_mask": tf.constant(mask)}
        return self.step(np.full((len(ids),), start_id, np.int32), state)

    def step(self, tokens: np.ndarray, state: dict):
        logits, h, c = self._decode(
            tokens, state["h"], state["c"], state["encoded"], state["source_mask"]
        )
        return logits.numpy(), {**state, "h": h, "c": c}

    def select(self, state: dict, rows: np.ndarray) -> dict:
        return _select(state, rows)


def _model_context(model) -> int | None:
    for layer in model.layers:
        if layer.name == "position_embedding":
            return int(layer.sequence_length)
    return None


STEPPERS = {
    "transformer_lm": TransformerLMStepper,
    "lstm_lm": LSTMLMStepper,
    "transformer_seq2seq": TransformerSeq2SeqStepper,
    "lstm_seq2seq": LSTMSeq2SeqStepper,
}


def make_stepper(model, family: str | None = None, **options):
    """The cached stepper for `model` (its family read from `model.name` unless given)."""
    family = family or model.name
    if family not in STEPPERS:
        from keras_lm.errors import InputError

        raise InputError(
            "model", f"family {family!r} does not generate text; expected one of {list(STEPPERS)}"
        )
    return STEPPERS[family](model, **options)
