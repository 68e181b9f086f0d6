"""Config dataclasses: strict round trips and overrides."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from keras_lm.config import Config
from keras_lm.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Model(Config):
    num_layers: int = 2
    dropout: float = 0.1
    attention: Literal["dot", "additive"] = "dot"
    widths: tuple[int, ...] = (16, 32)
    name: str | None = None


@dataclasses.dataclass(frozen=True)
class Run(Config):
    model: Model = Model()
    seed: int = 0


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_round_trip_through_files(tmp_path, suffix):
    run = Run(model=Model(num_layers=4, widths=(8,), name="x"), seed=3)
    path = run.save(tmp_path / f"run{suffix}")
    assert Run.load(path) == run


def test_overrides_are_type_checked():
    run = Run().with_overrides(
        ["model.num_layers=4", "model.dropout=0", "model.attention=additive"]
    )
    assert run.model == Model(num_layers=4, dropout=0.0, attention="additive")
    with pytest.raises(ConfigError, match="model.num_layers: expected int, got str 'four'"):
        Run().with_overrides(["model.num_layers=four"])
    with pytest.raises(
        ConfigError, match=r"model.attention: expected one of \['dot', 'additive'\]"
    ):
        Run().with_overrides(["model.attention=luong"])
    with pytest.raises(ConfigError, match="model.num_layers: expected int, got True"):
        Run().with_overrides(["model.num_layers=true"])


def test_exponent_floats_read_as_floats_in_overrides_and_files(tmp_path):
    # PyYAML alone reads `1e-8` as the string '1e-8' (YAML 1.1), which a float field rejects.
    assert Run().with_overrides(["model.dropout=1e-8"]).model.dropout == 1e-8
    path = tmp_path / "run.yaml"
    path.write_text("model: {dropout: 5E-2, name: 1e3x}\n")
    assert Run.load(path).model == Model(dropout=0.05, name="1e3x")
    with pytest.raises(ConfigError, match="model.num_layers: expected int, got float 1000.0"):
        Run().with_overrides(["model.num_layers=1e3"])


def test_a_mapping_of_python_values_is_checked_like_strings():
    run = Run().with_overrides({"model.widths": [4, 8], "seed": 7, "model.name": None})
    assert run == Run(model=Model(widths=(4, 8)), seed=7)
    with pytest.raises(ConfigError, match="model.num_layers: expected int, got str '4'"):
        Run().with_overrides({"model.num_layers": "4"})  # Python values are not YAML-parsed
    with pytest.raises(ConfigError, match="Unknown config key: model.depth"):
        Run().with_overrides({"model.depth": 3})


def test_unknown_keys_are_named():
    with pytest.raises(ConfigError, match="Unknown config key: model.depth"):
        Run().with_overrides(["model.depth=3"])
    with pytest.raises(ConfigError, match="Unknown config key: model.num_layer "):
        Run.from_dict({"model": {"num_layer": 3}})
    with pytest.raises(ConfigError, match="not of the form key=value"):
        Run().with_overrides(["seed"])


def test_bad_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: {num_layers: [1, 2}\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        Run.load(path)
    path.write_text("seed: 1\nlearning_rate: 3\n")
    with pytest.raises(ConfigError, match="bad.yaml: Unknown config key: learning_rate"):
        Run.load(path)
