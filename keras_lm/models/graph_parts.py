"""Pieces the families' export graphs share: finding numbered layers, the cached block stack, LSTM cells.

A family's `graphs.py` builds its prefill/decode/encode/classify `tf.function`s from
a trained model's own layers; these helpers are what more than one family needs.

Example:
>>> import keras
>>> inputs = keras.Input((3,))
>>> x = keras.layers.Dense(2, name="dense_1")(keras.layers.Dense(2, name="dense_0")(inputs))
>>> [layer.name for layer in numbered_layers(keras.Model(inputs, x), "dense_")]
['dense_0', 'dense_1']
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_lm.layers.kv_cache import slot_writes
from keras_lm.layers.kv_cache import visible_slots


def spec(shape, name: str, dtype=tf.int32) -> tf.TensorSpec:
    """A named input of an export graph (int32 unless `dtype` says otherwise)."""
    return tf.TensorSpec(shape, dtype, name=name)


def numbered_layers(model: keras.Model, prefix: str) -> list:
    """Layers named `prefix` + a number (`transformer_layer_0`, ...), in numeric order."""
    found = [
        layer
        for layer in model.layers
        if layer.name.startswith(prefix) and layer.name[len(prefix) :].isdigit()
    ]
    return sorted(found, key=lambda layer: int(layer.name[len(prefix) :]))


def has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def run_cached_blocks(blocks, x, positions, padding_mask, cache, cross=None):
    """Every decoder block over new positions `x` `(B, T, D)` with the fixed-size cache.

    `cache` is `(B, 2L, C, H, Dh)` (layer i's keys at `2i`, values at `2i + 1`); `cross`
    is `(cross_cache (B, 2L, S, H, Dh), cross_mask (B, T, S))` for encoder-decoder blocks.
    Returns `x` and the updated cache.
    """
    slots = ops.shape(cache)[2]
    writes, visible = slot_writes(positions, padding_mask, slots), visible_slots(positions, slots)
    updated = []
    for i, block in enumerate(blocks):
        layer_cross = None
        if cross is not None:
            layer_cross = (cross[0][:, 2 * i], cross[0][:, 2 * i + 1], cross[1])
        x, key, value = block.step(
            x, cache[:, 2 * i], cache[:, 2 * i + 1], writes, visible, layer_cross
        )
        updated += [key, value]  # (B, C, H, Dh) each
    return x, ops.stack(updated, axis=1)  # (B, 2L, C, H, Dh)


def prefill_buckets(context: int, smallest: int = 32, factor: int = 4) -> tuple[int, ...]:
    """Static prompt lengths for runtimes without dynamic shapes: `smallest * factor**k`, then `context`.

    Each length is a TFLite signature, and each signature repeats the per-channel
    quantization scales of every weight: few lengths keep an int8 file small, while a
    prompt pays at most `factor` times its length.

    >>> prefill_buckets(128), prefill_buckets(512), prefill_buckets(100), prefill_buckets(8)
    ((32, 128), (32, 128, 512), (32, 100), (8,))
    """
    lengths, length = [], smallest
    while length < context:
        lengths.append(length)
        length *= factor
    return (*lengths, context)


def lstm_cells_step(cells, x, h, c):
    """One step of stacked LSTM cells; `h`, `c` `(B, L, H)` in and out."""
    hs, cs = [], []
    for i, cell in enumerate(cells):
        x, (h_i, c_i) = cell(x, [h[:, i], c[:, i]], training=False)
        hs.append(h_i)
        cs.append(c_i)
    return x, ops.stack(hs, axis=1), ops.stack(cs, axis=1)


def disable_cudnn(model: keras.Model) -> keras.Model:
    """Set `use_cudnn=False` on every LSTM of `model` (also inside `Bidirectional`); return it.

    Keras 3.15 does not serialize `use_cudnn`: a reloaded checkpoint's LSTMs are back to
    "auto", and tracing them on a GPU machine bakes `CudnnRNNV3` into the exported graphs,
    which no converter or CPU runtime can run. The LSTM families' graphs call this.
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
