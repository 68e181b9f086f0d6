"""The graphs a bundle holds, per family: named `tf.function`s with fixed input and output names.

    transformer_lm       prefill(token_ids, padding_mask) -> logits, cache
                         decode(token_ids, positions, past_cache) -> logits, cache
    lstm_lm              decode(token_ids, past_h, past_c) -> logits, h, c
    transformer_seq2seq  encode(encoder_token_ids, encoder_padding_mask) -> cross_cache
                         decode(token_ids, positions, past_cache, cross_cache, encoder_padding_mask)
                             -> logits, cache
    lstm_seq2seq         encode(encoder_token_ids, encoder_padding_mask) -> encoded, h, c
                         decode(token_ids, past_h, past_c, encoded, encoder_padding_mask) -> logits, h, c
    encoder_classifier   classify(token_ids, padding_mask) -> logits, probabilities

Every input is int32 ids/masks/positions or float32 state; outputs never reuse an
input's name (tf2onnx cannot convert a graph where they do). Decoder caches are
fixed-size (`C` = the model's context) and written with a one-hot blend, so no
`Xla*`, scatter or TensorList op reaches a converter. Axes are dynamic where every
format allows it. TFLite's builtin LSTM loop needs a static batch (with a dynamic
one, Keras's LSTM becomes TensorList ops, Flex only): `encoder_batch` fixes the batch
of `lstm_seq2seq`'s `encode`, and the runtime encodes row by row.

Example:
>>> from keras_lm.models import TransformerLMConfig, build_transformer_lm
>>> graphs = export_graphs(build_transformer_lm(TransformerLMConfig.tiny()), "transformer_lm")
>>> sorted(graphs), [s.name for s in graphs["decode"].input_signature]
(['decode', 'prefill'], ['token_ids', 'positions', 'past_cache'])
"""

from __future__ import annotations

import tensorflow as tf

from keras_lm.features import ENCODER_PADDING_MASK
from keras_lm.features import ENCODER_TOKEN_IDS
from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.generation.graphs import GRAPHS
from keras_lm.models.registry import disable_cudnn


def _spec(shape, name: str, dtype=tf.int32) -> tf.TensorSpec:
    return tf.TensorSpec(shape, dtype, name=name)


def export_graphs(
    model, family: str | None = None, batch: int | None = None, encoder_batch: int | None = None
) -> dict[str, tf.types.experimental.GenericFunction]:
    """Named `tf.function`s (with input signatures) returning dicts of named outputs.

    `batch` fixes the batch axis of every graph (None: dynamic); `encoder_batch` only
    that of `lstm_seq2seq`'s `encode` (TFLite needs it static).
    """
    family = family or model.name
    disable_cudnn(model)  # a reloaded checkpoint's LSTMs are back to "auto"
    builders = {
        "transformer_lm": _transformer_lm,
        "lstm_lm": _lstm_lm,
        "transformer_seq2seq": _transformer_seq2seq,
        "lstm_seq2seq": _lstm_seq2seq,
        "encoder_classifier": _classifier,
    }
    if family == "lstm_seq2seq":
        return _lstm_seq2seq(model, batch, encoder_batch or batch)
    return builders[family](model, batch)


def _transformer_lm(model, batch):
    graph = GRAPHS["transformer_lm"](model)
    cache_shape = (batch, *graph.cache_shape(1)[1:])

    @tf.function(
        input_signature=[_spec((batch, None), TOKEN_IDS), _spec((batch, None), PADDING_MASK)]
    )
    def prefill(token_ids, padding_mask):
        positions = tf.maximum(tf.cumsum(padding_mask, axis=1) - 1, 0)
        cache = tf.zeros(tf.concat([tf.shape(token_ids)[:1], cache_shape[1:]], 0), graph.dtype)
        logits, cache = graph(token_ids, positions, padding_mask, cache)
        return {"logits": logits, "cache": tf.cast(cache, tf.float32)}

    @tf.function(
        input_signature=[
            _spec((batch, 1), TOKEN_IDS),
            _spec((batch, 1), "positions"),
            _spec(cache_shape, "past_cache", tf.float32),
        ]
    )
    def decode(token_ids, positions, past_cache):
        logits, cache = graph(token_ids, positions, tf.ones_like(token_ids), past_cache)
        return {"logits": logits, "cache": tf.cast(cache, tf.float32)}

    return {"prefill": prefill, "decode": decode}


