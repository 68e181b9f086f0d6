"""The training benchmark's variants: a backend entry picks the worker's Keras backend."""

from __future__ import annotations

import pytest

from benchmarks.train_speed import _env
from benchmarks.train_speed import split_backend
from keras_lm.errors import ConfigError


def test_backend_entry_is_taken_out_of_the_config_overrides():
    backend, rest = split_backend(["loop.jit_compile=true", "backend=jax"])
    assert backend == "jax" and rest == ["loop.jit_compile=true"]
    assert _env(backend)["KERAS_BACKEND"] == "jax"
    assert split_backend(["loop.jit_compile=true"]) == (None, ["loop.jit_compile=true"])
    assert _env(None) is None  # the worker inherits this process's environment


def test_unknown_backend_is_named():
    with pytest.raises(ConfigError, match="backend: expected one of"):
        split_backend(["backend=torchscript"])
