"""A keras-hub preset folder read as untrusted input: its JSON checked before anything is built.

A preset (what `save_to_preset` writes and what a downloaded preset holds) is a folder:

    config.json      the backbone: {"class_name", "registered_name", "config": {...}}
    tokenizer.json   the tokenizer: the same shape
    model.weights.h5 the backbone's weights
    assets/tokenizer/ the tokenizer's files (GPT-2: vocabulary.json, merges.txt; BERT:
                     vocabulary.txt)
    task.json        the task, where one was saved (a BertTextClassifier: its head); optional
    task.weights.h5  the task's own weights (those not in the backbone), beside task.json
    metadata.json    versions (optional here)

Nothing here deserializes a Keras object from the folder: keras-hub's own loader would
import and build whatever class `config.json` names. The backbone must be one of the
architectures keras_lm imports (`keras_lm.presets.architectures`), and its config values
are checked field by field there.

Example:
>>> read_preset("/nonexistent/preset")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
keras_lm.errors.InputError: /nonexistent/preset: not a keras-hub preset folder ...
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from keras_lm.errors import InputError

MAX_JSON_BYTES = 1 << 20  # a preset's config files are a few KB; refuse to parse anything huge
MAX_VOCABULARY_BYTES = 64 << 20  # GPT-2's vocabulary.json is 1 MB, Gemma-sized ones a few tens
REQUIRED = ("config.json", "tokenizer.json", "model.weights.h5")


@dataclasses.dataclass(frozen=True)
class Preset:
    """A preset folder's checked parts.

    path: the folder. backbone: the backbone's registered name ("keras_hub>GPT2Backbone").
    config: the backbone's config dict (not yet checked field by field). tokenizer: the
    tokenizer's registered name. tokenizer_config: its config dict. weights: the `.h5` file.
    task / task_config: the task's registered name and config dict (None without task.json).
    """

    path: Path
    backbone: str
    config: dict[str, Any]
    tokenizer: str
    tokenizer_config: dict[str, Any]
    weights: Path
    task: str | None = None
    task_config: dict[str, Any] | None = None

    @property
    def task_weights(self) -> Path:
        """The task's own weights; `InputError` if task.json has none beside it."""
        path = self.path / "task.weights.h5"
        if not path.is_file():
            raise InputError(str(path), f"file not found: the {self.task} in task.json needs it")
        return path

    def asset(self, name: str) -> Path:
        """The tokenizer asset `name` (under assets/tokenizer/); `InputError` if it is absent."""
        path = self.path / "assets" / "tokenizer" / name
        if not path.is_file():
            raise InputError(str(path), f"file not found: the {self.tokenizer} tokenizer needs it")
        return path


def read_json(path: Path, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse `path` as JSON; `InputError` naming it for a missing, huge, binary or malformed file."""
    if not path.is_file():
        raise InputError(str(path), "file not found")
    if path.stat().st_size > max_bytes:
        raise InputError(str(path), f"larger than {max_bytes} bytes: not what a preset holds here")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(str(path), "not UTF-8 text") from None
    except ValueError as err:
        raise InputError(str(path), f"not valid JSON: {err}") from None


def _object(path: Path) -> tuple[str, dict[str, Any]]:
    """(registered name, config) of a Keras object file such as config.json."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(str(path), "expected a JSON object")
    name = data.get("registered_name") or data.get("class_name")
    if not isinstance(name, str):
        raise InputError(str(path), "expected a string", field="registered_name")
    config = data.get("config")
    if not isinstance(config, dict):
        raise InputError(str(path), "expected an object", field="config")
    return name, config


def read_preset(path: str | Path) -> Preset:
    """The preset at `path`, its files present and its JSON well formed."""
    path = Path(path)
    missing = [name for name in REQUIRED if not (path / name).is_file()]
    if not path.is_dir() or missing:
        raise InputError(
            str(path),
            "not a keras-hub preset folder (expected "
            + ", ".join(REQUIRED)
            + (f"; missing {', '.join(missing)})" if path.is_dir() else ")"),
        )
    backbone, config = _object(path / "config.json")
    tokenizer, tokenizer_config = _object(path / "tokenizer.json")
    task, task_config = (
        _object(path / "task.json") if (path / "task.json").exists() else (None, None)
    )
    return Preset(
        path,
        backbone,
        config,
        tokenizer,
        tokenizer_config,
        path / "model.weights.h5",
        task,
        task_config,
    )
