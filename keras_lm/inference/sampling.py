"""How the next token is chosen from logits: greedy, temperature, top-k and top-p sampling.

Pure numpy. The same code picks tokens for Keras in-process generation and for the
TensorFlow-free runtime (ONNX Runtime, LiteRT), so a float32 export decodes
token-identically to Keras. keras_hub's samplers run inside a Keras backend's loop,
which the runtime cannot import; the tests check these against them.

Example:
>>> import numpy as np
>>> logits = np.array([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]])
>>> choose_tokens(logits, SamplingConfig(), np.random.default_rng(0)).tolist()
[1, 0]
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from keras_lm.config import FINITE
from keras_lm.config import Config
from keras_lm.config import Range
from keras_lm.config import above
from keras_lm.config import at_least
from keras_lm.errors import FieldError

Strategy = Literal["greedy", "beam", "top_k", "top_p", "random"]
STRATEGIES = ("greedy", "beam", "top_k", "top_p", "random")


@dataclasses.dataclass(frozen=True)
class SamplingConfig(Config):
    """How to decode. The same fields on the command line (`--strategy top_p --top-p 0.9`).

    Args:
    strategy: "greedy" (argmax), "beam" (beam search), "top_k", "top_p" (nucleus) or
        "random" (the whole distribution).
    max_new_tokens: int. Stop after this many new tokens (also stops at the end token).
    temperature: float. Divides the logits before sampling; ignored by greedy and beam.
    top_k: int. Keep the k likeliest tokens ("top_k"); with "top_p", also caps the nucleus (0: no cap).
    top_p: float. Keep the smallest set of tokens whose probability reaches p ("top_p").
    num_beams: int. Beam width ("beam").
    length_penalty: float. Beam scores are log-probability / length ** length_penalty;
        above 0 favours longer outputs, 0 compares raw log-probabilities.
    seed: int | None. Seeds sampling; the same seed gives the same text.
    special_tokens: bool. Let the decoder choose pad, unk, start and mask (False: never; the
        end token always stays, it stops the row).
    """

    RANGES = {
        "max_new_tokens": at_least(1),
        "temperature": above(0),  # strategy greedy is argmax
        "top_k": at_least(0),
        "top_p": Range(0, 1, low_open=True),
        "num_beams": at_least(1),
        "length_penalty": FINITE,
        "seed": at_least(0),
    }

    strategy: Strategy = "greedy"
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.9
    num_beams: int = 4
    length_penalty: float = 1.0
    seed: int | None = None
    special_tokens: bool = False

    def __post_init__(self):
        """Each bad setting is named with its value alone (never the whole config)."""
        if self.strategy not in STRATEGIES:
            raise FieldError(
                "strategy", f"one of {list(STRATEGIES)}", self.strategy, owner=SamplingConfig
            )
        super().__post_init__()
        if self.strategy == "top_k" and self.top_k < 1:
            raise FieldError(
                "top_k", "an integer >= 1 with strategy top_k", self.top_k, owner=SamplingConfig
            )


def choose_tokens(
    logits: np.ndarray, config: SamplingConfig, rng: np.random.Generator
) -> np.ndarray:
    """One token id per row of `logits` `(B, V)`, by `config.strategy` (not "beam").

    Example:
    >>> import numpy as np
    >>> cfg = SamplingConfig(strategy="top_k", top_k=1, seed=0)
    >>> choose_tokens(np.array([[0.1, 0.2, 5.0]]), cfg, np.random.default_rng(0)).tolist()
    [2]
    """
    logits = np.asarray(logits, np.float64)
    if config.strategy in ("greedy", "beam"):
        return np.argmax(logits, axis=-1)
    probs = filtered_probabilities(logits / config.temperature, config)
    # Inverse-CDF draw: one uniform per row, reproducible for a given seed.
    cumulative = np.cumsum(probs, axis=-1)
    draws = rng.random((probs.shape[0], 1)) * cumulative[:, -1:]
    return np.minimum((cumulative < draws).sum(axis=-1), probs.shape[-1] - 1)


def filtered_probabilities(logits: np.ndarray, config: SamplingConfig) -> np.ndarray:
    """Softmax of `logits` with everything outside top-k / the top-p nucleus set to 0.

    Example:
    >>> import numpy as np
    >>> p = filtered_probabilities(np.log(np.array([[0.5, 0.3, 0.2]])),
    ...                            SamplingConfig(strategy="top_p", top_p=0.7))
    >>> np.round(p, 3).tolist()
    [[0.625, 0.375, 0.0]]
    """
    probs = softmax(logits)
    k = config.top_k if config.strategy in ("top_k", "top_p") else 0
    if k and k < probs.shape[-1]:
        kth = -np.sort(-probs, axis=-1)[:, k - 1 : k]
        probs = np.where(probs >= kth, probs, 0.0)
    if config.strategy == "top_p" and config.top_p < 1:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        before = np.cumsum(sorted_probs, axis=-1) - sorted_probs  # mass of likelier tokens
        keep_sorted = before < config.top_p * sorted_probs.sum(axis=-1, keepdims=True)
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        probs = np.where(keep, probs, 0.0)
    return probs / probs.sum(axis=-1, keepdims=True)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64.

    >>> softmax(np.zeros((1, 4))).tolist()
    [[0.25, 0.25, 0.25, 0.25]]
    """
    shifted = np.asarray(logits, np.float64) - np.max(logits, axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64.

    >>> float(np.round(np.exp(log_softmax(np.zeros((1, 2))))[0, 0], 3))
    0.5
    """
    shifted = np.asarray(logits, np.float64) - np.max(logits, axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
