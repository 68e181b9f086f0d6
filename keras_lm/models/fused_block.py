"""A `TransformerDecoderBlock` as the runtime-cache export graphs run it: few, large ops.

A runtime runs a one-token decode step op by op, and at the `small` GPT's size the
per-op overhead, not the arithmetic, sets the pace: ONNX Runtime spent more time in
the 74 `Reshape`s and the shape bookkeeping tf2onnx writes around each `EinsumDense`
than in its matrix products. Here one block step is written for the converters:
one `(D, 3 H Dh)` matmul for the query, key and value (the query's `1 / sqrt(Dh)`
folded into its weights), head reshapes with a static token axis, softmax attention
over a head-major past `(B, H, C, Dh)` and the step's own key, one matmul back, and
the MLP as two matmuls. A decode step keeps its activations 2-D `(B, D)`. The weights are read from the block's own variables while tracing,
so the converters fold them into constants and nothing is copied at build time.

A block with cross-attention (an encoder-decoder's) attends in a decode step to the
encoder's keys and values, projected once per source by `cross_key_value` into the
same head-major `(B, H, S, Dh)` layout and masked by an additive `(B, 1, 1, S)` bias.

GELU is written for the target: TFLite gets `tf.nn.gelu` (its builtin `GELU`
kernel), ONNX gets `x * 0.5 * (1 + erf(x / sqrt(2)))`, the exact GELU's textbook
form (ONNX Runtime's optimizer looks for it to fuse into one kernel), or for GPT-2's
tanh approximation (`gelu_approximate`) the tanh form ORT fuses into `FastGelu`. Each
is the GELU the model trains with; each export is still verified against Keras.

Example:
>>> import numpy as np
>>> from keras_lm.layers.transformer_decoder import TransformerDecoderBlock
>>> block = TransformerDecoderBlock(intermediate_dim=32, num_heads=2, normalize_first=True,
...                                 activation="gelu")
>>> x = np.random.default_rng(0).normal(size=(1, 3, 16)).astype("float32")
>>> expected = block(x)
>>> out, key, value = FusedBlock(block, "onnx")(tf.constant(x), None)
>>> bool(np.allclose(out, expected, atol=1e-5)), tuple(key.shape)
(True, (1, 2, 3, 8))
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import keras
import tensorflow as tf

from keras_lm.layers.cached_attention import causal_bias

TARGETS = ("tflite", "onnx")


def gelu_for(target: str, approximate: bool = False):
    if target == "tflite":
        return lambda x: tf.nn.gelu(x, approximate=approximate)
    if approximate:  # the tanh form ORT's optimizer fuses into FastGelu
        c = math.sqrt(2.0 / math.pi)
        return lambda x: 0.5 * x * (1.0 + tf.math.tanh(c * (x + 0.044715 * x * x * x)))
    return lambda x: x * 0.5 * (1.0 + tf.math.erf(x / math.sqrt(2.0)))


class FusedBlock:
    """`(x, past) -> (x, key, value)`: one `TransformerDecoderBlock` over new tokens.

    A prefill (`past` None) takes `x` `(B, T, D)`; a decode step takes one token as
    `x` `(B, D)` and returns `(B, D)`. Keys and values are `(B, H, T, Dh)`.

    Args:
        block: a built `TransformerDecoderBlock`; one with cross-attention runs decode
            steps only (an encoder-decoder has no prompt to prefill).
        target: "tflite" or "onnx": which GELU form the converter gets.
    """

    def __init__(self, block, target: str):
        if target not in TARGETS:
            raise ValueError(f"target: expected one of {TARGETS}, got {target!r}")
        self.block, self.target = block, target
        attention = block.self_attention
        self.heads, self.head_dim = attention.num_heads, attention.key_dim
        self.scale = attention.scale
        activation = keras.activations.serialize(block.activation)
        name = activation if isinstance(activation, str) else activation.get("config")
        name = str(name).split(">")[-1]  # a registered function: "keras_lm>gelu_approximate"
        if name in ("gelu", "gelu_approximate"):
            self.activation = gelu_for(target, approximate=name == "gelu_approximate")
        else:
            self.activation = block.activation

    def _qkv(self):
        """The packed `(D, 3 H Dh)` projection and its bias, the query pre-scaled."""
        a = self.block.self_attention
        return self._packed((a.query_dense, a.key_dense, a.value_dense), (self.scale, 1.0, 1.0))

    def _packed(self, dense, scales):
        """`dense`'s `(D, H, Dh)` kernels side by side as one `(D, n H Dh)` matmul, each scaled."""
        width = self.heads * self.head_dim
        kernel = tf.concat(
            [tf.reshape(d.kernel, (-1, width)) * s for d, s in zip(dense, scales, strict=True)], 1
        )
        bias = tf.concat(
            [tf.reshape(d.bias, (width,)) * s for d, s in zip(dense, scales, strict=True)], 0
        )
        return kernel, bias

    def _heads(self, x, length):
        """`(B, T, H Dh)` -> `(B, H, T, Dh)`; a static `length` keeps the reshape's shape constant."""
        return tf.transpose(tf.reshape(x, (-1, length, self.heads, self.head_dim)), (0, 2, 1, 3))

    def _project_out(self, out, dtype, attention=None):
        output = (attention or self.block.self_attention).output_dense
        kernel = tf.cast(tf.reshape(output.kernel, (self.heads * self.head_dim, -1)), dtype)
        return tf.matmul(out, kernel) + tf.cast(output.bias, dtype)

    def _attend_prompt(self, h, prompt_bias=None):
        """Causal self-attention over a prompt `h` `(B, T, D)`: `(B, T, D)` and keys, values.

        `prompt_bias` is an additive `(B, 1, T, T)` mask (None: causal over all `T`)."""
        length = h.shape[1] if h.shape[1] is not None else tf.shape(h)[1]
        kernel, bias = (tf.cast(w, h.dtype) for w in self._qkv())  # no-op in float32
        qkv = tf.matmul(h, kernel) + bias  # (B, T, 3 H Dh)
        width = self.heads * self.head_dim
        query, key, value = (
            self._heads(qkv[..., i * width : (i + 1) * width], length) for i in range(3)
        )
        scores = tf.matmul(query, key, transpose_b=True)  # (B, H, T, T)
        mask = causal_bias(length) if prompt_bias is None else prompt_bias
        scores = scores + tf.cast(mask, scores.dtype)
        out = tf.matmul(tf.nn.softmax(scores, -1), value)  # (B, H, T, Dh)
        out = tf.reshape(tf.transpose(out, (0, 2, 1, 3)), (-1, length, width))
        return self._project_out(out, h.dtype), key, value

    def _attend_step(self, h, past):
        """One new token `h` `(B, D)` over the past: 2-D activations, so a runtime fuses each
        matmul with its bias, and `(B, H Dh)` is `(B, H, 1, Dh)` by a reshape alone."""
        past_key, past_value, past_bias = past
        kernel, bias = (tf.cast(w, h.dtype) for w in self._qkv())
        qkv = tf.matmul(h, kernel) + bias  # (B, 3 H Dh)
        width = self.heads * self.head_dim
        # One reshape and one split, not three slices and three reshapes: fewer ops a step.
        heads = tf.reshape(qkv, (-1, 3 * self.heads, 1, self.head_dim))
        query, key, value = tf.split(heads, 3, axis=1)  # each (B, H, 1, Dh)
        old = tf.matmul(query, past_key, transpose_b=True) + past_bias  # (B, H, 1, C)
        new = tf.matmul(query, key, transpose_b=True)  # (B, H, 1, 1)
        # The step's own score first: both slices then start and end at constants, whatever the
        # cache's slots (ONNX takes any number), and no SPLIT_V, which XNNPACK does not take.
        weights = tf.nn.softmax(tf.concat([new, old], -1), -1)
        new_weights, old_weights = weights[..., :1], weights[..., 1:]
        out = tf.matmul(old_weights, past_value) + new_weights * value
        return self._project_out(tf.reshape(out, (-1, width)), h.dtype), key, value

    def cross_key_value(self, encoded):
        """The cross-attention keys and values `(B, H, S, Dh)` of an encoder output `(B, S, D)`."""
        a = self.block.cross_attention
        if a is None:
            raise ValueError(f"{self.block.name} has no cross-attention")
        kernel, bias = (
            tf.cast(w, encoded.dtype)
            for w in self._packed((a.key_dense, a.value_dense), (1.0, 1.0))
        )
        kv = tf.matmul(encoded, kernel) + bias  # (B, S, 2 H Dh)
        width = self.heads * self.head_dim
        length = encoded.shape[1] if encoded.shape[1] is not None else tf.shape(encoded)[1]
        return tuple(self._heads(kv[..., i * width : (i + 1) * width], length) for i in range(2))

    def _cross_step(self, h, cross):
        """One token `h` `(B, D)` attending to `cross` = `(keys, values (B, H, S, Dh), bias (B, 1, 1, S))`."""
        a = self.block.cross_attention
        cross_key, cross_value, cross_bias = cross
        kernel, bias = (tf.cast(w, h.dtype) for w in self._packed((a.query_dense,), (self.scale,)))
        query = tf.reshape(tf.matmul(h, kernel) + bias, (-1, self.heads, 1, self.head_dim))
        scores = tf.matmul(query, cross_key, transpose_b=True) + cross_bias  # (B, H, 1, S)
        out = tf.matmul(tf.nn.softmax(scores, -1), cross_value)  # (B, H, 1, Dh)
        return self._project_out(tf.reshape(out, (-1, self.heads * self.head_dim)), h.dtype, a)

    def _feedforward(self, x):
        inner, outer = self.block.feedforward_intermediate, self.block.feedforward_output
        w1, b1, w2, b2 = (
            tf.cast(w, x.dtype) for w in (inner.kernel, inner.bias, outer.kernel, outer.bias)
        )
        return tf.matmul(self.activation(tf.matmul(x, w1) + b1), w2) + b2

    def __call__(self, x, past=None, prompt_bias=None, cross=None):
        """`x` and `past` = `(past_key, past_value, bias)`: keys/values `(B, H, C, Dh)` and an
        additive `bias` `(B, 1, 1, C)` (0 where a slot may be seen, `MASKED` elsewhere), or None.
        `cross` (a step of a block with cross-attention): `(keys, values, bias)` over the source.
        Returns `(x, key, value)`, the step's own keys and values for the caller to store."""
        block, first = self.block, self.block.normalize_first
        if (cross is not None) != (block.cross_attention is not None) or (cross and past is None):
            raise ValueError(f"{block.name}: cross-attention needs `cross` and a decode step")
        h = block.self_attention_norm(x) if first else x
        attended, key, value = (
            self._attend_prompt(h, prompt_bias) if past is None else self._attend_step(h, past)
        )
        x = attended + x
        if not first:
            x = block.self_attention_norm(x)
        if cross is not None:
            h = block.cross_attention_norm(x) if first else x
            x = self._cross_step(h, cross) + x
            if not first:
                x = block.cross_attention_norm(x)
        h = block.feedforward_norm(x) if first else x
        x = self._feedforward(h) + x
        return (x if first else block.feedforward_norm(x)), key, value


def fused_encoder_block(encoder, target: str) -> FusedBlock:
    """A keras_hub `TransformerEncoder` as a `FusedBlock`: call it on `(x, None, bias)`.

    `bias` is an additive `(B, 1, 1, S)` mask of the source's pads (no causal mask).
    """
    # keras_hub keeps the encoder's sublayers private; these names are those of the pinned version.
    attention = encoder._self_attention_layer
    parts = SimpleNamespace(
        name=encoder.name,
        self_attention=SimpleNamespace(
            query_dense=attention._query_dense,
            key_dense=attention._key_dense,
            value_dense=attention._value_dense,
            output_dense=attention._output_dense,
            num_heads=attention._num_heads,
            key_dim=attention._key_dim,
            scale=1.0 / math.sqrt(float(attention._key_dim)),
        ),
        self_attention_norm=encoder._self_attention_layer_norm,
        feedforward_norm=encoder._feedforward_layer_norm,
        feedforward_intermediate=encoder._feedforward_intermediate_dense,
        feedforward_output=encoder._feedforward_output_dense,
        normalize_first=encoder.normalize_first,
        activation=encoder.activation,
        cross_attention=None,
    )
    return FusedBlock(parts, target)
