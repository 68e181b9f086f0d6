"""Weight averaging over the end of a run: the mean of snapshots, saved as `checkpoints/averaged.keras`.

Averaging the last checkpoints of a run (Vaswani et al. 2017 averaged the last 5 or 20)
smooths out the noise of the last optimizer steps; it costs one copy of the weights
in memory and a few milliseconds a snapshot. Keras has no callback that does this
(its `use_ema` is an exponential average over the whole run, kept in the optimizer
and swapped into the weights the model saves), so it is written here.

Example:
>>> snapshot_steps(max_steps=1000, last_steps=300, every=100)
[800, 900, 1000]
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import keras
import numpy as np

from keras_lm.io import write_text_atomic
from keras_lm.training.callbacks import save_model_atomic

log = logging.getLogger(__name__)


def snapshot_steps(max_steps: int, last_steps: int, every: int) -> list[int]:
    """The global steps after which a snapshot is taken: every `every`, ending at `max_steps`."""
    return [s for s in range(max_steps, max_steps - last_steps, -every) if s > 0][::-1]


class WeightAverage(keras.callbacks.Callback):
    """Sum the model's weights at `steps`; at the end of training save their mean to `path`.

    The model keeps its own (final) weights: the average is written to a file beside it,
    with a JSON note of the steps it covers. A run resumed inside the window averages
    only the snapshots taken after the resume, and the note says so.
    """

    def __init__(self, path: str | os.PathLike, steps: list[int]):
        super().__init__()
        self.path = Path(path)
        self.steps = sorted(steps)
        self.taken: list[int] = []
        self._next = 0  # index into `steps` of the next snapshot due
        self._sum: list[np.ndarray] | None = None

    def on_train_batch_end(self, batch, logs=None):
        if self._next == len(self.steps):
            return
        step = int(self.model.optimizer.iterations.numpy())
        if step < self.steps[self._next]:
            return
        while self._next < len(self.steps) and self.steps[self._next] <= step:
            self._next += 1  # with several steps a call (or after a resume), one snapshot
        weights = self.model.get_weights()
        if self._sum is None:
            self._sum = [w.astype(np.float64) for w in weights]
        else:
            for total, w in zip(self._sum, weights, strict=True):
                total += w
        self.taken.append(self.steps[self._next - 1])

    def on_train_end(self, logs=None):
        if not self.taken:
            return
        final = self.model.get_weights()
        mean = [
            (t / len(self.taken)).astype(w.dtype) if np.issubdtype(w.dtype, np.floating) else w
            for t, w in zip(self._sum, final, strict=True)
        ]  # counters and seeds keep their final values
        self.model.set_weights(mean)
        try:
            save_model_atomic(self.model, self.path)
        finally:
            self.model.set_weights(final)
        note = {"snapshots": len(self.taken), "steps": self.taken, "planned": len(self.steps)}
        write_text_atomic(self.path.with_suffix(".json"), json.dumps(note) + "\n")
        if len(self.taken) < len(self.steps):
            log.warning(
                "averaged %d of %d planned snapshots (the run was resumed inside the window)",
                len(self.taken),
                len(self.steps),
            )
