"""Config dataclasses: strict round trips and overrides."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import math
import sys
import typing
from pathlib import Path
from typing import Literal

import pytest

import keras_lm
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


def test_a_file_that_is_not_text_names_the_file(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"seed: 1\n\xff\xfe")
    with pytest.raises(ConfigError, match=r"binary.yaml: not a text file \(byte 8"):
        Run.load(path)


def _modules_defining_configs() -> list[str]:
    """Every keras_lm module whose source says `class X(Config)`, read from the files.

    Read from the source, not from `Config.__subclasses__()`, so the answer does not depend on
    which modules the tests before this one happened to import.
    """
    root = Path(keras_lm.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id == "Config" for b in node.bases
            ):
                parts = path.relative_to(root.parent).with_suffix("").parts
                found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(found)


CONFIG_MODULES = _modules_defining_configs()


def test_the_config_modules_are_found_in_every_layer():
    assert {"keras_lm.training.config", "keras_lm.serving.config", "keras_lm.demo"} <= set(
        CONFIG_MODULES
    )


def _config_classes() -> list[type]:
    found, todo = [], list(Config.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        module = sys.modules.get(cls.__module__)
        if cls.__module__.startswith("keras_lm.") and getattr(module, cls.__name__, None) is cls:
            found.append(cls)  # not the classes that doctests and tests define
    return sorted(found, key=lambda c: c.__name__)


def _out_of_range(hint) -> object | None:
    """A value no numeric field allows (-1e9 for an int, NaN for a float), shaped as `hint`."""
    args, origin = typing.get_args(hint), typing.get_origin(hint)
    if origin is tuple:
        return (_out_of_range(args[0]),) if args[0] in (int, float) else None
    if origin is dict:
        return {"x": _out_of_range(args[1])} if args[1] in (int, float) else None
    if hint is int or (int in args and float not in args):
        return -(10**9)
    if hint is float or float in args:
        return math.nan
    return None


def test_every_numeric_field_of_every_config_refuses_an_out_of_range_value_by_name():
    for module in CONFIG_MODULES:
        importlib.import_module(module)
    classes = _config_classes()
    assert {c.__module__ for c in classes} == set(CONFIG_MODULES), "a config module is not listed"
    checked = 0
    for cls in classes:
        for name, hint in typing.get_type_hints(cls).items():
            bad = _out_of_range(hint) if name != "RANGES" and hint is not bool else None
            if bad is None:
                continue
            with pytest.raises(ConfigError, match=rf"^{name}\b") as err:
                dataclasses.replace(cls(), **{name: bad})
            assert "got" in str(err.value) and "\n" not in str(err.value), (cls, name)
            checked += 1
    assert checked > 100


def test_a_range_error_names_the_field_by_its_path_and_says_what_it_expected():
    from keras_lm.training.presets import load_config

    with pytest.raises(ConfigError) as err:
        load_config("tiny-transformer-lm", ["model.num_layers=-1"])
    assert str(err.value) == "model.num_layers: expected an integer >= 1, got -1"
    with pytest.raises(ConfigError) as err:
        load_config("tiny-transformer-lm", ["data.cleaning={min_chars: -1}"])
    assert str(err.value) == "data.cleaning.min_chars: expected an integer >= 0, got -1"
    with pytest.raises(ConfigError, match=r"^optimizer.beta_2: expected a number >= 0 and < 1"):
        load_config("tiny-transformer-lm", ["optimizer.beta_2=1"])
    with pytest.raises(ConfigError, match=r"^loop.seed: expected an integer >= 0, got -1$"):
        load_config("tiny-transformer-lm", {"loop.seed": -1})
