"""Fake steppers with known outputs, for testing decoding loops without a model (as keras_hub does).

Example:
>>> import numpy as np
>>> stepper = CountingStepper(vocab=5)
>>> logits, state = stepper.prefill(np.array([[3]]), np.array([[1]]))
>>> int(logits.argmax()), state
(4, [[3]])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class SequenceStepper:
    """An LM stepper whose logits are `next_logits(sequence)`: a full recompute, no cache.

    It records every call in `calls` ("prefill" or "step") so tests can check when
    the loop re-prefills. `context` makes `full()` true once a row's sequence fills it.
    """

    def __init__(self, next_logits: Callable[[list[int]], np.ndarray], context: int | None = None):
        self.next_logits = next_logits
        self.context = context
        self.calls: list[str] = []

    def prefill(self, ids: np.ndarray, mask: np.ndarray):
        self.calls.append("prefill")
        state = [row[m.astype(bool)].tolist() for row, m in zip(ids, mask, strict=True)]
        return self._logits(state), state

    def step(self, tokens: np.ndarray, state):
        self.calls.append("step")
        state = [s + [int(t)] for s, t in zip(state, tokens, strict=True)]
        return self._logits(state), state

    def select(self, state, rows: np.ndarray):
        return [list(state[r]) for r in rows]

    def full(self, state) -> bool:
        return self.context is not None and max(len(s) for s in state) >= self.context

    def _logits(self, state) -> np.ndarray:
        return np.stack([np.asarray(self.next_logits(s), np.float64) for s in state])


class CountingStepper(SequenceStepper):
    """Next token = last token + 1 (mod `vocab`), with probability ~1."""

    def __init__(self, vocab: int, context: int | None = None):
        super().__init__(lambda seq: 10.0 * np.eye(vocab)[(seq[-1] + 1) % vocab], context)


class TableSeq2SeqStepper:
    """A seq2seq stepper over a fake LM: `next_logits(source, target_so_far)`."""

    def __init__(
        self, next_logits: Callable[[list[int], list[int]], np.ndarray], max_target_length=32
    ):
        self.next_logits = next_logits
        self.max_target_length = max_target_length

    def start(self, ids: np.ndarray, mask: np.ndarray, start_id: int):
        return self.step(np.full((len(ids),), start_id), self.encode(ids, mask))

    def encode(self, ids: np.ndarray, mask: np.ndarray):
        return [(row[m.astype(bool)].tolist(), []) for row, m in zip(ids, mask, strict=True)]

    def step(self, tokens: np.ndarray, state):
        state = [(src, tgt + [int(t)]) for (src, tgt), t in zip(state, tokens, strict=True)]
        return self._logits(state), state

    def select(self, state, rows: np.ndarray):
        return [state[r] for r in rows]

    def _logits(self, state) -> np.ndarray:
        return np.stack([np.asarray(self.next_logits(s, t), np.float64) for s, t in state])
