"""lstm_lm beyond the shared harness (test_every_family.py): no cuDNN-only LSTM in the graph."""

from __future__ import annotations

import keras

from keras_lm.models import LSTMLMConfig
from keras_lm.models.lstm_lm.model import build_lstm_lm
from tests.models import harness

CASE = harness.Case("lstm_lm", LSTMLMConfig.tiny())


def test_lstms_never_use_cudnn():
    lstms = [
        layer for layer in build_lstm_lm(CASE.config).layers if isinstance(layer, keras.layers.LSTM)
    ]
    assert len(lstms) == CASE.config.num_layers
    assert all(layer.use_cudnn is False for layer in lstms)
