"""Text generation: samplers, decoding loops with a KV cache or LSTM state, and the one-call API.

`SamplingConfig` and the loops in `decoding` are TensorFlow-free (the runtime uses
them too); `Generator` loads a run and imports TensorFlow when it is created.

Example:
>>> from keras_lm.generation import SamplingConfig
>>> SamplingConfig(strategy="top_k", top_k=20).top_k
20
"""

from keras_lm.generation.api import Generator
from keras_lm.generation.sampling import SamplingConfig

__all__ = ["Generator", "SamplingConfig"]
