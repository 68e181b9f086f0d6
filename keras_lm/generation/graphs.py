"""The incremental-decoding graphs of each generative family, built from a trained model's own layers.

One token costs one step: Transformer decoders take a fixed-size key/value cache
(one slot per position of the context) as an input and return it with the new
positions written in; LSTMs take and return `h` and `c`. The cache is written with a
one-hot blend (`cache * (1 - w) + onehot^T @ new`) rather than a scatter or
`slice_update`: it lowers to builtin ops in both TFLite and ONNX, keeps every shape
static (no tensor reallocation per token on a phone; one XLA compile in-process),
and no cache lives in a variable. These functions are what `keras_lm.generation`
runs in-process and what `keras-lm export` writes as `prefill`/`decode` graphs.

The Transformer blocks are keras_hub `TransformerDecoder`s; stepping one with this
cache needs its sublayers, so `block_step` mirrors `TransformerDecoder.call` at
inference and the tests hold the two within 1e-5.

Cache layout: `(B, 2 * num_layers, C, num_heads, head_dim)`: layer i's keys at
`2i`, its values at `2i + 1` (5-D: TFLite's calibration kernels slice at most 5-D);
slot `p` holds position `p` of the row (left-padded prompts start at position 0 on
their first real token, so pads never enter the cache).

Example:
>>> from keras_lm.models import TransformerLMConfig, build_transformer_lm
>>> import numpy as np
>>> graph = TransformerLMGraph(build_transformer_lm(TransformerLMConfig.tiny()))
>>> ids = np.array([[3, 4, 5]], "int32")
>>> logits, cache = graph(ids, np.array([[0, 1, 2]], "int32"), np.ones_like(ids),
...                       np.zeros(graph.cache_shape(1), "float32"))
>>> tuple(logits.shape), tuple(cache.shape)
((1, 3, 40), (1, 4, 16, 2, 8))
"""

from __future__ import annotations

import keras
from keras import ops

from keras_lm.features import ENCODER_PADDING_MASK
from keras_lm.features import ENCODER_TOKEN_IDS


def _layers(model: keras.Model, prefix: str) -> list:
    """Layers named `prefix` + a number (`transformer_layer_0`, ...), in numeric order."""
    found = [
        layer
        for layer in model.layers
        if layer.name.startswith(prefix) and layer.name[len(prefix) :].isdigit()
    ]
    return sorted(found, key=lambda layer: int(layer.name[len(prefix) :]))


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def slot_writes(positions, padding_mask, slots: int):
    """`(B, T, C)` one-hot of each real new token's cache slot (pads write nowhere)."""
    onehot = ops.expand_dims(positions, -1) == ops.reshape(
        ops.arange(slots, dtype=positions.dtype), (1, 1, -1)
    )
    real = ops.expand_dims(ops.cast(padding_mask, "bool"), -1)
    return ops.cast(ops.logical_and(onehot, real), "float32")


def visible_slots(positions, slots: int):
    """`(B, T, C)` bool: the token at position p sees cache slots 0..p (causal, no padding inside)."""
    keys = ops.reshape(ops.arange(slots, dtype=positions.dtype), (1, 1, -1))
    return keys <= ops.expand_dims(positions, -1)


def write_slots(cache, new, writes):
    """`cache` `(B, C, H, Dh)` with `new` `(B, T, H, Dh)` written at the one-hot `writes` `(B, T, C)`."""
    writes = ops.cast(writes, cache.dtype)
    keep = 1.0 - ops.max(writes, axis=1)  # (B, C)
    placed = ops.einsum("btc,bthd->bchd", writes, new)
    return cache * ops.reshape(keep, (ops.shape(keep)[0], -1, 1, 1)) + placed


def block_step(block, x, cache_key, cache_value, writes, visible, cross=None):
    """One keras_hub `TransformerDecoder` at inference over new positions `x` `(B, T, D)`.

    `cache_key`/`cache_value` `(B, C, H, Dh)`; `writes` and `visible` `(B, T, C)` from
    `slot_writes` and `visible_slots`; `cross` is `(key, value, mask)` over the encoder
    output for encoder-decoder blocks. Returns `x` and the updated key/value caches.
    """
    first = block.normalize_first
    attention = block._self_attention_layer
    h = block._self_attention_layer_norm(x) if first else x
    key = write_slots(cache_key, attention._key_dense(h), writes)  # (B, C, H, Dh)
    value = write_slots(cache_value, attention._value_dense(h), writes)
    out, _ = attention._compute_attention(
        attention._query_dense(h), key, value, attention_mask=visible, training=False
    )
    x = attention._output_dense(out) + x
    if not first:
        x = block._self_attention_layer_norm(x)
    if cross is not None:
        cross_key, cross_value, cross_mask = cross
        layer = block._cross_attention_layer
        h = block._cross_attention_layer_norm(x) if first else x
        out, _ = layer._compute_attention(
            layer._query_dense(h), cross_key, cross_value, attention_mask=cross_mask, training=False
        )
        x = layer._output_dense(out) + x
        if not first:
            x = block._cross_attention_layer_norm(x)
    h = block._feedforward_layer_norm(x) if first else x
    x = block._feedforward_output_dense(block._feedforward_intermediate_dense(h)) + x
    if not first:
        x = block._feedforward_layer_norm(x)
    return x, key, value


