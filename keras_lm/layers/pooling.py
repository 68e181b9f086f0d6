"""Pool a padded sequence `(B, T, D)` to `(B, D)`: mean or max over real tokens, or the first token.

Example:
>>> from keras_lm.layers import MaskedPooling
>>> import numpy as np
>>> x = np.array([[[1.0], [3.0], [100.0]]], "float32")
>>> MaskedPooling("mean")(x, np.array([[1, 1, 0]], "int32")).numpy().tolist()
[[2.0]]
"""

from __future__ import annotations

from typing import Literal

import keras
from keras import ops

PoolingMode = Literal["mean", "max", "first"]
MODES = ("mean", "max", "first")


@keras.saving.register_keras_serializable(package="keras_lm")
class MaskedPooling(keras.layers.Layer):
    """Sequence pooling that ignores padded positions.

    Args:
        mode: str. `"mean"`: the mean over positions where `padding_mask` is 1;
            `"max"`: the maximum over them, per feature (as Kim's CNN pools);
            `"first"`: the vector at position 0 (a `[CLS]`-style token).

    Example:
    >>> from keras_lm.layers import MaskedPooling
    >>> import numpy as np
    >>> x = np.array([[[1.0], [3.0]]], "float32")
    >>> MaskedPooling("first")(x, np.array([[1, 1]], "int32")).numpy().tolist()
    [[1.0]]
    >>> MaskedPooling("max")(x, np.array([[1, 0]], "int32")).numpy().tolist()
    [[1.0]]
    """

    def __init__(self, mode: PoolingMode = "mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"MaskedPooling mode must be one of {MODES}, got {mode!r}")
        self.mode = mode

    def call(self, inputs, padding_mask):
        if self.mode == "first":
            return inputs[:, 0, :]  # (B, D)
        weights = ops.cast(ops.expand_dims(padding_mask, -1), inputs.dtype)  # (B, T, 1)
        if self.mode == "max":  # padded positions pushed far below any real value
            return ops.max(inputs - (1.0 - weights) * 1e9, axis=1)  # (B, D)
        total = ops.sum(inputs * weights, axis=1)  # (B, D)
        count = ops.maximum(ops.sum(weights, axis=1), ops.cast(1.0, inputs.dtype))  # (B, 1)
        return total / count  # (B, D)

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
