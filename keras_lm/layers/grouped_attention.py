"""Grouped-query attention with rotary positions, its projections public for a cached decoder.

`GroupedQueryAttention` is the attention of Llama, Mistral and Gemma: `num_heads`
query heads share `num_kv_heads` key/value heads (query head `h` reads key/value head
`h // (num_heads // num_kv_heads)`), RoPE rotates queries and keys, no biases. Its
variables are keras-hub's `LlamaAttention`'s, by name and shape: `query` `(D, H, Dh)`,
`key` and `value` `(D, Hkv, Dh)`, `attention_output` `(H, Dh, D)`, so a Llama layer's
weights copy one to one and LoRA adapts `query` and `value` as keras-hub does.
`project(x, cos, sin)` gives the rotated queries and keys and the values (what a
cache stores); `attend(query, key, value, mask)` attends over keys already projected.

Example:
>>> import numpy as np
>>> from keras_lm.layers.rotary import RotaryTables
>>> attention = GroupedQueryAttention(num_heads=4, num_kv_heads=2, head_dim=8)
>>> x = np.ones((1, 3, 16), "float32")  # (B, T, D)
>>> cos, sin = RotaryTables(context=8, head_dim=8)(x[..., 0])
>>> tuple(attention(x, cos, sin).shape)
(1, 3, 16)
>>> [tuple(w.shape) for w in attention.get_weights()]
[(16, 4, 8), (16, 2, 8), (16, 2, 8), (4, 8, 16)]
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_lm.layers.cached_attention import clone_initializer
from keras_lm.layers.rotary import apply_rope


@keras.saving.register_keras_serializable(package="keras_lm")
class GroupedQueryAttention(keras.layers.Layer):
    """Causal-ready multi-head attention with `num_kv_heads` key/value heads and RoPE.

    Args:
        num_heads: int. Query heads `H` (a multiple of `num_kv_heads`).
        num_kv_heads: int. Key/value heads `Hkv`.
        head_dim: int. Width `Dh` of every head (Gemma's is not `D / H`).
        dropout: float. On the attention weights (training only).
        kernel_initializer: str or initializer for the four kernels.

    Call arguments:
        x: float `(B, T, D)`.
        cos / sin: float `(B or 1, T, 1, Dh)` from `RotaryTables`.
        attention_mask: bool `(B, T, T)` (broadcastable), True where a query sees a key.
        training: bool.

    Returns:
        float `(B, T, D)`.
    """

    def __init__(
        self,
        num_heads: int,
        num_kv_heads: int,
        head_dim: int,
        dropout: float = 0.0,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_kv_heads < 1 or num_heads % num_kv_heads:
            raise ValueError(f"num_heads ({num_heads}) must be a multiple of {num_kv_heads}")
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.groups = num_heads // num_kv_heads
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.scale = 1.0 / math.sqrt(float(head_dim))

    def build(self, x_shape, cos_shape=None, sin_shape=None):
        hidden = x_shape[-1]
        # Named and created in keras-hub's Llama order: query, key, value, attention_output.
        project = "btd,dhk->bthk"
        self.query_dense = self._dense(project, (None, self.num_heads, self.head_dim), "query")
        self.query_dense.build(x_shape)
        self.key_dense = self._dense(project, (None, self.num_kv_heads, self.head_dim), "key")
        self.key_dense.build(x_shape)
        self.value_dense = self._dense(project, (None, self.num_kv_heads, self.head_dim), "value")
        self.value_dense.build(x_shape)
        self.output_dense = self._dense("bthk,hkd->btd", (None, hidden), "attention_output")
        self.output_dense.build((None, None, self.num_heads, self.head_dim))
        self.attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def _dense(self, equation: str, output_shape, name: str):
        return keras.layers.EinsumDense(
            equation,
            output_shape=output_shape,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def project(self, x, cos, sin):
        """Rotated queries `(B, T, H, Dh)`, rotated keys and values `(B, T, Hkv, Dh)`."""
        query = apply_rope(self.query_dense(x), cos, sin)
        key = apply_rope(self.key_dense(x), cos, sin)
        return query, key, self.value_dense(x)

    def attend(self, query, key, value, attention_mask=None, training=None):
        """`(B, T, D)` from queries `(B, T, H, Dh)` over keys/values `(B, S, Hkv, Dh)`.

        `attention_mask` is bool `(B, T, S)` (or broadcastable), True where allowed. The `G`
        query heads of a key/value head attend as `G * T` rows: 4-D matmuls, no repeated keys.
        """
        batch = ops.shape(query)[0]
        heads = (batch, self.num_kv_heads, -1, self.head_dim)
        grouped = ops.reshape(ops.transpose(query, (0, 2, 1, 3)), heads)  # (B, Hkv, G T, Dh)
        key = ops.transpose(key, (0, 2, 1, 3))  # (B, Hkv, S, Dh)
        value = ops.transpose(value, (0, 2, 1, 3))
        scores = ops.matmul(grouped, ops.transpose(key, (0, 1, 3, 2)))
        scores = ops.cast(scores * ops.cast(self.scale, scores.dtype), "float32")
        if attention_mask is not None:
            mask = ops.cast(attention_mask, "bool")
            while len(mask.shape) < 4:
                mask = ops.expand_dims(mask, 1)  # (B, 1, T, S)
            mask = ops.tile(mask, (1, 1, self.groups, 1))  # (B, 1, G T, S)
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.cast(ops.softmax(scores, axis=-1), query.dtype)
        weights = self.attention_dropout(weights, training=training)
        out = ops.matmul(weights, value)  # (B, Hkv, G T, Dh)
        out = ops.reshape(out, (batch, self.num_heads, -1, self.head_dim))
        return self.output_dense(ops.transpose(out, (0, 2, 1, 3)))  # (B, T, D)

    def call(self, x, cos, sin, attention_mask=None, training=None):
        query, key, value = self.project(x, cos, sin)
        return self.attend(query, key, value, attention_mask, training=training)

    def compute_output_shape(self, x_shape, cos_shape=None, sin_shape=None):
        return x_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "num_kv_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "dropout": self.dropout,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
