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

Each family builds its own in `keras_lm/models/<family>/graphs.py`; this module is
the one entry export uses. Every input is int32 ids/masks/positions or float32
state; outputs never reuse an input's name (tf2onnx cannot convert a graph where
they do). Decoder caches are fixed-size (`C` = the model's context) and written with
a one-hot blend, so no `Xla*`, scatter or TensorList op reaches a converter. Axes are
dynamic where every format allows it.

Example:
>>> from keras_lm.models.transformer_lm.config import TransformerLMConfig
>>> from keras_lm.models.transformer_lm.model import build_transformer_lm
>>> graphs = export_graphs(build_transformer_lm(TransformerLMConfig.tiny()), "transformer_lm")
>>> sorted(graphs), [s.name for s in graphs["decode"].input_signature]
(['decode', 'prefill'], ['token_ids', 'positions', 'past_cache'])
"""

from __future__ import annotations

import tensorflow as tf

from keras_lm.models.registry import family_of
from keras_lm.models.registry import get_family


def export_graphs(
    model, family: str | None = None, batch: int | None = None, encoder_batch: int | None = None
) -> dict[str, tf.types.experimental.GenericFunction]:
    """Named `tf.function`s (with input signatures) returning dicts of named outputs.

    `batch` fixes the batch axis of every graph (None: dynamic); `encoder_batch` only
    that of an `encode` graph (TFLite needs it static for the LSTM encoder).
    """
    record = get_family(family) if family else family_of(model)
    return record.export_graphs(model, batch, encoder_batch)
