"""Checks that several families' configs share (TensorFlow-free)."""

from __future__ import annotations

from keras_lm.config import Range
from keras_lm.config import at_least
from keras_lm.errors import ConfigError

ACTIVATION_NAMES = ("gelu", "gelu_approximate")  # keras_lm.layers.activations.ACTIVATIONS


def sizes(*names: str) -> dict[str, Range]:
    """`{name: at_least(1)}` for each name: the widths, depths, counts and lengths of a model.

    >>> sizes("num_layers")["num_layers"].describe(integer=True)
    'an integer >= 1'
    """
    return dict.fromkeys(names, at_least(1))


def check_heads(hidden_dim: int, num_heads: int) -> None:
    """Raise `ConfigError` unless `hidden_dim` splits evenly into `num_heads` heads.

    Example:
    >>> from keras_lm.models.checks import check_heads
    >>> check_heads(16, 2)
    >>> check_heads(16, 3)
    Traceback (most recent call last):
    ...
    keras_lm.errors.ConfigError: hidden_dim (16) must be a multiple of num_heads (3)
    """
    if num_heads < 1 or hidden_dim % num_heads:
        raise ConfigError(
            f"hidden_dim ({hidden_dim}) must be a multiple of num_heads ({num_heads})"
        )


def check_activation(name: str) -> None:
    """Raise `ConfigError` unless `name` is a feed-forward activation a run config may name.

    Example:
    >>> check_activation("gelu_approximate")
    >>> check_activation("relu")
    Traceback (most recent call last):
    ...
    keras_lm.errors.ConfigError: model.activation: expected one of ['gelu', 'gelu_approximate'], got 'relu'
    """
    if name not in ACTIVATION_NAMES:
        raise ConfigError(
            f"model.activation: expected one of {list(ACTIVATION_NAMES)}, got {name!r}"
        )
