"""`transformer_seq2seq`'s export graphs: encode a source once, then cached one-token decode steps.

    encode(encoder_token_ids, encoder_padding_mask) -> cross_cache
    decode(token_ids, positions, past_cache, cross_cache, encoder_padding_mask) -> logits, cache

The cross cache `(B, 2L, S, H, Dh)` holds each decoder block's keys and values over
the encoder output, computed once per source; the self-attention cache is
`(B, 2L, max_target_length, H, Dh)`, as `transformer_lm`'s. These are the
SavedModel's graphs (and Keras in-process decoding's).

TFLite and ONNX get `runtime_cache_graphs` instead: per-layer head-major caches, each
step returning only its own keys and values for the runtime to write in place, the
decoder blocks as `keras_lm.models.fused_block.FusedBlock`s (see that function).

Example:
>>> from keras_lm.models.transformer_seq2seq.config import TransformerSeq2SeqConfig
>>> from keras_lm.models.transformer_seq2seq.model import build_transformer_seq2seq
>>> graphs = export_graphs(build_transformer_seq2seq(TransformerSeq2SeqConfig.tiny()))
>>> sorted(graphs)
['decode', 'encode']
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_lm.features import ENCODER_PADDING_MASK
from keras_lm.features import ENCODER_TOKEN_IDS
from keras_lm.features import TOKEN_IDS
from keras_lm.models.fused_block import FusedBlock
from keras_lm.models.fused_block import fused_encoder_block
from keras_lm.models.graph_parts import embedding_lookup_and_head
from keras_lm.models.graph_parts import has_layer
from keras_lm.models.graph_parts import numbered_layers
from keras_lm.models.graph_parts import run_cached_blocks
from keras_lm.models.graph_parts import source_bias
from keras_lm.models.graph_parts import spec
from keras_lm.models.graph_parts import step_bias


class TransformerSeq2SeqGraph:
    """`encode(ids, mask) -> cross cache`, `decode(...) -> (logits, cache)` over the model's layers."""

    def __init__(self, model: keras.Model):
        encoders = numbered_layers(model, "encoder_layer_")
        final = "encoder_final_norm"
        encoded = (model.get_layer(final) if has_layer(model, final) else encoders[-1]).output
        inputs = {n: model.get_layer(n).output for n in (ENCODER_TOKEN_IDS, ENCODER_PADDING_MASK)}
        self.encoder = keras.Model(inputs, encoded, name="encoder")
        self.embedding = model.get_layer("target_token_embedding")
        self.position = model.get_layer("target_position")
        self.blocks = numbered_layers(model, "decoder_layer_")
        norm = "decoder_final_norm"
        self.final_norm = model.get_layer(norm) if has_layer(model, norm) else None
        self.tied = not isinstance(model.get_layer("logits"), keras.layers.Dense)
        self.head = model.get_layer("logits")
        self.num_layers = len(self.blocks)
        attention = self.blocks[0].self_attention
        self.num_heads, self.head_dim = attention.num_heads, attention.key_dim
        self.max_target_length = int(self.position.sequence_length)
        self.dtype = self.blocks[0].compute_dtype

    def cache_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, 2 * self.num_layers, self.max_target_length, self.num_heads, self.head_dim)

    def encode(self, source_ids, source_mask):
        encoded = self.encoder({ENCODER_TOKEN_IDS: source_ids, ENCODER_PADDING_MASK: source_mask})
        per_layer = []
        for block in self.blocks:
            per_layer += list(block.cross_key_value(encoded))  # (B, S, H, Dh) each
        return ops.stack(per_layer, axis=1)  # (B, 2L, S, H, Dh)

    def decode(self, token_ids, positions, cache, cross_cache, source_mask):
        tokens = self.embedding(token_ids)  # (B, T, D)
        x = tokens + self.position(tokens, positions=positions)
        new = ops.shape(token_ids)[1]
        cross_mask = ops.repeat(ops.expand_dims(ops.cast(source_mask, "bool"), 1), new, axis=1)
        real = ops.ones_like(token_ids)
        x, cache = run_cached_blocks(
            self.blocks, x, positions, real, ops.cast(cache, self.dtype), (cross_cache, cross_mask)
        )
        if self.final_norm is not None:
            x = self.final_norm(x)
        logits = self.embedding(x, reverse=True) if self.tied else self.head(x)
        return ops.cast(logits, "float32"), cache


