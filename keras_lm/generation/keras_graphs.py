"""A Keras model's export graphs run in-process: the `graphs` that steppers drive, before any export.

`KerasGraphs` runs the very `tf.function`s that `keras-lm export` converts (the
family's `graphs.export_graphs`), the one-token `decode` XLA-compiled (its shapes
never change for a batch size). `RecomputeLMStepper` is the naive baseline: the
whole model over the window for every token.

Example:
>>> from keras_lm.models.transformer_lm.config import TransformerLMConfig
>>> from keras_lm.models.transformer_lm.model import build_transformer_lm
>>> from keras_lm.inference.decoding import generate_lm
>>> from keras_lm.inference.sampling import SamplingConfig
>>> model = build_transformer_lm(TransformerLMConfig.tiny())
>>> config = SamplingConfig(max_new_tokens=4)
>>> generate_lm(keras_stepper(model), [[5, 6]], config) == generate_lm(RecomputeLMStepper(model), [[5, 6]], config)
True
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.inference.decoding import right_pad
from keras_lm.models.registry import family_of


class KerasGraphs:
    """`run(name, **inputs)` over the family's export graphs of `model`, numpy in and out.

    `functions` are other graphs of the model to run instead (e.g. the family's
    `runtime_cache_graphs`, the reference their exports are verified against).
    """

    def __init__(
        self,
        model,
        jit_compile: bool = True,
        max_target_length: int | None = None,
        functions: dict | None = None,
    ):
        self.family = family_of(model)
        self.functions = dict(functions or self.family.export_graphs(model))
        decode = self.functions.get("decode")
        if jit_compile and decode is not None:
            self.functions["decode"] = tf.function(
                decode.python_function, input_signature=decode.input_signature, jit_compile=True
            )
        self.facts = self.family.facts(model, max_target_length)

    @property
    def names(self) -> list[str]:
        return sorted(self.functions)

    def inputs(self, name: str) -> dict[str, tuple]:
        return {
            s.name: (tuple(s.shape.as_list()), s.dtype.name)
            for s in self.functions[name].input_signature
        }

    def run(self, name: str, **inputs) -> dict[str, np.ndarray]:
        function = self.functions[name]  # positional: a graph's inputs may be `*past` varargs
        args = [inputs[s.name] for s in function.input_signature]
        return {k: v.numpy() for k, v in function(*args).items()}


def keras_stepper(model, jit_compile: bool = True, max_target_length: int | None = None):
    """The cached stepper of a Keras model (None for a family that does not generate)."""
    graphs = KerasGraphs(model, jit_compile, max_target_length)
    return graphs.family.make_stepper(graphs, graphs.facts)


class RecomputeLMStepper:
    """The naive baseline: every token runs the whole model over the last `context` tokens."""

    def __init__(self, model, context: int | None = None):
        self.context = context or family_of(model).facts(model).get("context")
        self._forward = tf.function(
            lambda ids, mask: model({TOKEN_IDS: ids, PADDING_MASK: mask}, training=False),
            input_signature=[tf.TensorSpec((None, None), tf.int32)] * 2,
        )

    def prefill(self, ids: np.ndarray, mask: np.ndarray):
        seqs = [row[m.astype(bool)].tolist() for row, m in zip(ids, mask, strict=True)]
        return self._logits(seqs), seqs

    def step(self, tokens: np.ndarray, state: list):
        seqs = [s + [int(t)] for s, t in zip(state, tokens, strict=True)]
        return self._logits(seqs), seqs

    def select(self, state: list, rows: np.ndarray) -> list:
        return [list(state[r]) for r in rows]

    def full(self, state) -> bool:
        return False  # windows are cut in `_logits`

    def _logits(self, seqs: list[list[int]]) -> np.ndarray:
        windows = [s[-self.context :] if self.context else s for s in seqs]
        ids, mask = right_pad(windows)
        logits = self._forward(ids, mask).numpy()
        return logits[np.arange(len(windows)), mask.sum(axis=1) - 1]
