"""Rotary position embedding (RoPE) as tables: cosines and sines by position, applied to heads.

`RotaryTables(context, head_dim, max_wavelength)` gives the `(cos, sin)` of positions
(`(B, T, 1, Dh)` each, for `(B, T, H, Dh)` heads); `apply_rope(x, cos, sin)` rotates
with keras-hub's convention (the two halves of a head rotate together:
`x * cos + concat(-x2, x1) * sin`). The export graphs gather rows of `table()`,
constants a converter folds, where keras-hub's `RotaryEmbedding` recomputes the angles
from a start index on each call (tables by position are what a per-row cache needs).
Llama 3.1's frequency scaling is `scaling` (see `inverse_frequencies`).

Example:
>>> import numpy as np
>>> rope = RotaryTables(context=8, head_dim=4)
>>> cos, sin = rope.lookup(np.array([[0, 1]], "int32"))
>>> tuple(cos.shape)
(1, 2, 1, 4)
>>> x = np.ones((1, 2, 1, 4), "float32")
>>> np.asarray(apply_rope(x, cos, sin), "float64")[0, :, 0].round(3).tolist()  # 0: unrotated
[[1.0, 1.0, 1.0, 1.0], [-0.301, 0.99, 1.382, 1.01]]
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops


def inverse_frequencies(
    head_dim: int, max_wavelength: float = 10_000.0, scaling: dict | None = None
) -> np.ndarray:
    """float32 `(head_dim / 2,)`: `1 / max_wavelength ** (2i / head_dim)`, as keras-hub's Llama.

    `scaling` (Llama 3.1): `frequency_adjustment_factor`, `low_freq_factor`,
    `high_freq_factor`, `pretraining_sequence_length`: long wavelengths are divided by
    the factor, short ones kept, the band between blended.

    >>> inverse_frequencies(4).tolist()
    [1.0, 0.009999999776482582]
    """
    steps = np.arange(0, head_dim, 2, dtype=np.float32) / np.float32(head_dim)
    inverse = (np.float32(1.0) / (np.float32(max_wavelength) ** steps)).astype(np.float32)
    if scaling is None:
        return inverse
    factor = scaling["frequency_adjustment_factor"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    length = scaling["pretraining_sequence_length"]
    wavelength = 2 * math.pi / inverse
    scaled = np.where(wavelength > length / low, inverse / factor, inverse)
    smooth = (length / wavelength - low) / (high - low)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelength >= length / high) & (wavelength <= length / low)
    return np.where(medium, blended, scaled).astype(np.float32)


def apply_rope(x, cos, sin):
    """Rotate heads `x` `(..., Dh)` by `cos`/`sin` broadcastable to it (keras-hub's halves)."""
    half = x.shape[-1] // 2
    rotated = ops.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * ops.cast(cos, x.dtype) + rotated * ops.cast(sin, x.dtype)


@keras.saving.register_keras_serializable(package="keras_lm")
class RotaryTables(keras.layers.Layer):
    """The RoPE angles of positions; no weights. Its `context` is the model's longest sequence.

    Args:
        context: int. The positions `table()` covers (the KV cache's slots).
        head_dim: int. Width of a rotated head (even).
        max_wavelength: float. RoPE's base.
        scaling: dict | None. Llama 3.1's frequency scaling (`inverse_frequencies`).

    Call arguments:
        token_ids: int `(B, T)`: positions `0..T-1` for every row (right-padded training
            batches; attention scores depend only on relative positions).

    Returns:
        `(cos, sin)`, float32 `(1, T, 1, Dh)` each.
    """

    def __init__(
        self,
        context: int,
        head_dim: int,
        max_wavelength: float = 10_000.0,
        scaling: dict | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.context, self.head_dim = context, head_dim
        self.max_wavelength, self.scaling = max_wavelength, scaling
        self.inverse = inverse_frequencies(head_dim, max_wavelength, scaling)

    def lookup(self, positions):
        """`(cos, sin)` float32 `(B, T, 1, Dh)` of int `positions` `(B, T)`."""
        # expand_dims, not [..., None]: TFLite has no strided slice that adds axes
        angles = ops.expand_dims(ops.cast(positions, "float32"), -1) * self.inverse
        angles = ops.expand_dims(ops.concatenate([angles, angles], axis=-1), 2)  # (B, T, 1, Dh)
        return ops.cos(angles), ops.sin(angles)

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """float32 `(context, Dh)` cosines and sines of every position, for export graphs."""
        angles = np.arange(self.context, dtype=np.float32)[:, None] * self.inverse[None, :]
        angles = np.concatenate([angles, angles], axis=-1)
        return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)

    def call(self, token_ids):
        positions = ops.expand_dims(ops.arange(ops.shape(token_ids)[1]), 0)
        return self.lookup(positions)

    def compute_output_shape(self, token_ids_shape):
        shape = (1, token_ids_shape[1], 1, self.head_dim)
        return shape, shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "context": self.context,
            "head_dim": self.head_dim,
            "max_wavelength": self.max_wavelength,
            "scaling": self.scaling,
        }
