"""Model families by name: each is a config class and a `build(config) -> keras.Model`.

The CLI, the trainer and the exporters name a family ("transformer_lm", ...) and
pass a plain dict; this module checks it against the family's config (unknown
keys and wrong types fail by name) and builds the model.

Example:
>>> from keras_lm.models import TransformerLMConfig, build_model, config_from_dict
>>> config_from_dict("lstm_lm", {"vocab_size": 40, "hidden_dim": 16}).hidden_dim
16
>>> build_model("transformer_lm", TransformerLMConfig.tiny().to_dict()).name
'transformer_lm'
>>> config_from_dict("gpt5", {})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
keras_lm.errors.ConfigError: Unknown model family: gpt5 (known: transformer_lm, lstm_lm, ...)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import NamedTuple

import keras

from keras_lm.config import Config
from keras_lm.errors import ConfigError
from keras_lm.models.encoder_classifier import EncoderClassifierConfig
from keras_lm.models.encoder_classifier import build_encoder_classifier
from keras_lm.models.lstm_lm import LSTMLMConfig
from keras_lm.models.lstm_lm import build_lstm_lm
from keras_lm.models.lstm_seq2seq import LSTMSeq2SeqConfig
from keras_lm.models.lstm_seq2seq import build_lstm_seq2seq
from keras_lm.models.transformer_lm import TransformerLMConfig
from keras_lm.models.transformer_lm import build_transformer_lm
from keras_lm.models.transformer_seq2seq import TransformerSeq2SeqConfig
from keras_lm.models.transformer_seq2seq import build_transformer_seq2seq


class Family(NamedTuple):
    """A model family: config dataclass, builder, and task ("lm", "seq2seq" or "classify")."""

    config: type[Config]
    build: Callable[[Any], keras.Model]
    task: str


FAMILIES: dict[str, Family] = {
    "transformer_lm": Family(TransformerLMConfig, build_transformer_lm, "lm"),
    "lstm_lm": Family(LSTMLMConfig, build_lstm_lm, "lm"),
    "transformer_seq2seq": Family(TransformerSeq2SeqConfig, build_transformer_seq2seq, "seq2seq"),
    "lstm_seq2seq": Family(LSTMSeq2SeqConfig, build_lstm_seq2seq, "seq2seq"),
    "encoder_classifier": Family(EncoderClassifierConfig, build_encoder_classifier, "classify"),
}


def get_family(name: str) -> Family:
    """The `Family` registered as `name`; `ConfigError` naming the known ones otherwise.

    Example:
    >>> from keras_lm.models import get_family
    >>> get_family("lstm_seq2seq").task
    'seq2seq'
    """
    if name not in FAMILIES:
        raise ConfigError(f"Unknown model family: {name} (known: {', '.join(FAMILIES)})")
    return FAMILIES[name]


def config_from_dict(family: str, data: dict[str, Any]) -> Config:
    """The family's config from a plain dict (missing keys take their defaults).

    Example:
    >>> from keras_lm.models import config_from_dict
    >>> config_from_dict("encoder_classifier", {"num_classes": 5}).num_classes
    5
    """
    return get_family(family).config.from_dict(data)


def build_model(family: str, config: dict[str, Any] | Config) -> keras.Model:
    """Build a fresh model of `family` from a config dict (checked strictly) or config object.

    Example:
    >>> from keras_lm.models import build_model
    >>> model = build_model("lstm_lm", {"vocab_size": 40, "embedding_dim": 16, "hidden_dim": 16})
    >>> model.count_params()
    5544
    """
    entry = get_family(family)
    if not isinstance(config, entry.config):
        config = entry.config.from_dict(config if isinstance(config, dict) else config.to_dict())
    return entry.build(config)


def disable_cudnn(model: keras.Model) -> keras.Model:
    """Set `use_cudnn=False` on every LSTM of `model` (also inside `Bidirectional`); return it.

    Keras 3.15 does not serialize `use_cudnn`: a reloaded checkpoint's LSTMs are back to
    "auto", and tracing them on a GPU machine bakes `CudnnRNNV3` into the exported graphs,
    which no converter or CPU runtime can run. Export and in-process decoding call this.
    """
    for layer in model.layers:
        for lstm in (
            layer,
            getattr(layer, "forward_layer", None),
            getattr(layer, "backward_layer", None),
        ):
            if isinstance(lstm, keras.layers.LSTM):
                lstm.use_cudnn = False
    return model
