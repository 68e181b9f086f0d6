"""`encoder_classifier`: A Transformer encoder with a pooled classification head.

The folder: `config.py` (hyperparameters), `model.py` (the Keras builder),
`graphs.py` (what a bundle holds), README.md (inputs and outputs of each graph).
"""

from __future__ import annotations

from keras_lm.models.encoder_classifier.config import EncoderClassifierConfig
from keras_lm.models.family import Family

FAMILY = Family(
    name="encoder_classifier",
    task="classify",
    config=EncoderClassifierConfig,
    package="keras_lm.models.encoder_classifier",
)

__all__ = ["FAMILY", "EncoderClassifierConfig"]
