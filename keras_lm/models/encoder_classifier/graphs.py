"""`encoder_classifier`'s export graph: the whole model over a padded batch.

    classify(token_ids, padding_mask) -> logits, probabilities

Example:
>>> from keras_lm.models.encoder_classifier.config import EncoderClassifierConfig
>>> from keras_lm.models.encoder_classifier.model import build_encoder_classifier
>>> graphs = export_graphs(build_encoder_classifier(EncoderClassifierConfig.tiny()))
>>> [s.name for s in graphs["classify"].input_signature]
['token_ids', 'padding_mask']
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.models.graph_parts import spec


def facts(model: keras.Model, max_target_length: int | None = None) -> dict:
    """A classifier needs nothing besides its graph."""
    return {}


def export_graphs(model: keras.Model, batch: int | None = None, encoder_batch: int | None = None):
    """`classify` as a `tf.function` with an input signature; `batch` None is dynamic."""

    @tf.function(
        input_signature=[spec((batch, None), TOKEN_IDS), spec((batch, None), PADDING_MASK)]
    )
    def classify(token_ids, padding_mask):
        logits = tf.cast(
            model({TOKEN_IDS: token_ids, PADDING_MASK: padding_mask}, training=False), tf.float32
        )
        return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}

    return {"classify": classify}
