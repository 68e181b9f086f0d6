"""The configs shipped in the package (`keras_lm/configs/*.yaml`), by name.

Example:
>>> "shakespeare-baby" in shipped_names()
True
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from keras_lm.errors import ConfigError
from keras_lm.training.config import TrainConfig


def shipped_names() -> list[str]:
    folder = resources.files("keras_lm") / "configs"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def load_config(
    name_or_path: str, overrides: list[str] | tuple[str, ...] | Mapping[str, Any] = ()
) -> TrainConfig:
    """A shipped config by name, or a YAML/JSON file, with overrides applied.

    `overrides` are `key=value` strings (as `--set`) or a mapping of keys to Python values:

    >>> load_config("tiny-transformer-lm", {"model.num_layers": 1, "loop.jit_compile": True}).loop.jit_compile
    True
    """
    path = Path(name_or_path)
    if not path.is_file():
        if name_or_path not in shipped_names():
            raise ConfigError(
                f"{name_or_path}: neither a config file nor a shipped config ({', '.join(shipped_names())})"
            )
        path = Path(str(resources.files("keras_lm") / "configs" / f"{name_or_path}.yaml"))
    return TrainConfig.load(path).with_overrides(overrides)
