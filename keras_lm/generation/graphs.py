"""The incremental-decoding graphs of each generative family, built from a trained model's own layers.

One token costs one step: Transformer decoders take their key/value cache as an
input and return it grown by the new positions (a concatenation: it converts to
builtin ops in TFLite and ONNX alike, and no cache lives in a variable); LSTMs take
and return `h` and `c`. These functions are what `keras_lm.generation` runs
in-process and what `keras-lm export` writes as `prefill`/`decode` graphs.

The Transformer blocks are keras_hub `TransformerDecoder`s; stepping one needs its
sublayers (keras_hub's own cache updates in place with `slice_update`, which does not
convert to ONNX), so this module mirrors `TransformerDecoder.call` at inference and
the tests hold the two within 1e-5.

Cache layout: `(B, num_layers, 2, P, num_heads, head_dim)`, keys then values.

Example:
>>> from keras_lm.models import TransformerLMConfig, build_transformer_lm
>>> import numpy as np
>>> graph = TransformerLMGraph(build_transformer_lm(TransformerLMConfig.tiny()))
>>> ids = np.array([[3, 4, 5]], "int32")
>>> logits, cache = graph(ids, np.array([[0, 1, 2]], "int32"), np.ones_like(ids),
...                       np.zeros(graph.cache_shape(1, 0), "float32"))
>>> tuple(logits.shape), tuple(cache.shape)
((1, 3, 40), (1, 2, 2, 3, 2, 8))
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


def causal_mask(key_mask, new_length):
    """`(B, T, P+T)` bool: new position t (slot P+t) sees real keys at slots <= P+t."""
    total = ops.shape(key_mask)[1]
    past = total - new_length
    keys = ops.expand_dims(ops.arange(total), 0)  # (1, P+T)
    queries = ops.expand_dims(past + ops.arange(new_length), 1)  # (T, 1)
    causal = ops.expand_dims(keys <= queries, 0)  # (1, T, P+T)
    return ops.logical_and(causal, ops.expand_dims(ops.cast(key_mask, "bool"), 1))


def block_step(block, x, past_key, past_value, self_mask, cross=None):
    """One keras_hub `TransformerDecoder` at inference over new positions `x` `(B, T, D)`.

    `past_key`/`past_value` `(B, P, H, Dh)`; `cross` is `(key, value, mask)` over the
    encoder output for encoder-decoder blocks. Returns `x` and the grown key/value.
    """
    first = block.normalize_first
    attention = block._self_attention_layer
    h = block._self_attention_layer_norm(x) if first else x
    key = ops.concatenate([past_key, attention._key_dense(h)], axis=1)  # (B, P+T, H, Dh)
    value = ops.concatenate([past_value, attention._value_dense(h)], axis=1)
    out, _ = attention._compute_attention(
        attention._query_dense(h), key, value, attention_mask=self_mask, training=False
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


def _run_blocks(blocks, x, key_mask, cache, cross=None):
    """Every block over new positions; returns `x` and the grown cache `(B, L, 2, P+T, H, Dh)`."""
    mask = causal_mask(key_mask, ops.shape(x)[1])
    grown = []
    for i, block in enumerate(blocks):
        layer_cross = None if cross is None else (cross[0][:, i, 0], cross[0][:, i, 1], cross[1])
        x, key, value = block_step(block, x, cache[:, i, 0], cache[:, i, 1], mask, layer_cross)
        grown.append(ops.stack([key, value], axis=1))  # (B, 2, P+T, H, Dh)
    return x, ops.stack(grown, axis=1)


class TransformerLMGraph:
    """`transformer_lm` with a cache: `(ids, positions, key_mask, cache) -> (logits, cache)`.

    `ids` and `positions` are `(B, T)`: the new tokens and their absolute positions
    (left-padded prompts start at 0 on their first real token). `key_mask` `(B, P+T)`
    marks real tokens among cached and new ones. Prefill is a call with `P = 0`,
    a decode step one with `T = 1`.
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

    def cache_shape(self, batch: int, length: int) -> tuple[int, ...]:
        return (batch, self.num_layers, 2, length, self.num_heads, self.head_dim)

    def __call__(self, token_ids, positions, key_mask, cache):
        tokens = self.embedding(token_ids)  # (B, T, D)
        x = tokens + self.position(tokens, positions=positions)
        x, cache = _run_blocks(self.blocks, x, key_mask, ops.cast(cache, self.dtype))
        logits = self.embedding(self.final_norm(x), reverse=True)  # (B, T, V)
        return ops.cast(logits, "float32"), cache


class TransformerSeq2SeqGraph:
    """`transformer_seq2seq`: `encode(ids, mask) -> cross cache`, `decode(...) -> (logits, cache)`.

    The cross cache `(B, L, 2, S, H, Dh)` holds each decoder block's keys and values
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

    def cache_shape(self, batch: int, length: int) -> tuple[int, ...]:
        return (batch, self.num_layers, 2, length, self.num_heads, self.head_dim)

    def encode(self, source_ids, source_mask):
        encoded = self.encoder({ENCODER_TOKEN_IDS: source_ids, ENCODER_PADDING_MASK: source_mask})
        per_layer = []
        for block in self.blocks:
            layer = block._cross_attention_layer
            per_layer.append(ops.stack([layer._key_dense(encoded), layer._value_dense(encoded)], 1))
        return ops.stack(per_layer, axis=1)  # (B, L, 2, S, H, Dh)

    def decode(self, token_ids, positions, cache, cross_cache, source_mask):
        tokens = self.embedding(token_ids)  # (B, T, D)
        x = tokens + self.position(tokens, positions=positions)
        batch, new = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
        key_mask = ops.ones((batch, ops.shape(cache)[3] + new), "int32")
        cross_mask = ops.repeat(ops.expand_dims(ops.cast(source_mask, "bool"), 1), new, axis=1)
        x, cache = _run_blocks(
            self.blocks, x, key_mask, ops.cast(cache, self.dtype), (cross_cache, cross_mask)
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
