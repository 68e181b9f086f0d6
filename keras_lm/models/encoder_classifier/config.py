"""`EncoderClassifierConfig`: the encoder_classifier family's hyperparameters, JSON/YAML round trip (TensorFlow-free).

Example:
>>> from keras_lm.models.encoder_classifier.config import EncoderClassifierConfig
>>> EncoderClassifierConfig.from_dict(EncoderClassifierConfig.tiny().to_dict()) == EncoderClassifierConfig.tiny()
True
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from keras_lm.config import FRACTION
from keras_lm.config import Config
from keras_lm.config import above
from keras_lm.config import at_least
from keras_lm.errors import ConfigError
from keras_lm.models.checks import check_activation
from keras_lm.models.checks import check_heads
from keras_lm.models.checks import sizes


@dataclasses.dataclass(frozen=True)
class EncoderClassifierConfig(Config):
    """Args:
    vocab_size: int. Token ids are in `[0, vocab_size)`.
    num_classes: int. Width of the logits.
    max_length: int. Longest input (rows of the position embedding).
    num_layers / num_heads / hidden_dim: int. Sizes (`hidden_dim % num_heads == 0`).
    intermediate_dim: int | None. Feed-forward width; None means `4 * hidden_dim`.
    dropout: float. Embeddings, attention, residual branches and before the head.
    pooling: str. "mean" or "max" over non-padded tokens, or "first" (a [CLS]-style token at position 0).
    normalize_first: bool. Pre-LayerNorm blocks; False is BERT's post-LN.
    layer_norm_epsilon: float. BERT's is 1e-12.
    activation: "gelu" (exact, erf) or "gelu_approximate" (tanh; BERT's in keras-hub).
    pooler: bool. A `Dense(hidden_dim, tanh)` named `pooled_dense` after pooling, as BERT's
        pooler over its first token.
    frame_specials: bool. Inputs are `[start] ids [end]` (BERT's `[CLS] ... [SEP]`), framed
        by `keras_lm.framing.Framing` in training, evaluation, inference and export alike.
    encoder: "transformer" (the stack above), or "cnn": Kim's (2014) sentence CNN, token
        embeddings of `hidden_dim` (no positions) through one `Conv1D` per kernel size,
        ReLU, each pooled over real tokens (`pooling` "max" or "mean"), concatenated.
        Layers, heads and the norms do not apply to it.
    kernel_sizes: tuple of int. The CNN's window widths.
    filters: int. The CNN's feature maps per window width.
    """

    RANGES = {
        **sizes("vocab_size", "max_length", "num_layers", "num_heads", "hidden_dim"),
        **sizes("intermediate_dim"),
        "num_classes": at_least(2),
        "dropout": FRACTION,
        "layer_norm_epsilon": above(0),
        "kernel_sizes": at_least(1),
        "filters": at_least(1),
    }

    vocab_size: int = 8000
    num_classes: int = 2
    max_length: int = 128
    num_layers: int = 2
    num_heads: int = 4
    hidden_dim: int = 128
    intermediate_dim: int | None = None  # None: 4 * hidden_dim
    dropout: float = 0.1
    pooling: Literal["mean", "max", "first"] = "mean"
    normalize_first: bool = False
    layer_norm_epsilon: float = 1e-5
    activation: str = "gelu"
    pooler: bool = False
    frame_specials: bool = False
    encoder: Literal["transformer", "cnn"] = "transformer"
    kernel_sizes: tuple[int, ...] = (3, 4, 5)
    filters: int = 100

    def __post_init__(self):
        super().__post_init__()
        check_heads(self.hidden_dim, self.num_heads)
        check_activation(self.activation)
        if self.encoder == "cnn" and self.pooling == "first":
            raise ConfigError(
                "model.pooling: a cnn encoder pools with 'max' or 'mean', not 'first'"
            )
        if not self.kernel_sizes:
            raise ConfigError("model.kernel_sizes: expected at least one window width, got ()")

    @classmethod
    def tiny(cls) -> EncoderClassifierConfig:
        """2 layers, 16 wide, vocabulary 40, 3 classes, length 16: for tests and examples."""
        return cls(
            vocab_size=40,
            num_classes=3,
            max_length=16,
            num_layers=2,
            num_heads=2,
            hidden_dim=16,
            dropout=0.0,
        )
