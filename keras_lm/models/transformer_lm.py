"""Decoder-only causal Transformer LM (GPT), matching `anchors/torch_ref/model.py` layer for layer.

Token embedding + learned position embedding (length `context`), dropout, `num_layers`
pre-LayerNorm blocks (keras_hub `TransformerDecoder(normalize_first=True)` without
cross-attention: causal self-attention, exact-GELU MLP, residuals), a final LayerNorm,
and logits from the token embedding used in reverse (tied weights, no bias). Weights
start as GPT-2's: normal(0.02), zero biases, and normal(0.02 / sqrt(2 * num_layers))
for the two residual projections of each block. The parameter count equals
torch_ref's (`bias=True`, tied): 809,856 at the `baby` config.

Example:
>>> from keras_lm.models import TransformerLMConfig, build_transformer_lm
>>> model = build_transformer_lm(TransformerLMConfig.tiny())
>>> model.output_shape, model.output.dtype
((None, None, 40), 'float32')
"""

from __future__ import annotations

import dataclasses
import math

import keras
from keras_hub.layers import PositionEmbedding
from keras_hub.layers import ReversibleEmbedding
from keras_hub.layers import TransformerDecoder

from keras_lm.config import Config
from keras_lm.errors import ConfigError
from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS

INIT_STDDEV = 0.02  # GPT-2 / torch_ref
RESIDUAL_KERNELS = ("attention_output/kernel", "feedforward_output_dense/kernel")


@dataclasses.dataclass(frozen=True)
class TransformerLMConfig(Config):
    """Args:
    vocab_size: int. Token ids are in `[0, vocab_size)`.
    context: int. Maximum sequence length (rows of the position embedding).
    num_layers / num_heads / hidden_dim: int. Depth, heads, width (`hidden_dim % num_heads == 0`).
    intermediate_dim: int | None. MLP hidden width; None means `4 * hidden_dim`.
    dropout: float. After embeddings, on attention weights, after each residual branch.
    tie_embeddings: bool. Logits from the token embedding's transpose (else a separate matrix).
    layer_norm_epsilon: float. As torch's LayerNorm default.
    """

    vocab_size: int = 65
    context: int = 256
    num_layers: int = 4
    num_heads: int = 4
    hidden_dim: int = 128
    intermediate_dim: int | None = None  # None: 4 * hidden_dim, as GPT-2
    dropout: float = 0.0
    tie_embeddings: bool = True
    layer_norm_epsilon: float = 1e-5

    def __post_init__(self):
        check_heads(self.hidden_dim, self.num_heads)

    @property
    def mlp_dim(self) -> int:
        return self.intermediate_dim or 4 * self.hidden_dim

    @classmethod
    def tiny(cls) -> TransformerLMConfig:
        """2 layers, 16 wide, vocabulary 40, context 16: for tests and examples."""
        return cls(vocab_size=40, context=16, num_layers=2, num_heads=2, hidden_dim=16)

    @classmethod
    def baby(cls) -> TransformerLMConfig:
        """torch_ref's `baby`: 4 layers, 4 heads, 128 wide, context 64, char vocabulary 65."""
        return cls(vocab_size=65, context=64, num_layers=4, num_heads=4, hidden_dim=128)

    @classmethod
    def small(cls) -> TransformerLMConfig:
        """torch_ref's `small`: 6 layers, 6 heads, 192 wide, context 128, dropout 0.1."""
        return cls(
            vocab_size=65, context=128, num_layers=6, num_heads=6, hidden_dim=192, dropout=0.1
        )


def build_transformer_lm(config: TransformerLMConfig) -> keras.Model:
    """A functional GPT: `{token_ids, padding_mask}` (int32 `(B, T)`, T <= context) -> `logits`.

    Logits are float32 under any dtype policy. Padded positions (mask 0) are never
    attended to; their own logits are meaningless.

    Example:
    >>> from keras_lm.models import TransformerLMConfig, build_transformer_lm
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
        TransformerDecoder(
            intermediate_dim=config.mlp_dim,
            num_heads=config.num_heads,
            dropout=config.dropout,
            activation="gelu",
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
    _scale_residual_init(model, config.num_layers)
    return model


def _scale_residual_init(model: keras.Model, num_layers: int) -> None:
    """Re-draw each block's attention-output and MLP-output kernels from normal(0.02 / sqrt(2L)).

    GPT-2's scaled init of the projections that write into the residual stream
    (torch_ref does the same); keras_hub's TransformerDecoder takes one initializer.
    """
    stddev = INIT_STDDEV / math.sqrt(2 * num_layers)
    for variable in model.weights:
        if variable.path.endswith(RESIDUAL_KERNELS):
            value = keras.random.normal(variable.shape, stddev=stddev, dtype=variable.dtype)
            variable.assign(value)


def check_heads(hidden_dim: int, num_heads: int) -> None:
    """Raise `ConfigError` unless `hidden_dim` splits evenly into `num_heads` heads.

    Example:
    >>> from keras_lm.models.transformer_lm import check_heads
    >>> check_heads(16, 2)
    >>> check_heads(16, 3)
    Traceback (most recent call last):
    ...
    keras_lm.errors.ConfigError: hidden_dim (16) must be a multiple of num_heads (3)
    """
    if num_heads < 1 or hidden_dim % num_heads:
        raise ConfigError(
            f"hidden_dim ({hidden_dim}) must be a multiple of num_heads ({num_heads})"
        )
