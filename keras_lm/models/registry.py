"""Model families by name: the `Family` record of each family folder, registered once here.

The CLI, the trainer, the exporters and the runtime name a family ("transformer_lm",
...) only as data (a run config, a manifest) and look it up here. TensorFlow-free.

Example:
>>> from keras_lm.models.registry import config_from_dict, get_family
>>> config_from_dict("lstm_lm", {"vocab_size": 40, "hidden_dim": 16}).hidden_dim
16
>>> build_model("transformer_lm", get_family("transformer_lm").config.tiny().to_dict()).name
'transformer_lm'
>>> config_from_dict("gpt5", {})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
keras_lm.errors.ConfigError: Unknown model family: gpt5 (known: transformer_lm, llama_lm, ...)
"""

from __future__ import annotations

from typing import Any

from keras_lm.config import Config
from keras_lm.errors import ConfigError
from keras_lm.models import encoder_classifier
from keras_lm.models import llama_lm
from keras_lm.models import lstm_lm
from keras_lm.models import lstm_seq2seq
from keras_lm.models import transformer_lm
from keras_lm.models import transformer_seq2seq
from keras_lm.models.family import Family

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        transformer_lm.FAMILY,
        llama_lm.FAMILY,
        lstm_lm.FAMILY,
        transformer_seq2seq.FAMILY,
        lstm_seq2seq.FAMILY,
        encoder_classifier.FAMILY,
    )
}


def get_family(name: str) -> Family:
    """The `Family` registered as `name`; `ConfigError` naming the known ones otherwise.

    Example:
    >>> from keras_lm.models.registry import get_family
    >>> get_family("lstm_seq2seq").task
    'seq2seq'
    """
    if name not in FAMILIES:
        raise ConfigError(f"Unknown model family: {name} (known: {', '.join(FAMILIES)})")
    return FAMILIES[name]


def family_of(model) -> Family:
    """The family of a keras_lm Keras model: its builder names the model after the family."""
    return get_family(model.name)


def config_from_dict(family: str, data: dict[str, Any]) -> Config:
    """The family's config from a plain dict (missing keys take their defaults).

    Example:
    >>> from keras_lm.models.registry import config_from_dict
    >>> config_from_dict("encoder_classifier", {"num_classes": 5}).num_classes
    5
    """
    return get_family(family).config.from_dict(data)


def build_model(family: str, config: dict[str, Any] | Config):
    """Build a fresh Keras model of `family` from a config dict (checked strictly) or object.

    Example:
    >>> from keras_lm.models.registry import build_model
    >>> model = build_model("lstm_lm", {"vocab_size": 40, "embedding_dim": 16, "hidden_dim": 16})
    >>> model.count_params()
    5544
    """
    return get_family(family).build(config)
