"""encoder_classifier beyond the shared harness (test_every_family.py): first-token pooling, pre-LN."""

from __future__ import annotations

import dataclasses

import pytest

from keras_lm.models import EncoderClassifierConfig
from tests.models import harness

TINY = EncoderClassifierConfig.tiny()
CASE = harness.Case("encoder_classifier", TINY)
VARIANTS = {
    "first_pre_ln": dataclasses.replace(TINY, pooling="first", normalize_first=True),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_padding_invariance(name):
    harness.check_padding_invariance(harness.Case(CASE.family, VARIANTS[name]))
