"""LSTM encoder-decoder with Luong or Bahdanau attention: the seq2seq baseline.

Encoder: token embedding, `num_layers` (bi)LSTMs over the source. Decoder: token
embedding, `num_layers` LSTMs over the teacher-forced target, layer i starting
from encoder layer i's final state (forward and backward states concatenated,
then projected when the widths differ). `Seq2SeqAttention` scores the top
decoder output against the encoder outputs, never attending to padded source
positions; `[decoder output; context]` -> tanh Dense -> Dense logits.

The training model has one output, `logits`. For heat maps,
`build_attention_model(model)` wraps the same layers (trained or loaded) in a
second model that also returns `attention_weights` `(B, T, S)`.

Example:
>>> from keras_lm.models import LSTMSeq2SeqConfig
>>> from keras_lm.models.lstm_seq2seq.model import build_lstm_seq2seq
>>> model = build_lstm_seq2seq(LSTMSeq2SeqConfig.tiny())
>>> model.output_shape
(None, None, 40)
"""

from __future__ import annotations

import keras

from keras_lm.features import DECODER_PADDING_MASK
from keras_lm.features import DECODER_TOKEN_IDS
from keras_lm.features import ENCODER_PADDING_MASK
from keras_lm.features import ENCODER_TOKEN_IDS
from keras_lm.layers.attention import Seq2SeqAttention
from keras_lm.layers.masking import BoolMask
from keras_lm.layers.masking import DropMask
from keras_lm.models.lstm_seq2seq.config import LSTMSeq2SeqConfig

ATTENTION_LAYER = "attention"


def build_lstm_seq2seq(config: LSTMSeq2SeqConfig) -> keras.Model:
    """A functional LSTM encoder-decoder: the four seq2seq inputs -> `logits` `(B, T, V)` float32.

    Example:
    >>> from keras_lm.models import LSTMSeq2SeqConfig
    >>> from keras_lm.models.lstm_seq2seq.model import build_lstm_seq2seq
    >>> import numpy as np
    >>> model = build_lstm_seq2seq(LSTMSeq2SeqConfig.tiny())
    >>> src, tgt = np.array([[5, 6, 7]], "int32"), np.array([[1, 8]], "int32")
    >>> model({"encoder_token_ids": src, "encoder_padding_mask": np.ones_like(src),
    ...        "decoder_token_ids": tgt, "decoder_padding_mask": np.ones_like(tgt)}).shape
    TensorShape([1, 2, 40])
    """
    # === Layers ===
    target_embedding = keras.layers.Embedding(
        config.target_vocab, config.embedding_dim, name="target_token_embedding"
    )
    source_embedding = target_embedding
    if not config.share_embeddings:
        source_embedding = keras.layers.Embedding(
            config.vocab_size, config.embedding_dim, name="source_token_embedding"
        )
    attention = Seq2SeqAttention(
        config.attention, units=config.attention_units, name=ATTENTION_LAYER
    )
    projection = keras.layers.Dense(
        config.decoder_units, activation="tanh", name="attention_projection"
    )
    head = keras.layers.Dense(config.target_vocab, dtype="float32", name="logits")

    # === Functional Model ===
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in _INPUTS}
    source_mask = BoolMask(name="encoder_bool_mask")(inputs[ENCODER_PADDING_MASK])  # (B, S)
    target_mask = BoolMask(name="decoder_bool_mask")(inputs[DECODER_PADDING_MASK])  # (B, T)
    x = source_embedding(inputs[ENCODER_TOKEN_IDS])  # (B, S, E)
    x = keras.layers.Dropout(config.dropout, name="source_embedding_dropout")(x)
    encoded, states = _encoder(x, source_mask, config)  # (B, S, He), He = encoder_output_dim
    y = target_embedding(inputs[DECODER_TOKEN_IDS])  # (B, T, E)
    y = keras.layers.Dropout(config.dropout, name="target_embedding_dropout")(y)
    y = _decoder(y, target_mask, states, config)  # (B, T, Hd)
    context, _ = attention(y, encoded, source_mask)  # (B, T, He); weights (B, T, S)
    z = keras.layers.Concatenate(name="output_and_context")([y, context])  # (B, T, Hd + He)
    z = keras.layers.Dropout(config.dropout, name="projection_dropout")(projection(z))  # (B, T, Hd)
    logits = head(z)  # (B, T, V)
    return keras.Model(inputs, logits, name="lstm_seq2seq")


