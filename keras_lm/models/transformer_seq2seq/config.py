"""`TransformerSeq2SeqConfig`: the transformer_seq2seq family's hyperparameters, JSON/YAML round trip (TensorFlow-free).

Example:
>>> from keras_lm.models.transformer_seq2seq.config import TransformerSeq2SeqConfig
>>> TransformerSeq2SeqConfig.from_dict(TransformerSeq2SeqConfig.tiny().to_dict()) == TransformerSeq2SeqConfig.tiny()
True
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from keras_lm.config import FRACTION
from keras_lm.config import Config
from keras_lm.config import above
from keras_lm.errors import ConfigError
from keras_lm.models.checks import check_heads
from keras_lm.models.checks import sizes


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

    RANGES = {
        **sizes("vocab_size", "target_vocab_size", "max_source_length", "max_target_length"),
        **sizes("num_encoder_layers", "num_decoder_layers", "num_heads", "hidden_dim"),
        **sizes("intermediate_dim"),
        "dropout": FRACTION,
        "layer_norm_epsilon": above(0),
    }

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
        super().__post_init__()
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
