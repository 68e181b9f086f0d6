"""A `GatedDecoderBlock` as the runtime-cache export graphs run it: few, large ops.

As `keras_lm.models.fused_block.FusedBlock` does for the GPT block: one packed matmul
for the query, key and value (the query's `1 / sqrt(Dh)` folded in), one for the MLP's
gate and up projections, RoPE applied once to the queries and keys together, and a
decode step whose activations stay 2-D `(B, D)`. Grouped-query attention never
repeats the cache: the `G = H / Hkv` query heads of a key/value head are stacked
as `(B, Hkv, G, Dh)` rows against its keys `(B, Hkv, C, Dh)`. The gate's GELU takes
the form each converter maps best (`gelu_for`); SiLU is `x * sigmoid(x)`.

Example:
>>> import numpy as np
>>> from keras_lm.layers.gated_decoder import GatedDecoderBlock
>>> from keras_lm.layers.rotary import RotaryTables
>>> block = GatedDecoderBlock(intermediate_dim=32, num_heads=4, num_kv_heads=2, head_dim=4)
>>> x = np.random.default_rng(0).normal(size=(1, 3, 16)).astype("float32")
>>> rope = RotaryTables(context=8, head_dim=4)
>>> expected = block(x, *rope(x[..., 0]))
>>> cos, sin = (t[:3][None, :, None] for t in rope.table())  # (1, T, 1, Dh)
>>> out, key, value = FusedGatedBlock(block, "onnx")(tf.constant(x), cos, sin)
>>> bool(np.allclose(out, expected, atol=1e-5)), tuple(key.shape)
(True, (1, 2, 3, 4))
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_lm.layers.cached_attention import causal_bias
from keras_lm.models.fused_block import TARGETS
from keras_lm.models.fused_block import gelu_for


class FusedGatedBlock:
    """`(x, cos, sin, past) -> (x, key, value)`: one `GatedDecoderBlock` over new tokens.

    A prefill (`past` None) takes `x` `(B, T, D)` and `cos`/`sin` `(B, T, 1, Dh)`; a
    decode step takes `x` `(B, D)` and `cos`/`sin` `(B, 1, 1, Dh)`. Keys and values
    come back `(B, Hkv, T, Dh)`.
    """

    def __init__(self, block, target: str):
        if target not in TARGETS:
            raise ValueError(f"target: expected one of {TARGETS}, got {target!r}")
        self.block = block
        attention = block.self_attention
        self.heads, self.kv_heads = attention.num_heads, attention.num_kv_heads
        self.head_dim, self.groups, self.scale = (
            attention.head_dim,
            attention.groups,
            attention.scale,
        )
        name = keras.activations.serialize(block.activation)
        name = str(name if isinstance(name, str) else name.get("config")).split(">")[-1]
        if name == "gelu_approximate":
            self.activation = gelu_for(target, approximate=True)
        else:
            self.activation = lambda x: x * tf.sigmoid(x)  # SiLU

    def _packed(self, dtype):
        a, b = self.block.self_attention, self.block
        dense = (a.query_dense, a.key_dense, a.value_dense)
        scales = (self.scale, 1.0, 1.0)
        flat = [
            tf.reshape(d.kernel, (d.kernel.shape[0], -1)) * s
            for d, s in zip(dense, scales, strict=True)
        ]
        qkv = tf.cast(tf.concat(flat, 1), dtype)  # (D, (H + 2 Hkv) Dh)
        mlp = tf.cast(
            tf.concat(
                [b.feedforward_gate_dense.kernel, b.feedforward_intermediate_dense.kernel], 1
            ),
            dtype,
        )  # (D, 2 F)
        out = tf.cast(tf.reshape(a.output_dense.kernel, (self.heads * self.head_dim, -1)), dtype)
        return qkv, mlp, out

    @staticmethod
    def _rope(x, cos, sin):
        half = x.shape[-1] // 2
        rotated = tf.concat([-x[..., half:], x[..., :half]], -1)
        return x * tf.cast(cos, x.dtype) + rotated * tf.cast(sin, x.dtype)

    def _attend_prompt(self, h, cos, sin, qkv_kernel, prompt_bias):
        length = h.shape[1] if h.shape[1] is not None else tf.shape(h)[1]
        heads, kv, dh, g = self.heads, self.kv_heads, self.head_dim, self.groups
        qkv = tf.reshape(tf.matmul(h, qkv_kernel), (-1, length, heads + 2 * kv, dh))
        qk = self._rope(qkv[:, :, : heads + kv], cos, sin)  # (B, T, H + Hkv, Dh)
        query = tf.transpose(qk[:, :, :heads], (0, 2, 1, 3))  # (B, H, T, Dh)
        key = tf.transpose(qk[:, :, heads:], (0, 2, 1, 3))  # (B, Hkv, T, Dh)
        value = tf.transpose(qkv[:, :, heads + kv :], (0, 2, 1, 3))
        mask = causal_bias(length)[None, None] if prompt_bias is None else prompt_bias
        if g > 1:  # the G query heads of a key/value head as G * T rows
            query = tf.reshape(query, (-1, kv, g * length, dh))
            mask = tf.tile(mask, (1, 1, g, 1))
        scores = tf.matmul(query, key, transpose_b=True) + tf.cast(mask, h.dtype)
        out = tf.matmul(tf.nn.softmax(scores, -1), value)  # (B, Hkv, G T, Dh)
        out = tf.reshape(out, (-1, heads, length, dh))
        return tf.reshape(tf.transpose(out, (0, 2, 1, 3)), (-1, length, heads * dh)), key, value

    def _attend_step(self, h, cos, sin, qkv_kernel, past):
        past_key, past_value, past_bias = past
        heads, kv, dh, g = self.heads, self.kv_heads, self.head_dim, self.groups
        qkv = tf.reshape(tf.matmul(h, qkv_kernel), (-1, heads + 2 * kv, 1, dh))
        qk = self._rope(qkv[:, : heads + kv], cos, sin)  # cos (B, 1, 1, Dh)
        query = tf.reshape(qk[:, :heads], (-1, kv, g, dh))  # (B, Hkv, G, Dh)
        key, value = qk[:, heads:], qkv[:, heads + kv :]  # (B, Hkv, 1, Dh)
        old = tf.matmul(query, past_key, transpose_b=True) + past_bias  # (B, Hkv, G, C)
        new = tf.matmul(query, key, transpose_b=True)  # (B, Hkv, G, 1)
        weights = tf.nn.softmax(tf.concat([old, new], -1), -1)
        slots = past_key.shape[2]
        out = tf.matmul(weights[..., :slots], past_value) + weights[..., slots:] * value
        return tf.reshape(out, (-1, heads * dh)), key, value

    def __call__(self, x, cos, sin, past=None, prompt_bias=None):
        """`past` = `(past_key, past_value, bias)`: `(B, Hkv, C, Dh)` each and an additive
        `(B, 1, 1, C)` bias, or None for a prompt (`prompt_bias` `(B, 1, T, T)`, None: causal)."""
        block = self.block
        qkv_kernel, mlp_kernel, out_kernel = self._packed(x.dtype)
        h = block.self_attention_layernorm(x)
        if past is None:
            attended, key, value = self._attend_prompt(h, cos, sin, qkv_kernel, prompt_bias)
        else:
            attended, key, value = self._attend_step(h, cos, sin, qkv_kernel, past)
        x = tf.matmul(attended, out_kernel) + x
        h = block.feedforward_layernorm(x)
        gate_up = tf.matmul(h, mlp_kernel)  # (..., 2 F)
        width = block.intermediate_dim
        h = self.activation(gate_up[..., :width]) * gate_up[..., width:]
        return tf.matmul(h, tf.cast(block.feedforward_output_dense.kernel, h.dtype)) + x, key, value
