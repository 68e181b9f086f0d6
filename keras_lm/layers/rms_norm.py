"""RMS normalization as Llama and Gemma use it, computed in float32 under any dtype policy.

`x / sqrt(mean(x^2) + epsilon) * (offset + scale)`: Llama's `offset` is 0 (the scale
starts at ones), Gemma's is 1 (its scale starts at zeros). Written here because
Keras's `LayerNormalization(rms_scaling=True)` has no offset form and keras-hub keeps
each model's norm private; the variable is named `scale`, as in keras-hub.

Example:
>>> import numpy as np
>>> norm = RMSNorm(epsilon=0.0)
>>> [round(float(v), 4) for v in norm(np.array([[3.0, 4.0]], "float32"))[0]]
[0.8485, 1.1314]
>>> np.round(RMSNorm(offset=1.0)(np.ones((1, 2), "float32")), 4).tolist()  # scale starts at 0
[[1.0, 1.0]]
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lm")
class RMSNorm(keras.layers.Layer):
    """Root-mean-square normalization over the last axis, with a learned per-feature scale.

    Args:
        epsilon: float. Added to the mean square.
        offset: float. The output is multiplied by `offset + scale`; the scale starts
            at `1 - offset` so that a fresh layer is the plain normalization.
        **kwargs: `name`, `dtype`, ... for `keras.layers.Layer`.
    """

    def __init__(self, epsilon: float = 1e-6, offset: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.offset = offset

    def build(self, input_shape):
        self.scale = self.add_weight(
            name="scale",
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(1.0 - self.offset),
        )

    def call(self, x):
        x = ops.cast(x, "float32")
        mean_square = ops.mean(ops.square(x), axis=-1, keepdims=True)
        normed = x * ops.rsqrt(mean_square + self.epsilon)
        normed = normed * (self.offset + ops.cast(self.scale, "float32"))
        return ops.cast(normed, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon, "offset": self.offset}
