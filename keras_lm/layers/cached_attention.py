"""Multi-head attention whose key/value projection and attention are separate public steps.

`CachedAttention` is `keras.layers.MultiHeadAttention` as a Transformer decoder
uses it (query width = output width, `key_dim = value_dim = head_dim`), with the
parts a cached decoder needs made public: `project_key_value(x)` gives the keys
and values to store in a cache, and `attend(query_x, key, value, mask)` projects
the query and attends over keys/values that are already projected (a cache, or
an encoder output projected once). `call(query, value, mask)` is the two in a row.

The variables are Keras MHA's, in the same order and shapes: `query_dense`,
`key_dense`, `value_dense` (`EinsumDense`, kernel `(D, H, Dh)`, bias `(H, Dh)`) and
`output_dense` (kernel `(H, Dh, D)`, bias `(D,)`), so `set_weights` copies a
Keras MHA exactly. The attention itself follows Keras MHA's two code paths, so
the numbers agree to float32 round-off: with `dropout == 0` the fused
`keras.ops.dot_product_attention`; with dropout, the query scaled by
`1 / sqrt(Dh)`, an einsum, a masked softmax (fully masked rows give zeros) and
dropout on the attention weights.

Example:
>>> import numpy as np
>>> from keras_lm.layers.cached_attention import CachedAttention
>>> attention = CachedAttention(num_heads=2, key_dim=8)
>>> x = np.ones((1, 3, 16), "float32")  # (B, T, D)
>>> tuple(attention(x, x).shape)
(1, 3, 16)
>>> key, value = attention.project_key_value(x)  # (B, T, H, Dh) each
>>> tuple(key.shape), tuple(attention.attend(x[:, -1:], key, value).shape)
((1, 3, 2, 8), (1, 1, 16))

References:
- [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
"""

from __future__ import annotations

import math

import keras
from keras import ops

# Keras MHA's einsum equations for rank-3 inputs (attention over axis 1).
_PROJECT = "abc,cde->abde"  # (B, T, D) x (D, H, Dh) -> (B, T, H, Dh)
_PROJECT_OUT = "abcd,cde->abe"  # (B, T, H, Dh) x (H, Dh, D) -> (B, T, D)
_SCORES = "aecd,abcd->acbe"  # key (B, S, H, Dh), query (B, T, H, Dh) -> (B, H, T, S)
_COMBINE = "acbe,aecd->abcd"  # weights (B, H, T, S), value (B, S, H, Dh) -> (B, T, H, Dh)


# The additive mask of a slot that may not be seen: exp() of it is 0 in float32 and float16.
MASKED = -30000.0


def causal_bias(length: int):
    """`(T, T)` additive causal mask: 0 on and below the diagonal, `MASKED` above.

    >>> ops.convert_to_numpy(causal_bias(2)).tolist()
    [[0.0, -30000.0], [0.0, 0.0]]
    """
    positions = ops.arange(length)
    allowed = ops.expand_dims(positions, 1) >= ops.expand_dims(positions, 0)
    return ops.where(allowed, 0.0, MASKED)


def clone_initializer(initializer: keras.initializers.Initializer):
    """A fresh instance, so two sublayers never draw the same values from a seeded initializer."""
    return initializer.__class__.from_config(initializer.get_config())


