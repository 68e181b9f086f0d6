"""The TensorFlow-free inference core: samplers, decoding loops, steppers, `TextModel`, the manifest.

Everything here is numpy and the standard library. `keras_lm.runtime` (ONNX Runtime,
LiteRT) and `keras_lm.export` both build on it, and `keras_lm.generation` adds the
Keras adapters; an import-linter contract (`make lint`) keeps TensorFlow, Keras and
keras_hub out.

Example:
>>> from keras_lm.inference import SamplingConfig, left_pad
>>> SamplingConfig(strategy="greedy").strategy, left_pad([[7, 8], [5]])[1].tolist()
('greedy', [[1, 1], [0, 1]])
"""

from keras_lm.inference.decoding import generate_lm
from keras_lm.inference.decoding import left_pad
from keras_lm.inference.decoding import right_pad
from keras_lm.inference.decoding import translate_ids
from keras_lm.inference.manifest import Manifest
from keras_lm.inference.sampling import SamplingConfig
from keras_lm.inference.text_model import TextModel

__all__ = [
    "Manifest",
    "SamplingConfig",
    "TextModel",
    "generate_lm",
    "left_pad",
    "right_pad",
    "translate_ids",
]
