"""`LSTMLMConfig`: the lstm_lm family's hyperparameters, JSON/YAML round trip (TensorFlow-free).

Example:
>>> from keras_lm.models.lstm_lm.config import LSTMLMConfig
>>> LSTMLMConfig.from_dict(LSTMLMConfig.tiny().to_dict()) == LSTMLMConfig.tiny()
True
"""

from __future__ import annotations

import dataclasses

from keras_lm.config import FRACTION
from keras_lm.config import Config
from keras_lm.models.checks import sizes


@dataclasses.dataclass(frozen=True)
class LSTMLMConfig(Config):
    """Args:
    vocab_size: int. Token ids are in `[0, vocab_size)`.
    embedding_dim: int. Width of the token embedding.
    hidden_dim: int. Units of each LSTM.
    num_layers: int. Stacked LSTMs.
    dropout: float. After the embedding and after each LSTM.
    """

    RANGES = {
        **sizes("vocab_size", "embedding_dim", "hidden_dim", "num_layers"),
        "dropout": FRACTION,
    }

    vocab_size: int = 65
    embedding_dim: int = 128
    hidden_dim: int = 256
    num_layers: int = 2
    dropout: float = 0.0

    @classmethod
    def tiny(cls) -> LSTMLMConfig:
        """2 layers, 16 wide, vocabulary 40: for tests and examples."""
        return cls(vocab_size=40, embedding_dim=16, hidden_dim=16, num_layers=2)
