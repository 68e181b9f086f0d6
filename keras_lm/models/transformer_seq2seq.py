"""Transformer encoder-decoder for translation-style pairs (keras_hub TransformerEncoder/Decoder).

Source and target each get a token + learned position embedding (one token
embedding for both when the vocabulary is shared), then a TransformerEncoder
stack over the source and a causal TransformerDecoder stack with cross-attention
over the encoder outputs. Pre-LayerNorm (`normalize_first`, with a final
LayerNorm on each side) or the original post-LayerNorm. Logits come from the
target token embedding in reverse when `tie_embeddings`, else from a Dense layer.

Example:
>>> from keras_lm.models import TransformerSeq2SeqConfig, build_transformer_seq2seq
>>> model = build_transformer_seq2seq(TransformerSeq2SeqConfig.tiny())
>>> sorted(model.input.keys())
['decoder_padding_mask', 'decoder_token_ids', 'encoder_padding_mask', 'encoder_token_ids']
>>> model.output_shape
(None, None, 40)
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import keras
from keras_hub.layers import PositionEmbedding
from keras_hub.layers import ReversibleEmbedding
from keras_hub.layers import TransformerDecoder
from keras_hub.layers import TransformerEncoder

from keras_lm.config import Config
from keras_lm.errors import ConfigError
from keras_lm.features import DECODER_PADDING_MASK
from keras_lm.features import DECODER_TOKEN_IDS
from keras_lm.features import ENCODER_PADDING_MASK
from keras_lm.features import ENCODER_TOKEN_IDS
from keras_lm.models.transformer_lm import INIT_STDDEV
from keras_lm.models.transformer_lm import check_heads


@dataclasses.dataclass(frozen=True)
class TransformerSeq2SeqConfig(Config):
    """Args:
    vocab_size: int. Source vocabulary (and target vocabulary when `target_vocab_size` is None).
    target_vocab_size: int | None. A separate target vocabulary; None shares `vocab_size`.
    share_embeddings: bool. One token embedding for source and target (needs one vocabulary).
    max_source_length / max_target_length: int. Rows of the two position embeddings.
    num_encoder_layers / num_decoder_layers / num_heads / hidden_dim: int. Sizes.
    intermediate_dim: int | None. Feed-forward width; None means `4 * hidden_dim`.
    dropout: float. Embeddings, attention weights and residual branches.
    activation: str. Feed-forward activation, "gelu" or "relu".
    normalize_first: bool. Pre-LN blocks (plus a final LayerNorm per stack); False is post-LN.
    tie_embeddings: bool. Logits from the target token embedding's transpose.
    layer_norm_epsilon: float.
    """

    vocab_size: int = 8000
    target_vocab_size: int | None = None
    share_embeddings: bool = True
    max_source_length: int = 128
    max_target_length: int = 128
    num_encoder_layers: int = 3
    num_decoder_layers: int = 3
    num_heads: int = 4
    hidden_dim: int = 128
    intermediate_dim: int | None = None  # None: 4 * hidden_dim
    dropout: float = 0.1
    activation: Literal["gelu", "relu"] = "gelu"
    normalize_first: bool = True
    tie_embeddings: bool = True
    layer_norm_epsilon: float = 1e-5

    def __post_init__(self):
        check_heads(self.hidden_dim, self.num_heads)
        if self.share_embeddings and self.target_vocab_size not in (None, self.vocab_size):
            raise ConfigError(
                "share_embeddings needs target_vocab_size None or equal to vocab_size"
            )

    @property
    def target_vocab(self) -> int:
        return self.target_vocab_size or self.vocab_size

    @classmethod
    def tiny(cls) -> TransformerSeq2SeqConfig:
        """2 + 2 layers, 16 wide, vocabulary 40, lengths 16: for tests and examples."""
        return cls(
            vocab_size=40,
            max_source_length=16,
            max_target_length=16,
            num_encoder_layers=2,
            num_decoder_layers=2,
            num_heads=2,
            hidden_dim=16,
            dropout=0.0,
        )


def build_transformer_seq2seq(config: TransformerSeq2SeqConfig) -> keras.Model:
    """A functional encoder-decoder: the four seq2seq inputs (int32) -> `logits` `(B, T, V)`.

    Logits are float32 under any dtype policy; the decoder is causal and neither
    stack attends to padded positions.

    Example:
    >>> from keras_lm.models import TransformerSeq2SeqConfig, build_transformer_seq2seq
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
        TransformerDecoder(**block, name=f"decoder_layer_{i}")
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
