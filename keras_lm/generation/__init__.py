"""Text generation with a trained Keras model: `Generator` and the in-process graphs it runs.

The samplers, decoding loops, steppers and `TextModel` are TensorFlow-free and live
in `keras_lm.inference` (the runtime uses them too); this package adds the Keras
adapters and imports TensorFlow.

Example:
>>> from keras_lm.generation import SamplingConfig
>>> SamplingConfig(strategy="top_k", top_k=20).top_k
20
"""

from keras_lm.generation.api import Generator
from keras_lm.inference.sampling import SamplingConfig

__all__ = ["Generator", "SamplingConfig"]