@keras.saving.register_keras_serializable(package="keras_lm")
class CachedAttention(keras.layers.Layer):
    """Multi-head softmax attention with public projections, for decoding with a cache.

    Args:
        num_heads: int. Number of attention heads `H`.
        key_dim: int. Size of each head `Dh` (for queries, keys and values).
        dropout: float. Dropout rate on the attention weights (training only).
        kernel_initializer: str or initializer for the four projection kernels.
        bias_initializer: str or initializer for their biases.
        **kwargs: `name`, `dtype`, ... for `keras.layers.Layer`.

    Call arguments:
        query: float `(B, T, D)`. The hidden states that attend.
        value: float `(B, S, Dv)`. The hidden states attended to (keys and values).
        attention_mask: bool or int `(B, T, S)` (or broadcastable); True/1 where a query
            may attend to a key. None attends everywhere.
        training: bool. Dropout on the attention weights when True.

    Returns:
        float `(B, T, D)`.

    Example:
    >>> import numpy as np
    >>> from keras_lm.layers.cached_attention import CachedAttention
    >>> layer = CachedAttention(num_heads=2, key_dim=8)
    >>> out = layer(np.ones((2, 3, 16), "float32"), np.ones((2, 5, 16), "float32"))
    >>> tuple(out.shape), [tuple(w.shape) for w in layer.get_weights()][:2]
    ((2, 3, 16), [(16, 2, 8), (2, 8)])
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        dropout: float = 0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.scale = 1.0 / math.sqrt(float(key_dim))
        self._shapes: dict = {}

    def build(self, query_shape, value_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        self._shapes = {"query_shape": query_shape, "value_shape": value_shape}
        heads = (None, self.num_heads, self.key_dim)
        # Created in Keras MHA's order: query, key, value, output (weights copy one to one).
        self.query_dense = self._einsum_dense(_PROJECT, heads, "de", "query")
        self.query_dense.build(query_shape)
        self.key_dense = self._einsum_dense(_PROJECT, heads, "de", "key")
        self.key_dense.build(value_shape)
        self.value_dense = self._einsum_dense(_PROJECT, heads, "de", "value")
        self.value_dense.build(value_shape)
        self.output_dense = self._einsum_dense(
            _PROJECT_OUT, (None, query_shape[-1]), "e", "attention_output"
        )
        self.output_dense.build((query_shape[0], query_shape[1], self.num_heads, self.key_dim))
        self.softmax = keras.layers.Softmax(axis=-1, dtype=self.dtype_policy)
        self.attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.built = True

    def _einsum_dense(self, equation: str, output_shape, bias_axes: str, name: str):
        return keras.layers.EinsumDense(
            equation,
            output_shape=output_shape,
            bias_axes=bias_axes,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def call(self, query, value, attention_mask=None, training=None):
        key, value = self.project_key_value(value)  # (B, S, H, Dh) each
        return self.attend(query, key, value, attention_mask=attention_mask, training=training)

    def project_key_value(self, x):
        """Keys and values `(B, S, H, Dh)` each, from hidden states `x` `(B, S, Dv)`."""
        return self.key_dense(x), self.value_dense(x)

    def attend(self, query_x, key, value, attention_mask=None, training=None):
        """Attend from hidden states `query_x` `(B, T, D)` over projected `key`/`value` `(B, S, H, Dh)`.

        `attention_mask` is `(B, T, S)` (or broadcastable), True/1 where allowed. Returns `(B, T, D)`.
        """
        query = self.query_dense(query_x)  # (B, T, H, Dh)
        out = self.attention(query, key, value, attention_mask, training=training)  # (B, T, H, Dh)
        return self.output_dense(out)  # (B, T, D)

    def attention(self, query, key, value, attention_mask=None, training=None):
        """Softmax attention over projected tensors: `(B, T, H, Dh)` from `(B, S, H, Dh)` keys/values."""
        mask = None
        if attention_mask is not None:
            mask = ops.cast(attention_mask, "bool")
            while len(mask.shape) < 4:
                mask = ops.expand_dims(mask, -3)  # (B, 1, T, S): the same for every head
        if self.dropout == 0.0:
            # Keras MHA's path without dropout: the fused kernel (scale applied to the scores).
            return ops.dot_product_attention(query, key, value, mask=mask, scale=self.scale)
        query = ops.multiply(query, ops.cast(self.scale, query.dtype))
        scores = ops.einsum(_SCORES, key, query)  # (B, H, T, S)
        weights = self.softmax(scores, mask=mask)  # masked keys get exactly 0
        weights = self.attention_dropout(weights, training=training)
        return ops.einsum(_COMBINE, weights, value)  # (B, T, H, Dh)

    def compute_output_shape(self, query_shape, value_shape=None):
        return query_shape

    def get_build_config(self) -> dict:
        return dict(self._shapes) if self.built else {}

    def build_from_config(self, config: dict) -> None:
        if config:
            self.build(config["query_shape"], config.get("value_shape"))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
