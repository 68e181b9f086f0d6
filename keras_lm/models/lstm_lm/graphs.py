"""`lstm_lm`'s export graph: one token at a time, carrying the LSTM state.

    decode(token_ids (B,), past_h, past_c) -> logits (B, V), h, c      h, c: (B, layers, units)

Example:
>>> from keras_lm.models.lstm_lm.config import LSTMLMConfig
>>> from keras_lm.models.lstm_lm.model import build_lstm_lm
>>> graphs = export_graphs(build_lstm_lm(LSTMLMConfig.tiny()))
>>> [s.name for s in graphs["decode"].input_signature]
['token_ids', 'past_h', 'past_c']
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_lm.features import TOKEN_IDS
from keras_lm.models.graph_parts import disable_cudnn
from keras_lm.models.graph_parts import lstm_cells_step
from keras_lm.models.graph_parts import numbered_layers
from keras_lm.models.graph_parts import spec


class LSTMLMGraph:
    """`step(ids (B,), h, c) -> (logits (B, V), h, c)` over the model's own cells."""

    def __init__(self, model: keras.Model):
        self.embedding = model.get_layer("token_embedding")
        self.cells = [layer.cell for layer in numbered_layers(model, "lstm_")]
        self.head = model.get_layer("logits")
        self.num_layers, self.units = len(self.cells), self.cells[0].units
        self.dtype = self.cells[0].compute_dtype

    def state_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, self.num_layers, self.units)

    def step(self, token_ids, h, c):
        x = self.embedding(token_ids)  # (B, E)
        x, h, c = lstm_cells_step(self.cells, x, h, c)
        return ops.cast(self.head(x), "float32"), h, c


def facts(model: keras.Model, max_target_length: int | None = None) -> dict:
    """The state shape `[layers, units]` the stepper starts from."""
    graph = LSTMLMGraph(model)
    return {"state_shape": [graph.num_layers, graph.units]}


def export_graphs(model: keras.Model, batch: int | None = None, encoder_batch: int | None = None):
    """`decode` as a `tf.function` with an input signature; `batch` None is dynamic."""
    graph = LSTMLMGraph(disable_cudnn(model))  # a reloaded checkpoint's LSTMs are back to "auto"
    state = (batch, graph.num_layers, graph.units)

    @tf.function(
        input_signature=[
            spec((batch,), TOKEN_IDS),
            spec(state, "past_h", tf.float32),
            spec(state, "past_c", tf.float32),
        ]
    )
    def decode(token_ids, past_h, past_c):
        logits, h, c = graph.step(token_ids, past_h, past_c)
        return {"logits": logits, "h": tf.cast(h, tf.float32), "c": tf.cast(c, tf.float32)}

    return {"decode": decode}
