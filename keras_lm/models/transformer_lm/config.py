"""`TransformerLMConfig`: the transformer_lm family's hyperparameters, JSON/YAML round trip (TensorFlow-free).

Example:
>>> from keras_lm.models.transformer_lm.config import TransformerLMConfig
>>> TransformerLMConfig.from_dict(TransformerLMConfig.tiny().to_dict()) == TransformerLMConfig.tiny()
True
"""

from __future__ import annotations

import dataclasses

from keras_lm.config import FRACTION
from keras_lm.config import Config
from keras_lm.config import above
from keras_lm.models.checks import check_activation
from keras_lm.models.checks import check_heads
from keras_lm.models.checks import sizes


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
    activation: "gelu" (exact, erf) or "gelu_approximate" (tanh; GPT-2's, for imported
        keras-hub GPT-2 presets).
    """

    RANGES = {
        **sizes(
            "vocab_size", "context", "num_layers", "num_heads", "hidden_dim", "intermediate_dim"
        ),
        "dropout": FRACTION,
        "layer_norm_epsilon": above(0),
    }

    vocab_size: int = 65
    context: int = 256
    num_layers: int = 4
    num_heads: int = 4
    hidden_dim: int = 128
    intermediate_dim: int | None = None  # None: 4 * hidden_dim, as GPT-2
    dropout: float = 0.0
    tie_embeddings: bool = True
    layer_norm_epsilon: float = 1e-5
    activation: str = "gelu"

    def __post_init__(self):
        super().__post_init__()
        check_heads(self.hidden_dim, self.num_heads)
        check_activation(self.activation)

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
