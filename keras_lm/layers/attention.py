"""Luong (dot, general) and Bahdanau (additive) attention for the LSTM encoder-decoder.

`Seq2SeqAttention` scores every decoder step (query) against every encoder
step (value), gives padded encoder steps zero weight, and returns the context
vectors and the attention weights (for heat maps). The softmax runs in float32
under mixed precision.

Example:
>>> from keras_lm.layers import Seq2SeqAttention
>>> import numpy as np
>>> attention = Seq2SeqAttention("dot")
>>> query = np.ones((1, 2, 4), "float32")  # (B, T, D)
>>> value = np.ones((1, 3, 4), "float32")  # (B, S, D)
>>> context, weights = attention(query, value, np.array([[1, 1, 0]], "int32"))
>>> context.shape, weights.numpy().round(2).tolist()
(TensorShape([1, 2, 4]), [[[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]])

References:
- [Luong et al., 2015](https://arxiv.org/abs/1508.04025) (dot, general)
- [Bahdanau et al., 2015](https://arxiv.org/abs/1409.0473) (additive)
"""

from __future__ import annotations

from typing import Literal

import keras
from keras import ops

Score = Literal["dot", "general", "additive"]
SCORES = ("dot", "general", "additive")
NEG_INF = -1e9  # masked scores; softmax runs in float32, so this is safe under mixed precision


@keras.saving.register_keras_serializable(package="keras_lm")
class Seq2SeqAttention(keras.layers.Layer):
    """Attention of decoder states over encoder outputs, honouring a source padding mask.

    Args:
        score: str. `"dot"`: `q . k` (Luong; query and value widths must match);
            `"general"`: `q W k` (Luong); `"additive"`: `v . tanh(W1 q + W2 k)` (Bahdanau).
        units: int | None. Width of the additive score's hidden layer (default: the query width).
        kernel_initializer: str or initializer for the score weights.

    Call arguments:
        query: float `(B, T, Dq)`, the decoder outputs.
        value: float `(B, S, Dv)`, the encoder outputs (also the keys).
        value_mask: int or bool `(B, S)`, 1/True for real source tokens; None attends everywhere.

    Returns:
        `(context, weights)`: `(B, T, Dv)` and `(B, T, S)`; each row of `weights` sums to 1.

    Example:
    >>> from keras_lm.layers import Seq2SeqAttention
    >>> import numpy as np
    >>> layer = Seq2SeqAttention("additive", units=8)
    >>> context, weights = layer(np.ones((2, 5, 16), "float32"), np.ones((2, 7, 16), "float32"))
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 5, 16), (2, 5, 7))
    """

    def __init__(
        self,
        score: Score = "general",
        units: int | None = None,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if score not in SCORES:
            raise ValueError(f"Seq2SeqAttention score must be one of {SCORES}, got {score!r}")
        self.score = score
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, query_shape, value_shape, value_mask_shape=None):
        q_dim, v_dim = query_shape[-1], value_shape[-1]
        if self.score == "dot" and q_dim != v_dim:
            raise ValueError(
                f"dot attention needs equal query and value widths, got {q_dim} and {v_dim}"
            )
        init = self.kernel_initializer
        if self.score == "general":
            self.kernel = self.add_weight(name="kernel", shape=(q_dim, v_dim), initializer=init)
        if self.score == "additive":
            units = self.units or q_dim
            self.query_kernel = self.add_weight(
                name="query_kernel", shape=(q_dim, units), initializer=init
            )
            self.value_kernel = self.add_weight(
                name="value_kernel", shape=(v_dim, units), initializer=init
            )
            self.score_vector = self.add_weight(
                name="score_vector", shape=(units,), initializer=init
            )

    def call(self, query, value, value_mask=None):
        scores = ops.cast(self._scores(query, value), "float32")  # (B, T, S)
        if value_mask is not None:
            keep = ops.expand_dims(ops.cast(value_mask, "bool"), 1)  # (B, 1, S)
            scores = ops.where(keep, scores, ops.full_like(scores, NEG_INF))  # (B, T, S)
        weights = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)  # (B, T, S)
        context = ops.matmul(weights, value)  # (B, T, Dv)
        return context, weights

    def _scores(self, query, value):
        if self.score == "dot":
            return ops.matmul(query, ops.transpose(value, (0, 2, 1)))  # (B, T, S)
        if self.score == "general":
            keys = ops.matmul(value, ops.transpose(self.kernel))  # (B, S, Dq)
            return ops.matmul(query, ops.transpose(keys, (0, 2, 1)))  # (B, T, S)
        q = ops.expand_dims(ops.matmul(query, self.query_kernel), 2)  # (B, T, 1, U)
        k = ops.expand_dims(ops.matmul(value, self.value_kernel), 1)  # (B, 1, S, U)
        return ops.tensordot(ops.tanh(q + k), self.score_vector, axes=1)  # (B, T, S)

    def compute_mask(self, query, value, value_mask=None, previous_mask=None):
        return None

    def get_config(self):
        return {
            **super().get_config(),
            "score": self.score,
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