def _run_blocks(blocks, x, positions, padding_mask, cache, cross=None):
    """Every block over new positions; returns `x` and the updated cache `(B, 2L, C, H, Dh)`."""
    slots = ops.shape(cache)[2]
    writes, visible = slot_writes(positions, padding_mask, slots), visible_slots(positions, slots)
    updated = []
    for i, block in enumerate(blocks):
        layer_cross = None
        if cross is not None:
            layer_cross = (cross[0][:, 2 * i], cross[0][:, 2 * i + 1], cross[1])
        x, key, value = block_step(
            block, x, cache[:, 2 * i], cache[:, 2 * i + 1], writes, visible, layer_cross
        )
        updated += [key, value]  # (B, C, H, Dh) each
    return x, ops.stack(updated, axis=1)  # (B, 2L, C, H, Dh)


class TransformerLMGraph:
    """`transformer_lm` with a cache: `(ids, positions, padding_mask, cache) -> (logits, cache)`.

    `ids`, `positions` and `padding_mask` are `(B, T)`: the new tokens, their positions
    (left-padded prompts start at 0 on their first real token) and which are real.
    Prefill is a call on the prompt with an empty cache, a decode step one with `T = 1`.
    """

    def __init__(self, model: keras.Model):
        self.embedding = model.get_layer("token_embedding")
        self.position = model.get_layer("position_embedding")
        self.blocks = _layers(model, "transformer_layer_")
        self.final_norm = model.get_layer("final_layer_norm")
        attention = self.blocks[0]._self_attention_layer
        self.num_layers = len(self.blocks)
        self.num_heads, self.head_dim = attention.num_heads, attention.key_dim
        self.context = int(self.position.sequence_length)
        self.dtype = self.blocks[0].compute_dtype

    def cache_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, 2 * self.num_layers, self.context, self.num_heads, self.head_dim)

    def __call__(self, token_ids, positions, padding_mask, cache):
        tokens = self.embedding(token_ids)  # (B, T, D)
        x = tokens + self.position(tokens, positions=positions)
        x, cache = _run_blocks(self.blocks, x, positions, padding_mask, ops.cast(cache, self.dtype))
        logits = self.embedding(self.final_norm(x), reverse=True)  # (B, T, V)
        return ops.cast(logits, "float32"), cache


class TransformerSeq2SeqGraph:
    """`transformer_seq2seq`: `encode(ids, mask) -> cross cache`, `decode(...) -> (logits, cache)`.

    The cross cache `(B, 2L, S, H, Dh)` holds each decoder block's keys and values
    over the encoder output, computed once per source.
    """

    def __init__(self, model: keras.Model):
        encoders = _layers(model, "encoder_layer_")
        final = "encoder_final_norm"
        encoded = (model.get_layer(final) if _has_layer(model, final) else encoders[-1]).output
        inputs = {n: model.get_layer(n).output for n in (ENCODER_TOKEN_IDS, ENCODER_PADDING_MASK)}
        self.encoder = keras.Model(inputs, encoded, name="encoder")
        self.embedding = model.get_layer("target_token_embedding")
        self.position = model.get_layer("target_position")
        self.blocks = _layers(model, "decoder_layer_")
        norm = "decoder_final_norm"
        self.final_norm = model.get_layer(norm) if _has_layer(model, norm) else None
        self.tied = not isinstance(model.get_layer("logits"), keras.layers.Dense)
        self.head = model.get_layer("logits")
        attention = self.blocks[0]._self_attention_layer
        self.num_layers = len(self.blocks)
        self.num_heads, self.head_dim = attention.num_heads, attention.key_dim
        self.max_target_length = int(self.position.sequence_length)
        self.dtype = self.blocks[0].compute_dtype

    def cache_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, 2 * self.num_layers, self.max_target_length, self.num_heads, self.head_dim)

    def encode(self, source_ids, source_mask):
        encoded = self.encoder({ENCODER_TOKEN_IDS: source_ids, ENCODER_PADDING_MASK: source_mask})
        per_layer = []
        for block in self.blocks:
            layer = block._cross_attention_layer
            per_layer += [layer._key_dense(encoded), layer._value_dense(encoded)]
        return ops.stack(per_layer, axis=1)  # (B, 2L, S, H, Dh)

    def decode(self, token_ids, positions, cache, cross_cache, source_mask):
        tokens = self.embedding(token_ids)  # (B, T, D)
        x = tokens + self.position(tokens, positions=positions)
        new = ops.shape(token_ids)[1]
        cross_mask = ops.repeat(ops.expand_dims(ops.cast(source_mask, "bool"), 1), new, axis=1)
        real = ops.ones_like(token_ids)
        x, cache = _run_blocks(
            self.blocks, x, positions, real, ops.cast(cache, self.dtype), (cross_cache, cross_mask)
        )
        if self.final_norm is not None:
            x = self.final_norm(x)
        logits = self.embedding(x, reverse=True) if self.tied else self.head(x)
        return ops.cast(logits, "float32"), cache


