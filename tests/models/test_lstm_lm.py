"""lstm_lm: the shared harness, plus no cuDNN-only LSTM in the graph."""

from __future__ import annotations

import keras

from keras_lm.models import LSTMLMConfig
from keras_lm.models.lstm_lm.model import build_lstm_lm
from tests.models import harness

CASE = harness.Case("lstm_lm", LSTMLMConfig.tiny())


def test_config_round_trip():
    harness.check_config_round_trip(CASE)


def test_variable_length():
    harness.check_variable_length(CASE)


def test_fit_memorises():
    harness.check_fit_memorises(CASE)


def test_save_load(tmp_path):
    harness.check_save_load(CASE, tmp_path)


def test_padding_invariance():
    harness.check_padding_invariance(CASE)


def test_causal():
    harness.check_causal(CASE)


def test_mixed_precision_logits():
    harness.check_mixed_precision_logits(CASE)


def test_lstms_never_use_cudnn():
    lstms = [
        layer for layer in build_lstm_lm(CASE.config).layers if isinstance(layer, keras.layers.LSTM)
    ]
    assert len(lstms) == CASE.config.num_layers
    assert all(layer.use_cudnn is False for layer in lstms)