def _lstm_lm(model, batch):
    graph = GRAPHS["lstm_lm"](model)
    state = (batch, graph.num_layers, graph.units)

    @tf.function(
        input_signature=[
            _spec((batch,), TOKEN_IDS),
            _spec(state, "past_h", tf.float32),
            _spec(state, "past_c", tf.float32),
        ]
    )
    def decode(token_ids, past_h, past_c):
        logits, h, c = graph.step(token_ids, past_h, past_c)
        return {"logits": logits, "h": tf.cast(h, tf.float32), "c": tf.cast(c, tf.float32)}

    return {"decode": decode}


def _transformer_seq2seq(model, batch):
    graph = GRAPHS["transformer_seq2seq"](model)
    cache_shape = (batch, *graph.cache_shape(1)[1:])
    cross_shape = (batch, 2 * graph.num_layers, None, graph.num_heads, graph.head_dim)
    source = [_spec((batch, None), ENCODER_TOKEN_IDS), _spec((batch, None), ENCODER_PADDING_MASK)]

    @tf.function(input_signature=source)
    def encode(encoder_token_ids, encoder_padding_mask):
        cross = graph.encode(encoder_token_ids, encoder_padding_mask)
        return {"cross_cache": tf.cast(cross, tf.float32)}

    @tf.function(
        input_signature=[
            _spec((batch, 1), TOKEN_IDS),
            _spec((batch, 1), "positions"),
            _spec(cache_shape, "past_cache", tf.float32),
            _spec(cross_shape, "cross_cache", tf.float32),
            _spec((batch, None), ENCODER_PADDING_MASK),
        ]
    )
    def decode(token_ids, positions, past_cache, cross_cache, encoder_padding_mask):
        logits, cache = graph.decode(
            token_ids, positions, past_cache, cross_cache, encoder_padding_mask
        )
        return {"logits": logits, "cache": tf.cast(cache, tf.float32)}

    return {"encode": encode, "decode": decode}


def _lstm_seq2seq(model, batch, encoder_batch):
    graph = GRAPHS["lstm_seq2seq"](model)
    state = (batch, graph.num_layers, graph.units)
    source = [
        _spec((encoder_batch, None), ENCODER_TOKEN_IDS),
        _spec((encoder_batch, None), ENCODER_PADDING_MASK),
    ]

    @tf.function(input_signature=source)
    def encode(encoder_token_ids, encoder_padding_mask):
        encoded, h, c = graph.encode(encoder_token_ids, encoder_padding_mask)
        return {
            "encoded": tf.cast(encoded, tf.float32),
            "h": tf.cast(h, tf.float32),
            "c": tf.cast(c, tf.float32),
        }

    encoded_dim = graph.encoder.outputs[0].shape[-1]

    @tf.function(
        input_signature=[
            _spec((batch,), TOKEN_IDS),
            _spec(state, "past_h", tf.float32),
            _spec(state, "past_c", tf.float32),
            _spec((batch, None, encoded_dim), "encoded", tf.float32),
            _spec((batch, None), ENCODER_PADDING_MASK),
        ]
    )
    def decode(token_ids, past_h, past_c, encoded, encoder_padding_mask):
        logits, h, c = graph.decode(token_ids, past_h, past_c, encoded, encoder_padding_mask)
        return {"logits": logits, "h": tf.cast(h, tf.float32), "c": tf.cast(c, tf.float32)}

    return {"encode": encode, "decode": decode}


def _classifier(model, batch):
    @tf.function(
        input_signature=[_spec((batch, None), TOKEN_IDS), _spec((batch, None), PADDING_MASK)]
    )
    def classify(token_ids, padding_mask):
        logits = tf.cast(
            model({TOKEN_IDS: token_ids, PADDING_MASK: padding_mask}, training=False), tf.float32
        )
        return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}

    return {"classify": classify}
