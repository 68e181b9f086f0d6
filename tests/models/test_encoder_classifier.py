"""encoder_classifier beyond the shared harness (test_every_family.py): first-token and max pooling, pre-LN,
and BERT's options (tanh GELU, the pooler, epsilon 1e-12) that an imported BERT uses."""

from __future__ import annotations

import dataclasses

import pytest

from keras_lm.models import EncoderClassifierConfig
from tests.models import harness

TINY = EncoderClassifierConfig.tiny()
CASE = harness.Case("encoder_classifier", TINY)
VARIANTS = {
    "first_pre_ln": dataclasses.replace(TINY, pooling="first", normalize_first=True),
    "max": dataclasses.replace(TINY, pooling="max"),
    "cnn": dataclasses.replace(TINY, encoder="cnn", pooling="max", kernel_sizes=(2, 3), filters=8),
    "bert": dataclasses.replace(
        TINY,
        pooling="first",
        activation="gelu_approximate",
        pooler=True,
        layer_norm_epsilon=1e-12,
        frame_specials=True,
    ),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_padding_invariance(name):
    harness.check_padding_invariance(harness.Case(CASE.family, VARIANTS[name]))


def test_berts_options_save_load_and_export_graphs(tmp_path):
    case = harness.Case(CASE.family, VARIANTS["bert"])
    harness.check_config_round_trip(case)
    harness.check_save_load(case, tmp_path)
    harness.check_graphs_and_stepper(case)


def test_an_unknown_activation_is_refused():
    from keras_lm.errors import ConfigError

    with pytest.raises(ConfigError, match="model.activation"):
        dataclasses.replace(TINY, activation="relu")


def test_max_pooling_graphs_match_the_model():
    harness.check_graphs_and_stepper(harness.Case(CASE.family, VARIANTS["max"]))


def test_the_cnn_encoder_saves_loads_and_exports_its_graph(tmp_path):
    case = harness.Case(CASE.family, VARIANTS["cnn"])
    harness.check_config_round_trip(case)
    harness.check_save_load(case, tmp_path)
    harness.check_graphs_and_stepper(case)


def test_a_cnn_does_not_pool_the_first_token():
    from keras_lm.errors import ConfigError

    with pytest.raises(ConfigError, match="model.pooling"):
        dataclasses.replace(TINY, encoder="cnn", pooling="first")
