"""Write the export graphs as a SavedModel with one tensor signature per graph.

The SavedModel is the source both converters read (TFLite's `from_saved_model`
and tf2onnx), so every format holds the same graphs under the same names.
Keras 3 models are not traced through `from_keras_model` (it breaks on Keras 3);
the graphs are explicit `tf.function`s with input signatures.

Example:
>>> from keras_lm.models import TransformerLMConfig
>>> from keras_lm.models.transformer_lm.model import build_transformer_lm
>>> from keras_lm.export.signatures import export_graphs
>>> import tempfile, tensorflow as tf
>>> model = build_transformer_lm(TransformerLMConfig.tiny())
>>> with tempfile.TemporaryDirectory() as d:
...     path = write_savedmodel(model, export_graphs(model), d + "/sm")
...     sorted(tf.saved_model.load(str(path)).signatures)
['decode', 'prefill']
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf


def write_savedmodel(
    model, graphs: dict, path: str | Path, extra: dict | None = None, tokenizer=None
) -> Path:
    """Save `model`'s `graphs` (name -> `tf.function` with an input signature) as signatures.

    `extra` are more `tf.function`s saved as signatures too (e.g. string-in/string-out ones),
    and `tokenizer` the graph tokenizer (`tf.Module`) they use.
    The caller writes into a temporary directory and renames (see `keras_lm.export.bundle`).
    """
    module = tf.Module()
    # The graphs capture the Keras variables; the module must track them to save them.
    module.weights = [getattr(v, "value", v) for v in model.weights]
    if tokenizer is not None:
        module.tokenizer = tokenizer
    functions = {**graphs, **(extra or {})}
    for name, fn in functions.items():
        setattr(module, name, fn)
    signatures = {name: fn.get_concrete_function() for name, fn in functions.items()}
    tf.saved_model.save(module, str(path), signatures=signatures)
    return Path(path)
