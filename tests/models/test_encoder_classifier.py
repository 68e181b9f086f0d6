"""encoder_classifier: the shared harness for mean and first-token pooling, pre- and post-LN."""

from __future__ import annotations

import dataclasses

import pytest

from keras_lm.models import EncoderClassifierConfig
from tests.models import harness

TINY = EncoderClassifierConfig.tiny()
CASE = harness.Case("encoder_classifier", TINY)
VARIANTS = {
    "mean_post_ln": TINY,
    "first_pre_ln": dataclasses.replace(TINY, pooling="first", normalize_first=True),
}


def test_config_round_trip():
    harness.check_config_round_trip(CASE)


def test_variable_length():
    harness.check_variable_length(CASE)


def test_fit_memorises():
    harness.check_fit_memorises(CASE)


def test_save_load(tmp_path):
    harness.check_save_load(CASE, tmp_path)


@pytest.mark.parametrize("name", VARIANTS)
def test_padding_invariance(name):
    harness.check_padding_invariance(harness.Case(CASE.family, VARIANTS[name]))


def test_mixed_precision_logits():
    harness.check_mixed_precision_logits(CASE)