def runtime_cache_graphs(
    model: keras.Model,
    batch: int | None = None,
    prefill_lengths: tuple[int, ...] | None = None,
    target: str = "onnx",
):
    """The graphs of the runtime-written cache (`keras_lm.inference.steppers.RuntimeCacheSeq2SeqStepper`).

        encode(encoder_token_ids, encoder_padding_mask (B, S)) -> cross_key_i, cross_value_i (B, H, S, Dh)
        decode(token_ids (B, 1), positions (B, 1), encoder_padding_mask (B, S),
               past_key_i, past_value_i (B, H, T, Dh), cross_key_i, cross_value_i)
            -> logits (B, V), key_i, value_i (B, H, 1, Dh)

    `T` is the target length. A step sees the slots below its position and the real
    source positions; it returns only its own keys and values, which the runtime writes
    into its cache in place, so no cache crosses back out of the runtime and no
    one-hot blend rewrites it every step. The decoder blocks run as `FusedBlock`s for
    `target` ("tflite" or "onnx"). There is no prefill (`prefill_lengths` is unused):
    a translation starts from its start token.
    """
    graph = TransformerSeq2SeqGraph(model)
    blocks = [FusedBlock(block, target) for block in graph.blocks]
    lookup, tied_head = embedding_lookup_and_head(graph.embedding, target)
    table = graph.position.position_embeddings

    def head(x):
        if graph.tied:
            return tied_head(x)
        return tf.matmul(x, tf.cast(graph.head.kernel, x.dtype)) + tf.cast(graph.head.bias, x.dtype)

    layers = range(graph.num_layers)
    source = [spec((batch, None), ENCODER_TOKEN_IDS), spec((batch, None), ENCODER_PADDING_MASK)]

    encode_source = _fused_encoder(model, graph, target)

    @tf.function(input_signature=source)
    def encode(encoder_token_ids, encoder_padding_mask):
        encoded = encode_source(encoder_token_ids, encoder_padding_mask)
        out = {}
        for i, block in zip(layers, blocks, strict=True):
            out[f"cross_key_{i}"], out[f"cross_value_{i}"] = block.cross_key_value(encoded)
        return {k: tf.cast(v, tf.float32) for k, v in out.items()}

    past = (graph.num_heads, graph.max_target_length, graph.head_dim)
    cross = (graph.num_heads, None, graph.head_dim)
    pairs = [f"{kind}_{i}" for i in layers for kind in ("key", "value")]
    tensors = [spec((batch, *past), f"past_{n}", tf.float32) for n in pairs]
    tensors += [spec((batch, *cross), f"cross_{n}", tf.float32) for n in pairs]

    @tf.function(
        input_signature=[
            spec((batch, 1), TOKEN_IDS),
            spec((batch, 1), "positions"),
            spec((batch, None), ENCODER_PADDING_MASK),
            *tensors,
        ]
    )
    def decode(token_ids, positions, encoder_padding_mask, *caches):
        dtype = graph.dtype
        self_bias = tf.cast(step_bias(positions, graph.max_target_length), dtype)
        cross_bias = tf.cast(source_bias(encoder_padding_mask), dtype)
        caches = [tf.cast(c, dtype) for c in caches]  # no-op in float32
        token_ids, positions = tf.reshape(token_ids, (-1,)), tf.reshape(positions, (-1,))  # (B,)
        x = lookup(token_ids) + tf.gather(table, positions)  # (B, D)
        x = tf.cast(x, dtype)
        out, n = {}, 2 * graph.num_layers
        for i, block in zip(layers, blocks, strict=True):
            own = (caches[2 * i], caches[2 * i + 1], self_bias)
            other = (caches[n + 2 * i], caches[n + 2 * i + 1], cross_bias)
            x, out[f"key_{i}"], out[f"value_{i}"] = block(x, own, cross=other)
        if graph.final_norm is not None:
            x = graph.final_norm(x)
        out = {k: tf.cast(v, tf.float32) for k, v in out.items()}
        return {"logits": tf.cast(head(x), tf.float32), **out}

    return {"encode": encode, "decode": decode}


def _fused_encoder(model: keras.Model, graph: TransformerSeq2SeqGraph, target: str):
    """`(ids, mask) -> encoded (B, S, D)`: the encoder stack as `FusedBlock`s, few large ops."""
    name = "source_token_embedding"
    table = (model.get_layer(name) if has_layer(model, name) else graph.embedding).embeddings
    positions = model.get_layer("source_position").position_embeddings
    blocks = [fused_encoder_block(e, target) for e in numbered_layers(model, "encoder_layer_")]
    final = (
        model.get_layer("encoder_final_norm") if has_layer(model, "encoder_final_norm") else None
    )

    def encode(ids, mask):
        x = tf.gather(table, ids) + tf.gather(positions, tf.range(tf.shape(ids)[1]))[None]
        x, bias = tf.cast(x, graph.dtype), tf.cast(source_bias(mask), graph.dtype)
        for block in blocks:
            x, _, _ = block(x, None, bias)
        return x if final is None else final(x)

    return encode


def facts(model: keras.Model, max_target_length: int | None = None) -> dict:
    """The target length (the cache's slots) and the cache shape at batch 1."""
    graph = TransformerSeq2SeqGraph(model)
    return {"max_target_length": graph.max_target_length, "cache_shape": list(graph.cache_shape(1))}


def export_graphs(model: keras.Model, batch: int | None = None, encoder_batch: int | None = None):
    """`encode` and `decode` as `tf.function`s with input signatures; `batch` None is dynamic."""
    graph = TransformerSeq2SeqGraph(model)
    cache_shape = (batch, *graph.cache_shape(1)[1:])
    cross_shape = (batch, 2 * graph.num_layers, None, graph.num_heads, graph.head_dim)
    source = [spec((batch, None), ENCODER_TOKEN_IDS), spec((batch, None), ENCODER_PADDING_MASK)]

    @tf.function(input_signature=source)
    def encode(encoder_token_ids, encoder_padding_mask):
        cross = graph.encode(encoder_token_ids, encoder_padding_mask)
        return {"cross_cache": tf.cast(cross, tf.float32)}

    @tf.function(
        input_signature=[
            spec((batch, 1), TOKEN_IDS),
            spec((batch, 1), "positions"),
            spec(cache_shape, "past_cache", tf.float32),
            spec(cross_shape, "cross_cache", tf.float32),
            spec((batch, None), ENCODER_PADDING_MASK),
        ]
    )
    def decode(token_ids, positions, past_cache, cross_cache, encoder_padding_mask):
        logits, cache = graph.decode(
            token_ids, positions, past_cache, cross_cache, encoder_padding_mask
        )
        return {"logits": logits, "cache": tf.cast(cache, tf.float32)}

    return {"encode": encode, "decode": decode}
