"""Turn a model holding keras_hub `TransformerDecoder`s into one holding our `TransformerDecoderBlock`s.

Checkpoints written before keras_lm owned its decoder block are functional models
whose decoder layers are keras_hub's. `replace_keras_hub_decoders` clones such a
model layer for layer (`keras.models.clone_model`), building each keras_hub
decoder again as a `TransformerDecoderBlock` from its public config, and copies
every layer's weights across: same layer names, same weights, same outputs. Only
keras_hub's public `get_config()` and `get_weights()` are read.

Example:
>>> import numpy as np
>>> import keras
>>> import keras_hub
>>> from keras_lm.layers.conversion import replace_keras_hub_decoders
>>> x = keras.Input((None, 16))
>>> hub = keras_hub.layers.TransformerDecoder(32, num_heads=2, name="decoder_0")
>>> model = keras.Model(x, hub(x))
>>> converted = replace_keras_hub_decoders(model)
>>> type(converted.get_layer("decoder_0")).__name__
'TransformerDecoderBlock'
>>> y = np.ones((1, 3, 16), "float32")
>>> bool(np.allclose(model(y), converted(y), atol=1e-6))
True
"""

from __future__ import annotations

import keras
from keras_hub.layers import TransformerDecoder

from keras_lm.layers.transformer_decoder import TransformerDecoderBlock

# keras_hub's build-on-load workaround; our block rebuilds through `build_config` instead.
_SHAPE_KEYS = ("decoder_sequence_shape", "encoder_sequence_shape")


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of `model`, looking inside nested models."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found += _all_layers(layer)
    return found


def has_keras_hub_decoders(model: keras.Model) -> bool:
    """Whether `model` (or a model nested in it) holds a keras_hub `TransformerDecoder`.

    Example:
    >>> import keras
    >>> from keras_lm.layers.conversion import has_keras_hub_decoders
    >>> x = keras.Input((4,))
    >>> has_keras_hub_decoders(keras.Model(x, keras.layers.Dense(2)(x)))
    False
    """
    return any(isinstance(layer, TransformerDecoder) for layer in _all_layers(model))


def block_from_keras_hub(decoder: TransformerDecoder) -> TransformerDecoderBlock:
    """An unbuilt `TransformerDecoderBlock` with `decoder`'s public config (name, sizes, dtype, ...)."""
    config = {k: v for k, v in decoder.get_config().items() if k not in _SHAPE_KEYS}
    return TransformerDecoderBlock.from_config(config)


def _clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    if isinstance(layer, TransformerDecoder):
        return block_from_keras_hub(layer)
    return layer.__class__.from_config(layer.get_config())


def _copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Layer by layer (matched by name), so a decoder's weights land in the block that replaced it."""
    for old in source.layers:
        if not old.weights:
            continue  # inputs (renamed by the clone when unnamed), Add, Dropout, ...
        new = target.get_layer(old.name)
        if isinstance(old, keras.Model):
            _copy_weights(old, new)
        else:
            new.set_weights(old.get_weights())


def replace_keras_hub_decoders(model: keras.Model) -> keras.Model:
    """`model` with every keras_hub `TransformerDecoder` replaced by an equivalent `TransformerDecoderBlock`.

    Args:
        model: keras.Model. A functional model (nested functional models are converted too).

    Returns:
        A new, uncompiled functional model with the same layer names, inputs, outputs and
        weights; `model` itself when it holds no keras_hub decoder.
    """
    if not has_keras_hub_decoders(model):
        return model
    converted = keras.models.clone_model(model, clone_function=_clone_layer, recursive=True)
    _copy_weights(model, converted)
    return converted
