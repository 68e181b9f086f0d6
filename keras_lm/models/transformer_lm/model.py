"""Decoder-only causal Transformer LM (GPT), matching `anchors/torch_ref/model.py` layer for layer.

Token embedding + learned position embedding (length `context`), dropout, `num_layers`
pre-LayerNorm blocks (`keras_lm.layers.TransformerDecoderBlock(normalize_first=True)`, without
cross-attention: causal self-attention, exact-GELU MLP, residuals), a final LayerNorm,
and logits from the token embedding used in reverse (tied weights, no bias). Weights
start as GPT-2's: normal(0.02), zero biases, and normal(0.02 / sqrt(2 * num_layers))
for the two residual projections of each block. The parameter count equals
torch_ref's (`bias=True`, tied): 809,856 at the `baby` config.

Example:
>>> from keras_lm.models import TransformerLMConfig
>>> from keras_lm.models.transformer_lm.model import build_transformer_lm
>>> model = build_transformer_lm(TransformerLMConfig.tiny())
>>> model.output_shape, model.output.dtype
((None, None, 40), 'float32')
"""

from __future__ import annotations

import math

import keras
from keras_hub.layers import PositionEmbedding
from keras_hub.layers import ReversibleEmbedding

from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.layers.activations import ACTIVATIONS
from keras_lm.layers.transformer_decoder import TransformerDecoderBlock
from keras_lm.models.transformer_lm.config import TransformerLMConfig

INIT_STDDEV = 0.02  # GPT-2 / torch_ref
RESIDUAL_KERNELS = ("attention_output/kernel", "feedforward_output_dense/kernel")


def build_transformer_lm(config: TransformerLMConfig) -> keras.Model:
    """A functional GPT: `{token_ids, padding_mask}` (int32 `(B, T)`, T <= context) -> `logits`.

    Logits are float32 under any dtype policy. Padded positions (mask 0) are never
    attended to; their own logits are meaningless.

    Example:
    >>> from keras_lm.models import TransformerLMConfig
    >>> from keras_lm.models.transformer_lm.model import build_transformer_lm
    >>> import numpy as np
    >>> model = build_transformer_lm(TransformerLMConfig.tiny())
    >>> x = np.array([[3, 4, 5]], "int32")
    >>> model({"token_ids": x, "padding_mask": np.ones_like(x)}).shape
    TensorShape([1, 3, 40])
    """
    # === Layers ===
    init = keras.initializers.RandomNormal(stddev=INIT_STDDEV)
    token_embedding = ReversibleEmbedding(
        config.vocab_size,
        config.hidden_dim,
        tie_weights=config.tie_embeddings,
        embeddings_initializer=init,
        reverse_dtype="float32",
        name="token_embedding",
    )
    position_embedding = PositionEmbedding(
        config.context, initializer=init, name="position_embedding"
    )
    blocks = [
        TransformerDecoderBlock(
            intermediate_dim=config.mlp_dim,
            num_heads=config.num_heads,
            dropout=config.dropout,
            activation=ACTIVATIONS[config.activation],
            layer_norm_epsilon=config.layer_norm_epsilon,
            kernel_initializer=init,
            normalize_first=True,
            name=f"transformer_layer_{i}",
        )
        for i in range(config.num_layers)
    ]
    final_norm = keras.layers.LayerNormalization(
        epsilon=config.layer_norm_epsilon, name="final_layer_norm"
    )

    # === Functional Model ===
    token_ids = keras.Input((None,), dtype="int32", name=TOKEN_IDS)
    padding_mask = keras.Input((None,), dtype="int32", name=PADDING_MASK)
    tokens = token_embedding(token_ids)  # (B, T, D)
    x = keras.layers.Add(name="embeddings_add")([tokens, position_embedding(tokens)])  # (B, T, D)
    x = keras.layers.Dropout(config.dropout, name="embeddings_dropout")(x)
    for block in blocks:
        x = block(x, decoder_padding_mask=padding_mask)  # (B, T, D); causal mask built inside
    x = final_norm(x)  # (B, T, D)
    logits = token_embedding(x, reverse=True)  # (B, T, V) float32
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
    model = keras.Model(
        {TOKEN_IDS: token_ids, PADDING_MASK: padding_mask}, logits, name="transformer_lm"
    )
    scale_residual_init(model, config.num_layers)
    return model


def scale_residual_init(model: keras.Model, num_layers: int) -> None:
    """Re-draw each block's attention-output and MLP-output kernels from normal(0.02 / sqrt(2L)).

    GPT-2's scaled init of the projections that write into the residual stream
    (torch_ref does the same; llama_lm's blocks too); the block takes one initializer.
    """
    stddev = INIT_STDDEV / math.sqrt(2 * num_layers)
    for variable in model.weights:
        if variable.path.endswith(RESIDUAL_KERNELS):
            value = keras.random.normal(variable.shape, stddev=stddev, dtype=variable.dtype)
            variable.assign(value)
