"""Small mask layers: int32 padding masks to bool, and a barrier that stops Keras mask propagation.

The models take `padding_mask` as int32 (1 = token, 0 = padding), the same in
Keras, SavedModel, TFLite and ONNX. Keras RNNs and `keras_lm.layers.Seq2SeqAttention`
want a bool mask; `BoolMask` makes one without a `Lambda` layer, so the model
loads with `safe_mode=True`. `DropMask` removes the implicit Keras mask that an
RNN attaches to its outputs, so that every family hands the loss plain logits and
padding is weighted only by the data set's `sample_weight`.

Example:
>>> from keras_lm.layers import BoolMask
>>> import numpy as np
>>> BoolMask()(np.array([[1, 1, 0]], "int32")).numpy().tolist()
[[True, True, False]]
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lm")
class BoolMask(keras.layers.Layer):
    """Cast an int padding mask `(B, T)` (1 = token) to bool.

    Example:
    >>> from keras_lm.layers import BoolMask
    >>> import numpy as np
    >>> BoolMask()(np.array([[0, 1]], "int32")).dtype
    tf.bool
    """

    def call(self, padding_mask):
        return ops.cast(padding_mask, "bool")  # (B, T)

    def compute_output_spec(self, padding_mask):
        return keras.KerasTensor(padding_mask.shape, dtype="bool")


@keras.saving.register_keras_serializable(package="keras_lm")
class DropMask(keras.layers.Layer):
    """Identity on values; the output carries no implicit Keras mask.

    Example:
    >>> from keras_lm.layers import DropMask
    >>> import numpy as np
    >>> DropMask()(np.ones((1, 2, 3), "float32")).shape
    TensorShape([1, 2, 3])
    """

    def call(self, inputs):
        return ops.copy(inputs)  # a new tensor, so the input's `_keras_mask` is not carried over

    def compute_mask(self, inputs, previous_mask=None):
        return None
