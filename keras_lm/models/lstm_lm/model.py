"""LSTM language model: embedding, stacked LSTMs, dropout, Dense logits.

The LSTMs run with `use_cudnn=False`, so a SavedModel, TFLite or ONNX export never
holds a cuDNN-only op. The padding mask reaches every LSTM (padded steps carry
the state over), and is removed before the head, so the loss sees plain logits.

Example:
>>> from keras_lm.models import LSTMLMConfig
>>> from keras_lm.models.lstm_lm.model import build_lstm_lm
>>> model = build_lstm_lm(LSTMLMConfig.tiny())
>>> model.output_shape, model.output.dtype
((None, None, 40), 'float32')
"""

from __future__ import annotations

import keras

from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.layers.masking import BoolMask
from keras_lm.layers.masking import DropMask
from keras_lm.models.lstm_lm.config import LSTMLMConfig


def build_lstm_lm(config: LSTMLMConfig) -> keras.Model:
    """A functional LSTM LM: `{token_ids, padding_mask}` (int32 `(B, T)`) -> `logits` `(B, T, V)`.

    Example:
    >>> from keras_lm.models import LSTMLMConfig
    >>> from keras_lm.models.lstm_lm.model import build_lstm_lm
    >>> import numpy as np
    >>> model = build_lstm_lm(LSTMLMConfig.tiny())
    >>> x = np.array([[3, 4, 5]], "int32")
    >>> model({"token_ids": x, "padding_mask": np.ones_like(x)}).shape
    TensorShape([1, 3, 40])
    """
    # === Layers ===
    embedding = keras.layers.Embedding(
        config.vocab_size, config.embedding_dim, name="token_embedding"
    )
    lstms = [
        keras.layers.LSTM(
            config.hidden_dim, return_sequences=True, use_cudnn=False, name=f"lstm_{i}"
        )
        for i in range(config.num_layers)
    ]
    head = keras.layers.Dense(config.vocab_size, dtype="float32", name="logits")

    # === Functional Model ===
    token_ids = keras.Input((None,), dtype="int32", name=TOKEN_IDS)
    padding_mask = keras.Input((None,), dtype="int32", name=PADDING_MASK)
    mask = BoolMask(name="bool_mask")(padding_mask)  # (B, T)
    x = embedding(token_ids)  # (B, T, E)
    x = keras.layers.Dropout(config.dropout, name="embedding_dropout")(x)
    for i, lstm in enumerate(lstms):
        x = lstm(x, mask=mask)  # (B, T, H)
        x = keras.layers.Dropout(config.dropout, name=f"lstm_{i}_dropout")(x)
    x = DropMask(name="drop_mask")(x)  # (B, T, H)
    logits = head(x)  # (B, T, V)
    return keras.Model({TOKEN_IDS: token_ids, PADDING_MASK: padding_mask}, logits, name="lstm_lm")