class LSTMLMGraph:
    """`lstm_lm` one token at a time: `step(ids (B,), h, c) -> (logits (B, V), h, c)`, `h, c` `(B, L, H)`."""

    def __init__(self, model: keras.Model):
        self.embedding = model.get_layer("token_embedding")
        self.cells = [layer.cell for layer in _layers(model, "lstm_")]
        self.head = model.get_layer("logits")
        self.num_layers, self.units = len(self.cells), self.cells[0].units
        self.dtype = self.cells[0].compute_dtype

    def state_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, self.num_layers, self.units)

    def step(self, token_ids, h, c):
        x = self.embedding(token_ids)  # (B, E)
        x, h, c = _cells_step(self.cells, x, h, c)
        return ops.cast(self.head(x), "float32"), h, c


def _cells_step(cells, x, h, c):
    hs, cs = [], []
    for i, cell in enumerate(cells):
        x, (h_i, c_i) = cell(x, [h[:, i], c[:, i]], training=False)
        hs.append(h_i)
        cs.append(c_i)
    return x, ops.stack(hs, axis=1), ops.stack(cs, axis=1)


class LSTMSeq2SeqGraph:
    """`lstm_seq2seq`: `encode(ids, mask) -> (encoded, h, c)`; `decode(ids (B,), h, c, encoded, mask)`."""

    def __init__(self, model: keras.Model):
        inputs = {n: model.get_layer(n).output for n in (ENCODER_TOKEN_IDS, ENCODER_PADDING_MASK)}
        decoders = _layers(model, "decoder_lstm_")
        states = [_encoder_state(model, i) for i in range(len(decoders))]
        outputs = [model.get_layer("encoder_outputs").output] + [t for pair in states for t in pair]
        self.encoder = keras.Model(inputs, outputs, name="encoder")
        self.embedding = model.get_layer("target_token_embedding")
        self.cells = [layer.cell for layer in decoders]
        self.attention = model.get_layer("attention")
        self.projection = model.get_layer("attention_projection")
        self.head = model.get_layer("logits")
        self.num_layers, self.units = len(self.cells), self.cells[0].units
        self.max_target_length = None
        self.dtype = self.cells[0].compute_dtype

    def encode(self, source_ids, source_mask):
        out = self.encoder({ENCODER_TOKEN_IDS: source_ids, ENCODER_PADDING_MASK: source_mask})
        encoded, states = out[0], out[1:]
        return encoded, ops.stack(states[0::2], axis=1), ops.stack(states[1::2], axis=1)

    def decode(self, token_ids, h, c, encoded, source_mask):
        y = self.embedding(token_ids)  # (B, E)
        y, h, c = _cells_step(self.cells, y, h, c)  # (B, Hd)
        context, _ = self.attention(ops.expand_dims(y, 1), encoded, source_mask)  # (B, 1, He)
        z = self.projection(ops.concatenate([y, context[:, 0]], axis=-1))  # (B, Hd)
        return ops.cast(self.head(z), "float32"), h, c


def _encoder_state(model: keras.Model, i: int):
    """The `[h, c]` KerasTensors decoder layer `i` starts from (after a bridge, if any)."""
    for h_name, c_name in (
        (f"bridge_h_{i}", f"bridge_c_{i}"),
        (f"encoder_h_{i}", f"encoder_c_{i}"),
    ):
        if _has_layer(model, h_name):
            return model.get_layer(h_name).output, model.get_layer(c_name).output
    _, h, c = model.get_layer(f"encoder_lstm_{i}").output
    return h, c


GRAPHS = {
    "transformer_lm": TransformerLMGraph,
    "lstm_lm": LSTMLMGraph,
    "transformer_seq2seq": TransformerSeq2SeqGraph,
    "lstm_seq2seq": LSTMSeq2SeqGraph,
}
