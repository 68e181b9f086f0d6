"""Llama-style decoder-only LM: RoPE, grouped-query attention, RMSNorm, a gated MLP.

Token embedding (times `sqrt(hidden_dim)` with `embedding_scale`, Gemma), `num_layers`
`keras_lm.layers.GatedDecoderBlock`s fed the RoPE tables of `RotaryTables` (its
`context` is the model's), a final RMSNorm (`sequence_output_layernorm`) and logits
from the token embedding's transpose (`tie_embeddings`) or a separate `(D, V)` matrix.
Names are keras-hub's Llama's, so an imported Llama copies by variable path. Weights
start at normal(0.02), the residual projections at normal(0.02 / sqrt(2 * num_layers)).

Example:
>>> from keras_lm.models.llama_lm.config import LlamaLMConfig
>>> model = build_llama_lm(LlamaLMConfig.tiny())
>>> model.output_shape, model.get_layer("rotary_embedding").context
((None, None, 40), 16)
"""

from __future__ import annotations

import math

import keras
from keras_hub.layers import ReversibleEmbedding

from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.layers.activations import gelu_approximate
from keras_lm.layers.gated_decoder import GatedDecoderBlock
from keras_lm.layers.rms_norm import RMSNorm
from keras_lm.layers.rotary import RotaryTables
from keras_lm.models.llama_lm.config import LlamaLMConfig
from keras_lm.models.transformer_lm.model import INIT_STDDEV
from keras_lm.models.transformer_lm.model import scale_residual_init

GATES = {"silu": "silu", "gelu_approximate": gelu_approximate}


def build_llama_lm(config: LlamaLMConfig) -> keras.Model:
    """A functional Llama: `{token_ids, padding_mask}` (int32 `(B, T)`) -> float32 `logits`.

    Example:
    >>> import numpy as np
    >>> from keras_lm.models.llama_lm.config import LlamaLMConfig
    >>> model = build_llama_lm(LlamaLMConfig.tiny())
    >>> x = np.array([[3, 4, 5]], "int32")
    >>> model({"token_ids": x, "padding_mask": np.ones_like(x)}).shape
    TensorShape([1, 3, 40])
    """
    init = keras.initializers.RandomNormal(stddev=INIT_STDDEV)
    token_embedding = ReversibleEmbedding(
        config.vocab_size,
        config.hidden_dim,
        tie_weights=config.tie_embeddings,
        embeddings_initializer=init,
        reverse_dtype="float32",
        name="token_embedding",
    )
    rotary = RotaryTables(
        config.context,
        config.key_dim,
        config.rope_max_wavelength,
        config.rope_scaling(),
        name="rotary_embedding",
    )
    blocks = [
        GatedDecoderBlock(
            intermediate_dim=config.mlp_dim,
            num_heads=config.num_heads,
            num_kv_heads=config.kv_heads,
            head_dim=config.key_dim,
            dropout=config.dropout,
            activation=GATES[config.activation],
            layer_norm_epsilon=config.layer_norm_epsilon,
            norm_offset=config.norm_offset,
            kernel_initializer=init,
            name=f"transformer_layer_{i}",
        )
        for i in range(config.num_layers)
    ]
    final_norm = RMSNorm(
        config.layer_norm_epsilon, config.norm_offset, name="sequence_output_layernorm"
    )

    token_ids = keras.Input((None,), dtype="int32", name=TOKEN_IDS)
    padding_mask = keras.Input((None,), dtype="int32", name=PADDING_MASK)
    x = token_embedding(token_ids)  # (B, T, D)
    if config.embedding_scale:
        x = keras.layers.Rescaling(math.sqrt(config.hidden_dim), name="embedding_scale")(x)
    cos, sin = rotary(token_ids)  # (1, T, 1, Dh) each
    for block in blocks:
        x = block(x, cos, sin, padding_mask=padding_mask)
    x = final_norm(x)
    logits = token_embedding(x, reverse=True)  # (B, T, V)
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
    model = keras.Model({TOKEN_IDS: token_ids, PADDING_MASK: padding_mask}, logits, name="llama_lm")
    scale_residual_init(model, config.num_layers)
    return model
