"""`lstm_seq2seq`: An LSTM encoder-decoder with attention (the baseline).

The folder: `config.py` (hyperparameters), `model.py` (the Keras builder),
`graphs.py` (what a bundle holds), README.md (inputs and outputs of each graph).
"""

from __future__ import annotations

from keras_lm.inference.steppers import RecurrentSeq2SeqStepper
from keras_lm.models.family import Family
from keras_lm.models.lstm_seq2seq.config import LSTMSeq2SeqConfig

FAMILY = Family(
    name="lstm_seq2seq",
    task="seq2seq",
    config=LSTMSeq2SeqConfig,
    package="keras_lm.models.lstm_seq2seq",
    stepper=RecurrentSeq2SeqStepper,
    static_encoder_batch=True,
)

__all__ = ["FAMILY", "LSTMSeq2SeqConfig"]
