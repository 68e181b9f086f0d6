"""Load a keras_lm checkpoint (`.keras`) safely, in today's layout whatever release wrote it.

`load_checkpoint` registers keras_lm's layers and losses, loads with `safe_mode=True`
(no arbitrary code), and turns a checkpoint written before keras_lm owned its
Transformer decoder blocks (keras_hub `TransformerDecoder` layers) into the same
model with `keras_lm.layers.TransformerDecoderBlock`s, weight for weight.

Example:
>>> import tempfile
>>> from keras_lm.models.registry import build_model
>>> model = build_model("lstm_lm", {"vocab_size": 40, "embedding_dim": 16, "hidden_dim": 16})
>>> path = tempfile.mkdtemp() + "/model.keras"
>>> model.save(path)
>>> load_checkpoint(path).count_params() == model.count_params()
True
"""

from __future__ import annotations

from pathlib import Path

import keras

import keras_lm.layers  # noqa: F401  (registers keras_lm's layers for deserialisation)
import keras_lm.models.losses  # noqa: F401  (registers the training loss)
from keras_lm.errors import InputError
from keras_lm.layers.conversion import replace_keras_hub_decoders


def load_checkpoint(path: str | Path) -> keras.Model:
    """The model in `path`; a corrupted or foreign file is an `InputError` naming it."""
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # zip, h5 and deserialisation errors all mean the same to a user
        raise InputError(
            path, f"checkpoint cannot be loaded ({type(err).__name__}: {err})"
        ) from err
    return replace_keras_hub_decoders(model)
