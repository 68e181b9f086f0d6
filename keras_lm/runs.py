"""Open a finished (or interrupted) run directory: its config, tokenizer, model and data splits.

Everything after training (generation, evaluation, export) starts here, so every
one of them gives the same clear error for a directory that is not a run, has no
checkpoint, or holds a corrupted one.

Example:
>>> open_run("/nonexistent/run")
Traceback (most recent call last):
...
keras_lm.errors.InputError: /nonexistent/run: not a run directory (no config.yaml); train one with `keras-lm train --config NAME --run-dir DIR`
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from keras_lm.errors import InputError
from keras_lm.framing import Framing
from keras_lm.models.registry import get_family
from keras_lm.training.config import CHECKPOINTS
from keras_lm.training.config import TrainConfig

UPSTREAM = "reference.json"  # an imported preset: the tokens its own library generated


@dataclasses.dataclass
class Run:
    """A run directory opened for use: `config`, `tokenizer`, and loaders for the rest."""

    path: Path
    config: TrainConfig
    tokenizer: object
    _splits: dict | None = dataclasses.field(default=None, init=False, repr=False, compare=False)
    _upstream: dict | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    @property
    def family(self) -> str:
        return self.config.family

    @property
    def task(self) -> str:
        """ "lm", "seq2seq" or "classify"."""
        return get_family(self.config.family).task

    def metrics(self) -> dict:
        """The run's `metrics.json` ({} while it is unfinished)."""
        path = self.path / "metrics.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def checkpoint(self, which: str = "best") -> Path:
        """Path of the `best` (lowest validation loss), `final` or `averaged` model; `best` falls back to `final`."""
        if which not in CHECKPOINTS:
            raise InputError(
                self.path, f"unknown checkpoint {which!r}; expected one of {list(CHECKPOINTS)}"
            )
        order = [which, "final"] if which == "best" else [which]
        for name in order:
            path = self.path / CHECKPOINTS[name]
            if path.is_file():
                return path
        if which == "averaged":
            raise InputError(
                self.path,
                f"no {CHECKPOINTS[which]}: the run was trained without loop.average_share "
                "or has not finished",
            )
        raise InputError(
            self.path,
            f"no checkpoint ({' or '.join(CHECKPOINTS[n] for n in order)}); the run has not finished "
            "an epoch yet: run `keras-lm train` again on it to resume",
        )

    def model(self, which: str = "best"):
        """Load the checkpoint with `safe_mode=True`; a corrupted file is an `InputError` naming it."""
        from keras_lm.models.saving import load_checkpoint  # Keras: only when a model is asked for

        return load_checkpoint(self.checkpoint(which))

    def splits(self) -> dict:
        """The run's data splits, loaded and cleaned exactly as training saw them.

        Loaded once per `Run` (cleaning spa-eng takes seconds); each call returns a new dict of
        the same split objects.
        """
        from keras_lm.training.fit import load_and_clean

        if self._splits is None:
            self._splits, _ = load_and_clean(self.config, None)
        return dict(self._splits)

    def upstream(self) -> dict | None:
        """What the model's original library made of it (`keras-lm import`), or None.

        `{"source", "prompts", "generated"}` for an LM: each prompt's ids and the greedy
        tokens that followed; `{"source", "prompts", "classes"}` for a classifier: each
        framed text's ids and the class predicted. Checked here, since the file is read
        back from disk.
        """
        path = self.path / UPSTREAM
        if self._upstream is not None or not path.is_file():
            return self._upstream
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise InputError(str(path), f"not valid JSON: {err}") from None
        data = data if isinstance(data, dict) else {}
        size = self.tokenizer.vocab_size
        rows = {"prompts": _id_rows(data.get("prompts"), size, path, "prompts")}
        if self.task == "classify":
            classes = len(self.labels() or []) or int(self.config.model.get("num_classes", 0))
            found = _id_rows([data.get("classes")], classes, path, "classes")[0]
            rows["classes"], name = found, "class"
        else:
            rows["generated"], name = (
                _id_rows(data.get("generated"), size, path, "generated"),
                "row",
            )
        outputs = rows.get("classes", rows.get("generated"))
        if len(rows["prompts"]) != len(outputs) or not all(rows["prompts"]):
            raise InputError(str(path), f"one non-empty prompt per {name}", field="prompts")
        self._upstream = {"source": str(data.get("source", "")), **rows}  # read once per Run
        return self._upstream

    def labels(self) -> list[str] | None:
        """Class names of a classifier run, in the order of its logits."""
        return self.metrics().get("labels")

    def framing(self) -> Framing:
        """How a classifier run frames and cuts its token ids (`keras_lm.framing`)."""
        return Framing.of(self.config.model, self.tokenizer.specials, self.config.data.max_length)


def _id_rows(value, size: int, path: Path, key: str) -> list[list[int]]:
    """`value` if it is a list of lists of ids in `[0, size)`; `InputError` naming `key` otherwise."""
    if not isinstance(value, list) or not all(
        isinstance(row, list)
        and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < size for i in row)
        for row in value
    ):
        raise InputError(str(path), f"expected lists of ids below {size}", field=key)
    return value


def open_run(path: str | Path) -> Run:
    """Open `path`; raise `InputError` if it holds no run config or tokenizer."""
    from keras_lm.tokenizers import load_tokenizer

    path = Path(path)
    config_file = path / "config.yaml"
    if not config_file.is_file():
        raise InputError(
            path,
            "not a run directory (no config.yaml); train one with "
            "`keras-lm train --config NAME --run-dir DIR`",
        )
    config = TrainConfig.load(config_file)
    if not (path / "tokenizer" / "tokenizer.json").is_file():
        raise InputError(path, "the run has no tokenizer/ yet; it stopped before training began")
    return Run(path, config, load_tokenizer(path / "tokenizer"))
