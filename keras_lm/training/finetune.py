"""Fine-tuning: a run that starts from another run's weights (`finetune.from_run`), fully or with LoRA.

The source is any run directory, one `keras-lm train` wrote or one `keras-lm import`
wrote from a keras-hub preset. Its family, model and tokenizer are the new run's (the
config's own are replaced, so a shipped data config can be reused as is); its
checkpoint's weights, placed by variable path, start training. With
`finetune.lora_rank`, only LoRA adapters on the attention query and value projections
train (`keras_lm.models.lora`); checkpoints hold the merged weights, `adapters.npz` the
adapters alone, and the backup both, unmerged, so a resumed run continues the adapters.

Example:
>>> from keras_lm.training.config import TrainConfig
>>> with_source(TrainConfig(family="lstm_lm")).family  # no finetune.from_run: unchanged
'lstm_lm'
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from keras_lm.errors import InputError
from keras_lm.training.config import CHECKPOINTS
from keras_lm.training.config import TrainConfig

log = logging.getLogger(__name__)
ADAPTERS = "adapters.npz"
BACKUP_LORA = "backup.lora.npz"


def _source(config: TrainConfig) -> Path:
    folder = Path(config.finetune.from_run)
    if not (folder / "config.yaml").is_file():
        raise InputError(
            str(folder), "finetune.from_run: not a run directory (no config.yaml)", field="from_run"
        )
    return folder


def with_source(config: TrainConfig) -> TrainConfig:
    """`config` with the source run's family, model and tokenizer (unchanged without a source)."""
    if config.finetune.from_run is None:
        return config
    source = TrainConfig.load(_source(config) / "config.yaml")
    data = config.data
    positions = source.model.get("max_length")  # a classifier's position table
    if positions is not None and data.max_length != positions:
        log.info(
            "data.max_length %d -> %d: the source's model.max_length", data.max_length, positions
        )
        data = dataclasses.replace(data, max_length=int(positions))
    return dataclasses.replace(
        config,
        family=source.family,
        model=dict(source.model),
        tokenizer=source.tokenizer,
        data=data,
    )


def source_checkpoint(config: TrainConfig) -> Path:
    """The source run's `best` (falling back to `final`) or `final` checkpoint file."""
    folder = _source(config)
    order = ["best", "final"] if config.finetune.checkpoint == "best" else ["final"]
    for name in order:
        if (folder / CHECKPOINTS[name]).is_file():
            return folder / CHECKPOINTS[name]
    raise InputError(str(folder), "finetune.from_run: the run has no checkpoint yet")


def copy_tokenizer(config: TrainConfig, folder: Path) -> None:
    """Save the source run's tokenizer into the new run's `folder`."""
    from keras_lm.tokenizers import load_tokenizer

    load_tokenizer(_source(config) / "tokenizer").save(folder)


def initialize(model, config: TrainConfig) -> list[str]:
    """Load the source weights into `model` by variable path, then enable LoRA if asked.

    Returns the LoRA-adapted layers' paths ([] for full fine-tuning).
    """
    from keras_lm.models.lora import enable_lora
    from keras_lm.models.saving import load_checkpoint

    path = source_checkpoint(config)
    values = {v.path: v for v in load_checkpoint(path).weights}
    missing = [v.path for v in model.weights if v.path not in values]
    if missing or len(values) != len(model.weights):
        raise InputError(
            str(path),
            f"its weights do not fit the model (unplaced: {missing[:3]}...)",
        )
    for variable in model.weights:
        variable.assign(values[variable.path])
    finetune = config.finetune
    if finetune.lora_rank is None:
        return []
    return enable_lora(model, finetune.lora_rank, finetune.lora_alpha)


def save_adapters(model, path: Path) -> None:
    """The LoRA adapters alone (`lora_kernel_a`/`_b` by path) as an `.npz`; nothing without LoRA."""
    from keras_lm.io import atomic_write
    from keras_lm.models.lora import lora_state

    state = {k: v for k, v in lora_state(model).items() if "/lora_kernel_" in k}
    if state:
        with atomic_write(path, "wb") as f:
            np.savez(f, **state)


def save_lora_backup(model, folder: Path) -> None:
    """The adapted layers' unmerged state beside the backup weights (nothing without LoRA)."""
    from keras_lm.io import atomic_write
    from keras_lm.models.lora import lora_state

    state = lora_state(model)
    if state:
        with atomic_write(folder / BACKUP_LORA, "wb") as f:
            np.savez(f, **state)


def restore_lora_backup(model, folder: Path) -> None:
    """Undo Keras's merge-on-save after `load_weights`: the adapters continue where they were."""
    from keras_lm.models.lora import has_lora
    from keras_lm.models.lora import set_lora_state

    path = folder / BACKUP_LORA
    if not has_lora(model):
        return
    if not path.is_file():
        raise InputError(str(folder), f"a LoRA run's backup has no {BACKUP_LORA}")
    with np.load(path, allow_pickle=False) as data:
        set_lora_state(model, {k: data[k] for k in data.files})
