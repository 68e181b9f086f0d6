"""Sparse cross-entropy with label smoothing and a padding weight.

Keras 3's SparseCategoricalCrossentropy has no `label_smoothing`, and one-hot
labels over the vocabulary cost memory per token, so this computes the smoothed
loss from log-probabilities directly.

Example:
>>> import numpy as np
>>> loss = SmoothedSparseCrossentropy(label_smoothing=0.0)
>>> logits = np.log(np.array([[[0.5, 0.25, 0.25]]], "float32"))
>>> round(float(loss(np.array([[0]]), logits)), 4)
0.6931
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lm")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels against logits, `label_smoothing` spread over the vocabulary.

    Args:
        label_smoothing: float. 0 is the plain cross-entropy.
    """

    def __init__(
        self,
        label_smoothing: float = 0.0,
        name: str = "smoothed_sparse_crossentropy",
        reduction: str = "mean_with_sample_weight",
        **kwargs,
    ):
        # The mean over real (weighted) tokens, not over B x T, so padded batches report per-token loss.
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)  # (B, T, V)
        y_true = ops.cast(y_true, "int32")
        nll = -ops.squeeze(ops.take_along_axis(log_probs, ops.expand_dims(y_true, -1), axis=-1), -1)
        if self.label_smoothing == 0.0:
            return nll
        uniform = -ops.mean(log_probs, axis=-1)
        return (1.0 - self.label_smoothing) * nll + self.label_smoothing * uniform

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
