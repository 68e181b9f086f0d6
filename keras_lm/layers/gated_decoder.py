"""The Llama-style decoder block we export with a key/value cache, on public Keras APIs only.

`GatedDecoderBlock`: RMSNorm, grouped-query self-attention with RoPE, a residual;
RMSNorm, a gated MLP (`down(act(gate(x)) * up(x))`: SwiGLU with SiLU, GeGLU with tanh
GELU), a residual. Sublayer and variable names are keras-hub's Llama's
(`self_attention_layernorm`, `self_attention/{query,key,value,attention_output}`,
`feedforward_layernorm`, `feedforward_{gate,intermediate,output}_dense`), so weights
copy by path. `step` runs it over new positions against a fixed-size cache, as
`TransformerDecoderBlock.step` does (see `keras_lm.layers.kv_cache`).

Example:
>>> import numpy as np
>>> from keras_lm.layers.kv_cache import slot_writes, visible_slots
>>> from keras_lm.layers.rotary import RotaryTables
>>> block = GatedDecoderBlock(intermediate_dim=32, num_heads=2, num_kv_heads=1, head_dim=8)
>>> x = np.random.default_rng(0).normal(size=(1, 3, 16)).astype("float32")  # (B, T, D)
>>> rope = RotaryTables(context=4, head_dim=8)
>>> full = block(x, *rope(x[..., 0]))
>>> positions, real = np.array([[0, 1, 2]], "int32"), np.ones((1, 3), "int32")
>>> cache = np.zeros((1, 4, 1, 8), "float32")  # (B, C, Hkv, Dh)
>>> out, key, value = block.step(x, *rope.lookup(positions), cache, cache,
...                              slot_writes(positions, real, 4), visible_slots(positions, 4))
>>> bool(np.allclose(out, full, atol=1e-5)), tuple(key.shape)
(True, (1, 4, 1, 8))

References:
- [Touvron et al., 2023](https://arxiv.org/abs/2302.13971) (Llama)
- [Shazeer, 2020](https://arxiv.org/abs/2002.05202) (gated MLPs)
"""

from __future__ import annotations

import keras
from keras import ops

from keras_lm.layers.cached_attention import clone_initializer
from keras_lm.layers.grouped_attention import GroupedQueryAttention
from keras_lm.layers.kv_cache import write_slots
from keras_lm.layers.rms_norm import RMSNorm
from keras_lm.layers.transformer_decoder import causal_mask


@keras.saving.register_keras_serializable(package="keras_lm")
class GatedDecoderBlock(keras.layers.Layer):
    """A pre-RMSNorm causal decoder block with grouped-query RoPE attention and a gated MLP.

    Args:
        intermediate_dim: int. Width of the gated MLP.
        num_heads / num_kv_heads / head_dim: int. Query heads, key/value heads, head width.
        dropout: float. On attention weights and each residual branch (training only).
        activation: str or callable. The gate's activation ("silu" or a tanh GELU).
        layer_norm_epsilon: float. RMSNorm's epsilon.
        norm_offset: float. RMSNorm's offset (Gemma: 1.0).
        kernel_initializer: str or initializer for every kernel (no biases).

    Call arguments:
        x: float `(B, T, D)`.
        cos / sin: float `(B or 1, T, 1, Dh)` from `RotaryTables`.
        padding_mask: int or bool `(B, T)`, 1 for real tokens; None: all real.
        training: bool.
    """

    def __init__(
        self,
        intermediate_dim: int,
        num_heads: int,
        num_kv_heads: int,
        head_dim: int,
        dropout: float = 0.0,
        activation="silu",
        layer_norm_epsilon: float = 1e-6,
        norm_offset: float = 0.0,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = intermediate_dim
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon, self.norm_offset = layer_norm_epsilon, norm_offset
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, x_shape, cos_shape=None, sin_shape=None):
        hidden = x_shape[-1]
        self.self_attention_layernorm = self._norm("self_attention_layernorm", x_shape)
        self.self_attention = GroupedQueryAttention(
            self.num_heads,
            self.num_kv_heads,
            self.head_dim,
            dropout=self.dropout,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="self_attention",
        )
        self.self_attention.build(x_shape)
        self.self_attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.feedforward_layernorm = self._norm("feedforward_layernorm", x_shape)
        inner = (*x_shape[:-1], self.intermediate_dim)
        self.feedforward_gate_dense = self._dense(self.intermediate_dim, "gate", x_shape)
        self.feedforward_intermediate_dense = self._dense(
            self.intermediate_dim, "intermediate", x_shape
        )
        self.feedforward_output_dense = self._dense(hidden, "output", inner)
        self.feedforward_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def _norm(self, name: str, shape) -> RMSNorm:
        norm = RMSNorm(
            self.layer_norm_epsilon, self.norm_offset, dtype=self.dtype_policy, name=name
        )
        norm.build(shape)
        return norm

    def _dense(self, units: int, part: str, shape) -> keras.layers.Dense:
        dense = keras.layers.Dense(
            units,
            use_bias=False,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name=f"feedforward_{part}_dense",
        )
        dense.build(shape)
        return dense

    def call(self, x, cos, sin, padding_mask=None, training=None):
        h = self.self_attention_layernorm(x)
        h = self.self_attention(h, cos, sin, causal_mask(x, padding_mask), training=training)
        x = self.self_attention_dropout(h, training=training) + x
        return self._feedforward(x, training=training)

    def _feedforward(self, x, training=None):
        h = self.feedforward_layernorm(x)
        gate = ops.cast(
            self.activation(ops.cast(self.feedforward_gate_dense(h), "float32")), h.dtype
        )
        h = self.feedforward_output_dense(gate * self.feedforward_intermediate_dense(h))
        return self.feedforward_dropout(h, training=training) + x

    def step(self, x, cos, sin, cache_key, cache_value, writes, visible):
        """The block at inference over new positions `x` `(B, T, D)`, reading and writing a cache.

        `cos`/`sin` `(B, T, 1, Dh)` are the new positions' (`RotaryTables.lookup`); the caches
        are `(B, C, Hkv, Dh)`; `writes` and `visible` come from `keras_lm.layers.kv_cache`.
        Returns `(x, key, value)`: `(B, T, D)` and the updated caches.
        """
        h = self.self_attention_layernorm(x)
        query, new_key, new_value = self.self_attention.project(h, cos, sin)
        key = write_slots(cache_key, new_key, writes)  # (B, C, Hkv, Dh)
        value = write_slots(cache_value, new_value, writes)
        x = self.self_attention.attend(query, key, value, visible) + x
        return self._feedforward(x), key, value

    def compute_output_shape(self, x_shape, cos_shape=None, sin_shape=None):
        return x_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "intermediate_dim": self.intermediate_dim,
            "num_heads": self.num_heads,
            "num_kv_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "norm_offset": self.norm_offset,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
