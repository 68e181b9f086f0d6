"""Callbacks of a training run: atomic best checkpoint, atomic backup for resume, NaN guard, samples.

Keras' own ModelCheckpoint and BackupAndRestore write in place (a kill during the
write leaves a corrupt file) and BackupAndRestore resumes at the start of the
interrupted epoch without skipping its data; these write to a temporary file and
rename it, and the backup records the global step so `fit.train` resumes exactly.

Example:
>>> cb = BestCheckpoint("/tmp/x/best.keras", monitor="val_loss")
>>> cb.best
inf
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import keras

from keras_lm.io import write_text_atomic
from keras_lm.training.finetune import save_lora_backup

log = logging.getLogger(__name__)
BACKUP_WEIGHTS = "backup.weights.h5"
BACKUP_STATE = "backup.json"


def save_model_atomic(model: keras.Model, path: str | os.PathLike) -> Path:
    """`model.save(path)` through a temporary file in the same folder, then a rename."""
    return _save_atomic(model.save, Path(path), ".keras")


def save_weights_atomic(model: keras.Model, path: str | os.PathLike) -> Path:
    """`model.save_weights(path)` (model and optimizer variables) through a temporary file."""
    return _save_atomic(model.save_weights, Path(path), ".weights.h5")


def _save_atomic(save: Callable, path: Path, suffix: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


class BestCheckpoint(keras.callbacks.Callback):
    """Save the whole model when `monitor` improves and is finite (so a NaN never overwrites it)."""

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", best: float = math.inf):
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.best = best
        self.best_epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(value) or value >= self.best:
            return
        self.best, self.best_epoch = float(value), epoch + 1
        save_model_atomic(self.model, self.path)
        write_text_atomic(
            self.path.with_suffix(".json"),
            json.dumps({"epoch": epoch + 1, self.monitor: value}) + "\n",
        )


class Backup(keras.callbacks.Callback):
    """At each epoch end: model + optimizer weights, then the state (`epoch`, `best`), both atomic.

    The state file is written after the weights, so a state always points at complete weights.
    """

    def __init__(self, folder: str | os.PathLike, best_checkpoint: BestCheckpoint | None = None):
        super().__init__()
        self.folder = Path(folder)
        self.best_checkpoint = best_checkpoint

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            return  # never back up diverged weights
        save_weights_atomic(self.model, self.folder / BACKUP_WEIGHTS)
        save_lora_backup(self.model, self.folder)  # Keras merges adapters on save; keep them apart
        best = self.best_checkpoint.best if self.best_checkpoint else None
        state = {
            "epoch": epoch + 1,
            "step": int(self.model.optimizer.iterations.numpy()),
            "best": best,
        }
        write_text_atomic(self.folder / BACKUP_STATE, json.dumps(state) + "\n")


def remove_temporaries(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed process left behind (hidden `.NAME.*` siblings)."""
    removed = []
    for path in Path(run_dir).rglob(".*"):
        if path.is_file() and (path.suffix in (".tmp", ".h5", ".keras")):
            path.unlink()
            removed.append(path)
    return removed


def read_backup(folder: str | os.PathLike) -> dict | None:
    """The state of the last complete backup in `folder`, or None."""
    state = Path(folder) / BACKUP_STATE
    if not state.is_file() or not (Path(folder) / BACKUP_WEIGHTS).is_file():
        return None
    return json.loads(state.read_text())


class NaNGuard(keras.callbacks.Callback):
    """Stop at the first non-finite loss and remember where it happened."""

    def __init__(self):
        super().__init__()
        self.bad_step: int | None = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.bad_step = int(self.model.optimizer.iterations.numpy())
            self.model.stop_training = True


class _EagerPredict:
    """`predict_on_batch` as a plain call of the model: under a multi-worker strategy Keras'
    predict is a collective that only the chief would join."""

    def __init__(self, model: keras.Model):
        self.model = model

    def predict_on_batch(self, x):
        return keras.ops.convert_to_numpy(self.model(x, training=False))


class TextSample(keras.callbacks.Callback):
    """Log a sample of generated text at each epoch end (`sample()` is given by the task)."""

    def __init__(
        self, sample: Callable[[keras.Model], str], path: str | os.PathLike, eager: bool = False
    ):
        super().__init__()
        self.sample = sample
        self.path = Path(path)
        self.eager = eager  # under a multi-worker strategy: on the chief alone, no collectives

    def on_epoch_end(self, epoch, logs=None):
        text = self.sample(_EagerPredict(self.model) if self.eager else self.model)
        log.info("epoch %d sample: %r", epoch + 1, text)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"epoch": epoch + 1, "sample": text}, ensure_ascii=False) + "\n")
