"""`lstm_seq2seq`'s export graphs: encode once (outputs and initial state), then one-token decode steps.

    encode(encoder_token_ids, encoder_padding_mask) -> encoded, h, c
    decode(token_ids (B,), past_h, past_c, encoded, encoder_padding_mask) -> logits, h, c

TFLite's builtin LSTM loop needs a static batch (with a dynamic one, Keras's LSTM
becomes TensorList ops, Flex only): `encoder_batch` fixes the batch of `encode`, and
the stepper then encodes row by row (`static_encoder_batch` in the family record).

Example:
>>> from keras_lm.models.lstm_seq2seq.config import LSTMSeq2SeqConfig
>>> from keras_lm.models.lstm_seq2seq.model import build_lstm_seq2seq
>>> graphs = export_graphs(build_lstm_seq2seq(LSTMSeq2SeqConfig.tiny()), encoder_batch=1)
>>> graphs["encode"].input_signature[0].shape.as_list()
[1, None]
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_lm.features import ENCODER_PADDING_MASK
from keras_lm.features import ENCODER_TOKEN_IDS
from keras_lm.features import TOKEN_IDS
from keras_lm.models.graph_parts import disable_cudnn
from keras_lm.models.graph_parts import has_layer
from keras_lm.models.graph_parts import lstm_cells_step
from keras_lm.models.graph_parts import numbered_layers
from keras_lm.models.graph_parts import spec

DEFAULT_MAX_TARGET_LENGTH = 128


class LSTMSeq2SeqGraph:
    """`encode(ids, mask) -> (encoded, h, c)`; `decode(ids (B,), h, c, encoded, mask)`."""

    def __init__(self, model: keras.Model):
        inputs = {n: model.get_layer(n).output for n in (ENCODER_TOKEN_IDS, ENCODER_PADDING_MASK)}
        decoders = numbered_layers(model, "decoder_lstm_")
        states = [_encoder_state(model, i) for i in range(len(decoders))]
        outputs = [model.get_layer("encoder_outputs").output] + [t for pair in states for t in pair]
        self.encoder = keras.Model(inputs, outputs, name="encoder")
        self.embedding = model.get_layer("target_token_embedding")
        self.cells = [layer.cell for layer in decoders]
        self.attention = model.get_layer("attention")
        self.projection = model.get_layer("attention_projection")
        self.head = model.get_layer("logits")
        self.num_layers, self.units = len(self.cells), self.cells[0].units
        self.dtype = self.cells[0].compute_dtype

    def encode(self, source_ids, source_mask):
        out = self.encoder({ENCODER_TOKEN_IDS: source_ids, ENCODER_PADDING_MASK: source_mask})
        encoded, states = out[0], out[1:]
        return encoded, ops.stack(states[0::2], axis=1), ops.stack(states[1::2], axis=1)

    def decode(self, token_ids, h, c, encoded, source_mask):
        y = self.embedding(token_ids)  # (B, E)
        y, h, c = lstm_cells_step(self.cells, y, h, c)  # (B, Hd)
        context, _ = self.attention(ops.expand_dims(y, 1), encoded, source_mask)  # (B, 1, He)
        z = self.projection(ops.concatenate([y, context[:, 0]], axis=-1))  # (B, Hd)
        return ops.cast(self.head(z), "float32"), h, c


def _encoder_state(model: keras.Model, i: int):
    """The `[h, c]` KerasTensors decoder layer `i` starts from (after a bridge, if any)."""
    for h_name, c_name in (
        (f"bridge_h_{i}", f"bridge_c_{i}"),
        (f"encoder_h_{i}", f"encoder_c_{i}"),
    ):
        if has_layer(model, h_name):
            return model.get_layer(h_name).output, model.get_layer(c_name).output
    _, h, c = model.get_layer(f"encoder_lstm_{i}").output
    return h, c


def facts(model: keras.Model, max_target_length: int | None = None) -> dict:
    """The state shape and the target length (from the run's data config: the LSTM has no limit)."""
    graph = LSTMSeq2SeqGraph(model)
    return {
        "state_shape": [graph.num_layers, graph.units],
        "max_target_length": max_target_length or DEFAULT_MAX_TARGET_LENGTH,
    }


def export_graphs(model: keras.Model, batch: int | None = None, encoder_batch: int | None = None):
    """`encode` and `decode` as `tf.function`s; `encoder_batch` fixes `encode`'s batch only."""
    graph = LSTMSeq2SeqGraph(disable_cudnn(model))  # a reloaded checkpoint's LSTMs are "auto"
    encoder_batch = encoder_batch or batch
    state = (batch, graph.num_layers, graph.units)
    source = [
        spec((encoder_batch, None), ENCODER_TOKEN_IDS),
        spec((encoder_batch, None), ENCODER_PADDING_MASK),
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
            spec((batch,), TOKEN_IDS),
            spec(state, "past_h", tf.float32),
            spec(state, "past_c", tf.float32),
            spec((batch, None, encoded_dim), "encoded", tf.float32),
            spec((batch, None), ENCODER_PADDING_MASK),
        ]
    )
    def decode(token_ids, past_h, past_c, encoded, encoder_padding_mask):
        logits, h, c = graph.decode(token_ids, past_h, past_c, encoded, encoder_padding_mask)
        return {"logits": logits, "h": tf.cast(h, tf.float32), "c": tf.cast(c, tf.float32)}

    return {"encode": encode, "decode": decode}
