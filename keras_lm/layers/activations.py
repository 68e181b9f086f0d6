"""Activations that Keras has no serializable name for, registered so checkpoints reload safely.

`gelu_approximate` is GPT-2's GELU (the tanh form), which keras-hub's GPT-2 uses; a
registered function round-trips through `model.keras` under `safe_mode=True`.

Example:
>>> import numpy as np
>>> round(float(gelu_approximate(np.float32(1.0))), 4)
0.8412
>>> ACTIVATIONS["gelu_approximate"] is gelu_approximate
True
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_lm")
def gelu_approximate(x):
    """GELU by its tanh approximation: `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`."""
    return keras.activations.gelu(x, approximate=True)


# The feed-forward activations a run config may name, by that name.
ACTIVATIONS = {"gelu": "gelu", "gelu_approximate": gelu_approximate}
