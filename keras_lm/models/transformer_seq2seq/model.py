"""Transformer encoder-decoder for translation-style pairs (keras_hub TransformerEncoder/Decoder).

Source and target each get a token + learned position embedding (one token
embedding for both when the vocabulary is shared), then a TransformerEncoder
stack over the source and a causal `TransformerDecoderBlock` stack (ours) with cross-attention
over the encoder outputs. Pre-LayerNorm (`normalize_first`, with a final
LayerNorm on each side) or the original post-LayerNorm. Logits come from the
target token embedding in reverse when `tie_embeddings`, else from a Dense layer.

Example:
>>> from keras_lm.models import TransformerSeq2SeqConfig
>>> from keras_lm.models.transformer_seq2seq.model import build_transformer_seq2seq
>>> model = build_transformer_seq2seq(TransformerSeq2SeqConfig.tiny())
>>> sorted(model.input.keys())
['decoder_padding_mask', 'decoder_token_ids', 'encoder_padding_mask', 'encoder_token_ids']
>>> model.output_shape
(None, None, 40)
"""

from __future__ import annotations

import keras
from keras_hub.layers import PositionEmbedding
from keras_hub.layers import ReversibleEmbedding
from keras_hub.layers import TransformerEncoder

from keras_lm.features import DECODER_PADDING_MASK
from keras_lm.features import DECODER_TOKEN_IDS
from keras_lm.features import ENCODER_PADDING_MASK
from keras_lm.features import ENCODER_TOKEN_IDS
from keras_lm.layers.transformer_decoder import TransformerDecoderBlock
from keras_lm.models.transformer_lm.model import INIT_STDDEV
from keras_lm.models.transformer_seq2seq.config import TransformerSeq2SeqConfig


def build_transformer_seq2seq(config: TransformerSeq2SeqConfig) -> keras.Model:
    """A functional encoder-decoder: the four seq2seq inputs (int32) -> `logits` `(B, T, V)`.

    Logits are float32 under any dtype policy; the decoder is causal and neither
    stack attends to padded positions.

    Example:
    >>> from keras_lm.models import TransformerSeq2SeqConfig
    >>> from keras_lm.models.transformer_seq2seq.model import build_transformer_seq2seq
    >>> import numpy as np
    >>> model = build_transformer_seq2seq(TransformerSeq2SeqConfig.tiny())
    >>> src, tgt = np.array([[5, 6, 7]], "int32"), np.array([[1, 8]], "int32")
    >>> model({"encoder_token_ids": src, "encoder_padding_mask": np.ones_like(src),
    ...        "decoder_token_ids": tgt, "decoder_padding_mask": np.ones_like(tgt)}).shape
    TensorShape([1, 2, 40])
    """
    # === Layers ===
    init = keras.initializers.RandomNormal(stddev=INIT_STDDEV)
    target_embedding = ReversibleEmbedding(
        config.target_vocab,
        config.hidden_dim,
        tie_weights=config.tie_embeddings,
        embeddings_initializer=init,
        reverse_dtype="float32",
        name="target_token_embedding",
    )
    source_embedding = target_embedding
    if not config.share_embeddings:
        source_embedding = keras.layers.Embedding(
            config.vocab_size,
            config.hidden_dim,
            embeddings_initializer=init,
            name="source_token_embedding",
        )
    source_position = PositionEmbedding(
        config.max_source_length, initializer=init, name="source_position"
    )
    target_position = PositionEmbedding(
        config.max_target_length, initializer=init, name="target_position"
    )
    block = dict(
        intermediate_dim=config.intermediate_dim or 4 * config.hidden_dim,
        num_heads=config.num_heads,
        dropout=config.dropout,
        activation=config.activation,
        layer_norm_epsilon=config.layer_norm_epsilon,
        kernel_initializer=init,
        normalize_first=config.normalize_first,
    )
    encoders = [
        TransformerEncoder(**block, name=f"encoder_layer_{i}")
        for i in range(config.num_encoder_layers)
    ]
    decoders = [
        TransformerDecoderBlock(**block, name=f"decoder_layer_{i}")
        for i in range(config.num_decoder_layers)
    ]

    # === Functional Model ===
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in _INPUTS}
    x = _embed(
        inputs[ENCODER_TOKEN_IDS], source_embedding, source_position, config.dropout, "source"
    )
    for encoder in encoders:
        x = encoder(x, padding_mask=inputs[ENCODER_PADDING_MASK])  # (B, S, D)
    encoded = _final_norm(x, config, "encoder_final_norm")  # (B, S, D)
    y = _embed(
        inputs[DECODER_TOKEN_IDS], target_embedding, target_position, config.dropout, "target"
    )
    for decoder in decoders:
        y = decoder(
            y,
            encoded,
            decoder_padding_mask=inputs[DECODER_PADDING_MASK],
            encoder_padding_mask=inputs[ENCODER_PADDING_MASK],
        )  # (B, T, D); causal self-attention, cross-attention over real source tokens
    y = _final_norm(y, config, "decoder_final_norm")  # (B, T, D)
    if config.tie_embeddings:
        logits = target_embedding(y, reverse=True)  # (B, T, V) float32
        logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
    else:
        logits = keras.layers.Dense(
            config.target_vocab, dtype="float32", kernel_initializer=init, name="logits"
        )(y)  # (B, T, V)
    return keras.Model(inputs, logits, name="transformer_seq2seq")


_INPUTS = (ENCODER_TOKEN_IDS, ENCODER_PADDING_MASK, DECODER_TOKEN_IDS, DECODER_PADDING_MASK)


def _embed(token_ids, token_embedding, position_embedding, dropout: float, side: str):
    tokens = token_embedding(token_ids)  # (B, L, D)
    x = keras.layers.Add(name=f"{side}_embeddings_add")([tokens, position_embedding(tokens)])
    return keras.layers.Dropout(dropout, name=f"{side}_embeddings_dropout")(x)  # (B, L, D)


def _final_norm(x, config: TransformerSeq2SeqConfig, name: str):
    if not config.normalize_first:
        return x  # post-LN blocks end normalised already
    return keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon, name=name)(x)