def build_attention_model(model: keras.Model) -> keras.Model:
    """The same layers as `model` (built or loaded), returning `{"logits", "attention_weights"}`.

    `attention_weights` is `(B, T, S)`: for each target step, the weights over source
    steps (0 on padded ones). Shares weights with `model`; nothing is copied.

    Example:
    >>> from keras_lm.models import LSTMSeq2SeqConfig
    >>> from keras_lm.models.lstm_seq2seq.model import build_attention_model
    >>> from keras_lm.models.lstm_seq2seq.model import build_lstm_seq2seq
    >>> import numpy as np
    >>> viewer = build_attention_model(build_lstm_seq2seq(LSTMSeq2SeqConfig.tiny()))
    >>> src, tgt = np.array([[5, 6, 0]], "int32"), np.array([[1, 8]], "int32")
    >>> src_mask = np.array([[1, 1, 0]], "int32")
    >>> out = viewer({"encoder_token_ids": src, "encoder_padding_mask": src_mask,
    ...               "decoder_token_ids": tgt, "decoder_padding_mask": np.ones_like(tgt)})
    >>> out["attention_weights"].shape, float(out["attention_weights"][0, 0, 2])
    (TensorShape([1, 2, 3]), 0.0)
    """
    _, weights = model.get_layer(ATTENTION_LAYER).output
    return keras.Model(
        model.input,
        {"logits": model.output, "attention_weights": weights},
        name=f"{model.name}_with_attention",
    )


_INPUTS = (ENCODER_TOKEN_IDS, ENCODER_PADDING_MASK, DECODER_TOKEN_IDS, DECODER_PADDING_MASK)


def _lstm(units: int, name: str) -> keras.layers.LSTM:
    return keras.layers.LSTM(
        units, return_sequences=True, return_state=True, use_cudnn=False, name=name
    )


def _encoder(x, mask, config: LSTMSeq2SeqConfig):
    """Encoder outputs `(B, S, encoder_output_dim)` and each layer's final `[h, c]`."""
    states = []
    for i in range(config.num_layers):
        if config.bidirectional:
            layer = keras.layers.Bidirectional(
                _lstm(config.encoder_units, f"encoder_lstm_{i}"), name=f"encoder_bilstm_{i}"
            )
            x, h_fwd, c_fwd, h_bwd, c_bwd = layer(x, mask=mask)  # (B, S, 2H), 4 x (B, H)
            h = keras.layers.Concatenate(name=f"encoder_h_{i}")([h_fwd, h_bwd])  # (B, 2H)
            c = keras.layers.Concatenate(name=f"encoder_c_{i}")([c_fwd, c_bwd])  # (B, 2H)
        else:
            x, h, c = _lstm(config.encoder_units, f"encoder_lstm_{i}")(x, mask=mask)  # (B, S, H)
        x = keras.layers.Dropout(config.dropout, name=f"encoder_dropout_{i}")(x)
        if config.encoder_output_dim != config.decoder_units:
            h = keras.layers.Dense(config.decoder_units, activation="tanh", name=f"bridge_h_{i}")(h)
            c = keras.layers.Dense(config.decoder_units, name=f"bridge_c_{i}")(c)  # (B, Hd)
        states.append([h, c])
    return DropMask(name="encoder_outputs")(x), states


def _decoder(y, mask, states, config: LSTMSeq2SeqConfig):
    """Top decoder LSTM outputs `(B, T, decoder_units)`; layer i starts from encoder state i."""
    for i, state in enumerate(states):
        y, _, _ = _lstm(config.decoder_units, f"decoder_lstm_{i}")(
            y, mask=mask, initial_state=state
        )
        y = keras.layers.Dropout(config.dropout, name=f"decoder_dropout_{i}")(y)  # (B, T, Hd)
    return DropMask(name="decoder_outputs")(y)
