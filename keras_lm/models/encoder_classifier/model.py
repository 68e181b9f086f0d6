"""BERT-style text classifier: Transformer encoder, pooled over the sequence, then a Dense head.

Token + learned position embedding, a keras_hub TransformerEncoder stack that
never attends to padding, pooling by the mean over real tokens (or the first
token), optionally BERT's pooler (`Dense(hidden_dim, tanh)`), dropout, and
`Dense(num_classes, name="logits")`. Post-LayerNorm blocks with an embedding LayerNorm,
as BERT, or pre-LayerNorm with a final LayerNorm.

Example:
>>> from keras_lm.models import EncoderClassifierConfig
>>> from keras_lm.models.encoder_classifier.model import build_encoder_classifier
>>> model = build_encoder_classifier(EncoderClassifierConfig.tiny())
>>> model.output_shape, model.output.dtype
((None, 3), 'float32')
"""

from __future__ import annotations

import keras
from keras_hub.layers import TokenAndPositionEmbedding
from keras_hub.layers import TransformerEncoder

from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.layers.activations import ACTIVATIONS
from keras_lm.layers.pooling import MaskedPooling
from keras_lm.models.encoder_classifier.config import EncoderClassifierConfig
from keras_lm.models.transformer_lm.model import INIT_STDDEV


def build_encoder_classifier(config: EncoderClassifierConfig) -> keras.Model:
    """A functional classifier: `{token_ids, padding_mask}` (int32 `(B, T)`) -> `logits` `(B, C)`.

    Example:
    >>> from keras_lm.models import EncoderClassifierConfig
    >>> from keras_lm.models.encoder_classifier.model import build_encoder_classifier
    >>> import numpy as np
    >>> model = build_encoder_classifier(EncoderClassifierConfig.tiny())
    >>> x = np.array([[3, 4, 5]], "int32")
    >>> model({"token_ids": x, "padding_mask": np.ones_like(x)}).shape
    TensorShape([1, 3])
    """
    if config.encoder == "cnn":
        return _build_cnn(config)
    # === Layers ===
    init = keras.initializers.RandomNormal(stddev=INIT_STDDEV)
    embedding = TokenAndPositionEmbedding(
        config.vocab_size,
        config.max_length,
        config.hidden_dim,
        embeddings_initializer=init,
        name="embeddings",
    )
    norm = keras.layers.LayerNormalization(
        epsilon=config.layer_norm_epsilon,
        name="final_norm" if config.normalize_first else "embeddings_norm",
    )
    encoders = [
        TransformerEncoder(
            intermediate_dim=config.intermediate_dim or 4 * config.hidden_dim,
            num_heads=config.num_heads,
            dropout=config.dropout,
            activation=ACTIVATIONS[config.activation],
            layer_norm_epsilon=config.layer_norm_epsilon,
            kernel_initializer=init,
            normalize_first=config.normalize_first,
            name=f"encoder_layer_{i}",
        )
        for i in range(config.num_layers)
    ]
    pooler = keras.layers.Dense(
        config.hidden_dim, activation="tanh", kernel_initializer=init, name="pooled_dense"
    )
    head = keras.layers.Dense(
        config.num_classes, dtype="float32", kernel_initializer=init, name="logits"
    )

    # === Functional Model ===
    token_ids = keras.Input((None,), dtype="int32", name=TOKEN_IDS)
    padding_mask = keras.Input((None,), dtype="int32", name=PADDING_MASK)
    x = embedding(token_ids)  # (B, T, D)
    if not config.normalize_first:
        x = norm(x)  # BERT normalises the embeddings
    x = keras.layers.Dropout(config.dropout, name="embeddings_dropout")(x)
    for encoder in encoders:
        x = encoder(x, padding_mask=padding_mask)  # (B, T, D)
    if config.normalize_first:
        x = norm(x)  # pre-LN stacks end with a LayerNorm
    pooled = MaskedPooling(config.pooling, name="pooling")(x, padding_mask)  # (B, D)
    if config.pooler:
        pooled = pooler(pooled)  # (B, D)
    pooled = keras.layers.Dropout(config.dropout, name="pooled_dropout")(pooled)
    logits = head(pooled)  # (B, C)
    return keras.Model(
        {TOKEN_IDS: token_ids, PADDING_MASK: padding_mask}, logits, name="encoder_classifier"
    )


def _build_cnn(config: EncoderClassifierConfig) -> keras.Model:
    """Kim's sentence CNN: embeddings, a ReLU `Conv1D` per window width, pooled, concatenated.

    Padded positions are zeroed before the convolutions, so a window at the end of a
    padded row sees the zeros that "same" padding gives the unpadded row.
    """
    # === Layers ===
    embedding = keras.layers.Embedding(config.vocab_size, config.hidden_dim, name="embeddings")
    convs = [
        keras.layers.Conv1D(
            config.filters, width, padding="same", activation="relu", name=f"conv_{width}"
        )
        for width in config.kernel_sizes
    ]
    head = keras.layers.Dense(config.num_classes, dtype="float32", name="logits")

    # === Functional Model ===
    token_ids = keras.Input((None,), dtype="int32", name=TOKEN_IDS)
    padding_mask = keras.Input((None,), dtype="int32", name=PADDING_MASK)
    real = keras.ops.expand_dims(keras.ops.cast(padding_mask, "float32"), -1)  # (B, T, 1)
    x = embedding(token_ids) * keras.ops.cast(real, embedding.compute_dtype)  # (B, T, D)
    x = keras.layers.Dropout(config.dropout, name="embeddings_dropout")(x)
    pooled = [
        MaskedPooling(config.pooling, name=f"pooling_{conv.name}")(conv(x), padding_mask)
        for conv in convs
    ]  # each (B, filters)
    x = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="features")(pooled)
    x = keras.layers.Dropout(config.dropout, name="pooled_dropout")(x)
    logits = head(x)  # (B, C)
    return keras.Model(
        {TOKEN_IDS: token_ids, PADDING_MASK: padding_mask}, logits, name="encoder_classifier"
    )
