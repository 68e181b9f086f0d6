"""Time a decoding loop call by call: time to first token, per-token latency, tokens/s.

Pure numpy and the standard library (it runs in the TensorFlow-free runtime's
process). `TimedStepper` wraps any stepper of `keras_lm.inference.steppers` and
records how long each model call takes; `RecomputeStepper` turns an LM stepper into
the naive baseline that re-runs `prefill` over the whole sequence for every token.

Example, with the counting fake stepper of the generation tests:
>>> from keras_lm.generation.testing import CountingStepper
>>> timed = TimedStepper(CountingStepper(vocab=50))
>>> row = time_lm(timed, [[1, 2, 3]], new_tokens=5)
>>> row["new_tokens"], len(timed.steps)
(5, 4)
>>> summarise([0.001, 0.002, 0.003])["p50_ms"]
2.0
"""

from __future__ import annotations

import time

import numpy as np

from keras_lm.inference.decoding import generate_lm
from keras_lm.inference.decoding import translate_ids
from keras_lm.inference.sampling import SamplingConfig


class TimedStepper:
    """A stepper that records the seconds of its first call and of each later step."""

    def __init__(self, inner):
        self.inner = inner
        self.first: float | None = None
        self.steps: list[float] = []

    def __getattr__(self, name):  # context, max_target_length, select, full ... pass through
        return getattr(self.inner, name)

    def reset(self) -> None:
        self.first, self.steps = None, []

    def _timed(self, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        seconds = time.perf_counter() - start
        if self.first is None:
            self.first = seconds
        else:
            self.steps.append(seconds)
        return out

    def prefill(self, ids, mask):
        return self._timed(self.inner.prefill, ids, mask)

    def start(self, ids, mask, start_id):
        return self._timed(self.inner.start, ids, mask, start_id)

    def step(self, tokens, state):
        return self._timed(self.inner.step, tokens, state)


class RecomputeStepper:
    """Naive decoding: every new token re-runs `prefill` on the whole (windowed) sequence."""

    def __init__(self, inner):
        self.inner, self.context = inner, inner.context

    def prefill(self, ids, mask):
        logits, _ = self.inner.prefill(ids, mask)
        return logits, {"ids": np.asarray(ids), "mask": np.asarray(mask)}

    def step(self, tokens, state):
        ids = np.concatenate([state["ids"], tokens[:, None]], axis=1)
        mask = np.concatenate([state["mask"], np.ones_like(tokens)[:, None]], axis=1)
        if self.context:
            ids, mask = ids[:, -self.context :], mask[:, -self.context :]
        logits, _ = self.inner.prefill(ids, mask)
        return logits, {"ids": ids, "mask": mask}

    def select(self, state, rows):
        return {k: v[rows] for k, v in state.items()}

    def full(self, state) -> bool:
        return False  # the window is cut in `step`


def summarise(step_seconds: list[float]) -> dict:
    """Per-token latency percentiles in milliseconds."""
    ms = np.asarray(step_seconds or [np.nan]) * 1000
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 3) for q in (50, 90, 99)}


def time_lm(timed: TimedStepper, prompts: list[list[int]], new_tokens: int) -> dict:
    """One greedy generation of exactly `new_tokens` per row (the end token is ignored)."""
    timed.reset()
    start = time.perf_counter()
    out = generate_lm(timed, prompts, SamplingConfig(max_new_tokens=new_tokens), end_id=None)
    return _row(timed, time.perf_counter() - start, len(prompts), len(out[0]))


def time_seq2seq(timed: TimedStepper, sources: list[list[int]], new_tokens: int) -> dict:
    """One greedy translation of `new_tokens` per row (bounded by the model's target length)."""
    timed.reset()
    start = time.perf_counter()
    config = SamplingConfig(max_new_tokens=new_tokens)
    out = translate_ids(timed, sources, config, start_id=2, end_id=-1)  # -1: never stop early
    return _row(timed, time.perf_counter() - start, len(sources), len(out[0]))


def _row(timed: TimedStepper, seconds: float, batch: int, new_tokens: int) -> dict:
    decode_s = sum(timed.steps)
    return {
        "batch": batch,
        "new_tokens": new_tokens,
        "seconds": seconds,
        "first_token_s": timed.first,
        "tokens_per_s": batch * new_tokens / seconds,
        "decode_tokens_per_s": batch * len(timed.steps) / decode_s if decode_s else None,
        "step_seconds": list(timed.steps),
    }


def random_ids(rows: int, length: int, vocab: int, seed: int = 0) -> list[list[int]]:
    """Seeded token ids above the special ids (timing does not depend on the text)."""
    rng = np.random.default_rng(seed)
    return rng.integers(5, max(vocab, 6), size=(rows, length)).tolist()


__all__ = [
    "RecomputeStepper",
    "TimedStepper",
    "random_ids",
    "summarise",
    "time_lm",
    "time_seq2seq",
]
