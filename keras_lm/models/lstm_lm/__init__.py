"""`lstm_lm`: A stacked-LSTM language model.

The folder: `config.py` (hyperparameters), `model.py` (the Keras builder),
`graphs.py` (what a bundle holds), README.md (inputs and outputs of each graph).
"""

from __future__ import annotations

from keras_lm.inference.steppers import RecurrentLMStepper
from keras_lm.models.family import Family
from keras_lm.models.lstm_lm.config import LSTMLMConfig

FAMILY = Family(
    name="lstm_lm",
    task="lm",
    config=LSTMLMConfig,
    package="keras_lm.models.lstm_lm",
    stepper=RecurrentLMStepper,
)

__all__ = ["FAMILY", "LSTMLMConfig"]
