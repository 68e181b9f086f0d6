"""The shared harness on every registered family, at its `tiny()` config: a new family gets every
check by registering itself. Each `test_<family>.py` keeps only what is special to that family."""

from __future__ import annotations

import pytest

from keras_lm.models import FAMILIES
from tests.models import harness

CASES = {name: harness.Case(name, family.config.tiny()) for name, family in FAMILIES.items()}
GENERATIVE = [name for name, family in FAMILIES.items() if family.task != "classify"]


@pytest.mark.parametrize("family", CASES)
def test_config_round_trip(family):
    harness.check_config_round_trip(CASES[family])


@pytest.mark.parametrize("family", CASES)
def test_variable_length(family):
    harness.check_variable_length(CASES[family])


@pytest.mark.slow
@pytest.mark.parametrize("family", CASES)
def test_fit_memorises(family):
    harness.check_fit_memorises(CASES[family])


@pytest.mark.parametrize("family", CASES)
def test_save_load(family, tmp_path):
    harness.check_save_load(CASES[family], tmp_path)


@pytest.mark.parametrize("family", CASES)
def test_padding_invariance(family):
    harness.check_padding_invariance(CASES[family])


@pytest.mark.parametrize("family", GENERATIVE)
def test_causal(family):
    harness.check_causal(CASES[family])


@pytest.mark.parametrize("family", CASES)
def test_mixed_precision_logits(family):
    harness.check_mixed_precision_logits(CASES[family])


@pytest.mark.parametrize("family", CASES)
def test_graphs_and_stepper(family):
    harness.check_graphs_and_stepper(CASES[family])


def test_every_family_has_a_readme_and_the_folder_layout():
    from pathlib import Path

    import keras_lm.models

    root = Path(keras_lm.models.__file__).parent
    for name, family in FAMILIES.items():
        folder = root / name
        assert family.package == f"keras_lm.models.{name}"
        missing = [
            f
            for f in ("__init__.py", "config.py", "model.py", "graphs.py", "README.md")
            if not (folder / f).is_file()
        ]
        assert not missing, (name, missing)
