"""`LSTMSeq2SeqConfig`: the lstm_seq2seq family's hyperparameters, JSON/YAML round trip (TensorFlow-free).

Example:
>>> from keras_lm.models.lstm_seq2seq.config import LSTMSeq2SeqConfig
>>> LSTMSeq2SeqConfig.from_dict(LSTMSeq2SeqConfig.tiny().to_dict()) == LSTMSeq2SeqConfig.tiny()
True
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from keras_lm.config import FRACTION
from keras_lm.config import Config
from keras_lm.errors import ConfigError
from keras_lm.models.checks import sizes


@dataclasses.dataclass(frozen=True)
class LSTMSeq2SeqConfig(Config):
    """Args:
    vocab_size: int. Source vocabulary (and target vocabulary when `target_vocab_size` is None).
    target_vocab_size: int | None. A separate target vocabulary; None shares `vocab_size`.
    share_embeddings: bool. One token embedding for source and target (needs one vocabulary).
    embedding_dim: int. Token embedding width.
    encoder_units: int. Units per direction of each encoder LSTM.
    decoder_units: int. Units of each decoder LSTM (and of the attention projection).
    num_layers: int. LSTM layers on each side.
    bidirectional: bool. Bidirectional encoder; its states are concatenated (2 x encoder_units).
    attention: str. "dot" (Luong; encoder output width must equal decoder_units),
        "general" (Luong) or "additive" (Bahdanau).
    attention_units: int | None. Hidden width of the additive score (None: decoder_units).
    dropout: float. After embeddings, after each LSTM and after the attention projection.
    """

    RANGES = {
        **sizes("vocab_size", "target_vocab_size", "embedding_dim", "encoder_units"),
        **sizes("decoder_units", "num_layers", "attention_units"),
        "dropout": FRACTION,
    }

    vocab_size: int = 8000
    target_vocab_size: int | None = None
    share_embeddings: bool = False
    embedding_dim: int = 128
    encoder_units: int = 128
    decoder_units: int = 256
    num_layers: int = 1
    bidirectional: bool = True
    attention: Literal["dot", "general", "additive"] = "general"
    attention_units: int | None = None
    dropout: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        if self.share_embeddings and self.target_vocab_size not in (None, self.vocab_size):
            raise ConfigError(
                "share_embeddings needs target_vocab_size None or equal to vocab_size"
            )
        if self.attention == "dot" and self.encoder_output_dim != self.decoder_units:
            raise ConfigError(
                f"dot attention needs encoder outputs ({self.encoder_output_dim} wide) as wide as "
                f"decoder_units ({self.decoder_units}); use attention='general' or change the sizes"
            )

    @property
    def encoder_output_dim(self) -> int:
        return self.encoder_units * (2 if self.bidirectional else 1)

    @property
    def target_vocab(self) -> int:
        return self.target_vocab_size or self.vocab_size

    @classmethod
    def tiny(cls) -> LSTMSeq2SeqConfig:
        """2 layers, 16 wide (8 per direction), vocabulary 40: for tests and examples."""
        return cls(
            vocab_size=40,
            embedding_dim=16,
            encoder_units=8,
            decoder_units=16,
            num_layers=2,
            dropout=0.0,
        )
