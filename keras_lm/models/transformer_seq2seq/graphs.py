"""`transformer_seq2seq`'s export graphs: encode a source once, then cached one-token decode steps.

    encode(encoder_token_ids, encoder_padding_mask) -> cross_cache
    decode(token_ids, positions, past_cache, cross_cache, encoder_padding_mask) -> logits, cache

The cross cache `(B, 2L, S, H, Dh)` holds each decoder block's keys and values over
the encoder output, computed once per source; the self-attention cache is
`(B, 2L, max_target_length, H, Dh)`, as `transformer_lm`'s.

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
from keras_lm.models.graph_parts import has_layer
from keras_lm.models.graph_parts import numbered_layers
from keras_lm.models.graph_parts import run_cached_blocks
from keras_lm.models.graph_parts import spec


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
