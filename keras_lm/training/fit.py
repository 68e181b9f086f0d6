"""`train(config, run_dir)`: data -> tokenizer -> tf.data -> model.fit -> checkpoints, logs, metrics.

The run directory holds everything about the run:
    config.yaml  split.json  cleaning.json  tokenizer/  checkpoints/best.keras  backup/
    logs/train.csv  logs/samples.jsonl  model.keras  metrics.json
Running `train` again on the same directory resumes from the last backup (an epoch
end) and finishes the same number of steps as an uninterrupted run. A config whose
data set or file is absent fails before any model is built. A new run directory is
never half-written: it is built aside and renamed into place once its first files are
written and its model is built (`_run_folder`).

Example (tiny; about ten seconds):
>>> cfg = TrainConfig(family="lstm_lm")  # doctest: +SKIP
>>> result = train(cfg, "runs/demo-lm")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from keras_lm.data.cleaning import clean
from keras_lm.data.datasets import default_cleaning
from keras_lm.data.datasets import load
from keras_lm.errors import InputError
from keras_lm.errors import KerasLMError
from keras_lm.io import atomic_dir
from keras_lm.io import write_text_atomic
from keras_lm.models.registry import get_family
from keras_lm.training.config import CHECKPOINTS
from keras_lm.training.config import TrainConfig
from keras_lm.training.distribute import DistributeConfig
from keras_lm.training.distribute import make_distribution
from keras_lm.training.finetune import ADAPTERS
from keras_lm.training.finetune import copy_tokenizer
from keras_lm.training.finetune import initialize
from keras_lm.training.finetune import restore_lora_backup
from keras_lm.training.finetune import save_adapters
from keras_lm.training.finetune import with_source

log = logging.getLogger(__name__)


class TrainingError(KerasLMError):
    """Training stopped for a reason the user must act on (e.g. a NaN loss)."""


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    steps: int
    metrics: dict
    history: dict


def train(
    config: TrainConfig,
    run_dir: str | Path,
    verbose: int | str = "auto",
    callbacks: list | None = None,
    distribute: DistributeConfig | None = None,
) -> TrainResult:
    """Train `config` into `run_dir`, resuming from its backup when there is one.

    `callbacks` are extra Keras callbacks, run after keras_lm's own. `distribute` spreads
    the run over devices or workers (`keras_lm.training.distribute`); a non-chief worker
    writes beside it, `run_dir.worker-<rank>`, and removes that folder when the run has
    finished.
    """
    config = with_source(config)  # a fine-tuning run takes its source's family, model, tokenizer
    dist = make_distribution(distribute)
    dist.check_same_config(config)
    run_dir = dist.run_dir(Path(run_dir))
    _check_same_config(config, run_dir)
    with _run_folder(run_dir) as folder:
        model, task = _start(config, folder, dist)
    result = _fit(config, run_dir, model, task, verbose, callbacks or [], dist)
    dist.finish(run_dir)
    return result


@contextlib.contextmanager
def _run_folder(run_dir: Path) -> Iterator[Path]:
    """Where a run's first files go: the run itself when it is resumed, else a temporary sibling.

    Validating everything up front cannot catch what only building shows (a tokenizer that
    cannot train on the data, a model the sizes do not fit), so a new run is built aside,
    as exports are, and renamed into place when the block succeeds; on failure it is removed
    and `run_dir` stays as it was (absent, or empty), ready for a corrected config.
    """
    if (run_dir / "config.yaml").is_file():
        yield run_dir
        return
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise InputError(
            run_dir, "exists and holds no run (no config.yaml): give a new or empty run directory"
        )
    with atomic_dir(run_dir, overwrite=True) as folder:  # replaces only an empty folder
        yield folder


def _start(config: TrainConfig, folder: Path, dist):
    """Write the run's config, splits and tokenizer into `folder`; (compiled model, task)."""
    import keras

    from keras_lm.training import callbacks as cb
    from keras_lm.training.compile import compile_model
    from keras_lm.training.tasks import build_task

    splits, info = load_and_clean(config, folder)  # fails here, before any model, if data is absent
    config.save(folder / "config.yaml")
    info.save(folder / "split.json")
    keras.utils.set_random_seed(config.loop.seed)
    keras.config.set_dtype_policy("mixed_bfloat16" if config.loop.mixed_precision else "float32")
    cb.remove_temporaries(folder)
    tokenizer = _tokenizer(config, splits, folder / "tokenizer")
    task = build_task(get_family(config.family).task, splits, tokenizer, config)
    dist.check_batch(config.loop.batch_size)
    with dist.scope():
        model = _build(config, task)
        if config.finetune.from_run:
            adapted = initialize(model, config)  # before compiling: LoRA changes what trains
            log.info(
                "started from %s%s",
                config.finetune.from_run,
                f", LoRA on {len(adapted)} layers" if adapted else "",
            )
        compile_model(model, config, dist.replicas)
        dist.prepare(model, task.train.element_spec)
    return model, task


def _fit(
    config: TrainConfig, run_dir: Path, model, task, verbose, extra: list, dist
) -> TrainResult:
    import keras

    from keras_lm.training import callbacks as cb
    from keras_lm.training.averaging import WeightAverage
    from keras_lm.training.averaging import snapshot_steps

    source = dist.backup_source(run_dir / "backup", cb.read_backup)
    backup = cb.read_backup(source)
    dist.check_agree([(backup or {}).get("epoch", 0)], "the epoch to resume from")
    with dist.scope():
        initial_epoch = _restore(model, backup, source)
    best = cb.BestCheckpoint(
        run_dir / "checkpoints" / "best.keras", best=(backup or {}).get("best") or float("inf")
    )
    guard = cb.NaNGuard()
    callbacks = [
        guard,
        best,
        cb.Backup(run_dir / "backup", best),
        keras.callbacks.CSVLogger(str(run_dir / "logs" / "train.csv"), append=initial_epoch > 0),
    ]
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    if task.sample is not None and dist.is_chief:
        callbacks.append(
            cb.TextSample(
                task.sample,
                run_dir / "logs" / "samples.jsonl",
                eager=dist.kind == "multiworker",
            )
        )
    if config.loop.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(patience=config.loop.early_stopping_patience)
        )
    if config.loop.average_share:
        loop = config.loop
        callbacks.append(
            WeightAverage(
                run_dir / CHECKPOINTS["averaged"],
                snapshot_steps(
                    loop.max_steps, round(loop.average_share * loop.max_steps), loop.average_every
                ),
            )
        )
    if config.loop.tensorboard and dist.is_chief:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "logs" / "tensorboard")))
    callbacks += extra
    epochs, steps_per_epoch = config.loop.schedule()
    valid = (
        task.valid.take(config.loop.eval_steps)
        if task.valid is not None and config.loop.eval_steps
        else task.valid
    )
    start = time.perf_counter()
    history = model.fit(
        dist.dataset(task.train.skip(initial_epoch * steps_per_epoch)),
        validation_data=dist.dataset(valid),
        epochs=epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the tf.data pipeline shuffles, seeded
    )
    seconds = time.perf_counter() - start
    steps = int(model.optimizer.iterations.numpy())
    if guard.bad_step is not None:
        raise TrainingError(
            f"the loss became NaN at step {guard.bad_step}; training stopped. The last good checkpoint is "
            f"{best.path} (epoch {best.best_epoch or (backup or {}).get('epoch')}); lower optimizer.learning_rate "
            "or set optimizer.clipnorm, then run again"
        )
    task = dataclasses.replace(task, valid=dist.dataset(task.valid))
    return _finish(model, run_dir, history.history, steps, seconds, task, initial_epoch, config)


def _finish(model, run_dir, history, steps, seconds, task, initial_epoch, config) -> TrainResult:
    from keras_lm.training.callbacks import save_model_atomic

    save_model_atomic(model, run_dir / "model.keras")  # adapters merged, as Keras saves them
    save_adapters(model, run_dir / ADAPTERS)
    trained_steps = steps - initial_epoch * config.loop.schedule()[1]
    metrics = {
        "steps": steps,
        "seconds_this_session": round(seconds, 2),
        "tokens_per_s": round(task.tokens_per_step * trained_steps / seconds, 1)
        if seconds
        else None,
        "final": {k: float(v[-1]) for k, v in history.items() if v},
        "params": int(model.count_params()),
    }
    if task.labels is not None:
        metrics["labels"] = task.labels
    if task.valid is not None:  # the whole validation split, not the per-epoch sample of it
        metrics["valid"] = {
            k: float(v) for k, v in model.evaluate(task.valid, verbose=0, return_dict=True).items()
        }
    write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return TrainResult(run_dir, steps, metrics, history)


def load_and_clean(config: TrainConfig, run_dir: Path | None):
    """The config's data set, split and cleaned; the cleaning counts go to `run_dir` when given."""
    ds = load(config.data.dataset, data_dir=config.data.data_dir, seed=config.data.seed)
    splits = dict(ds.splits)
    if config.data.clean:
        rules = config.data.cleaning or default_cleaning(ds)
        results = {name: clean(corpus, rules) for name, corpus in splits.items()}
        splits = {name: result.corpus for name, result in results.items()}
        summary = {name: result.to_dict() for name, result in results.items()}
        if run_dir is not None:
            write_text_atomic(run_dir / "cleaning.json", json.dumps(summary, indent=2) + "\n")
    cap, train_rows = config.data.max_train_rows, splits["train"].records
    if cap is not None and len(train_rows) > cap:
        log.info(
            "data.max_train_rows: training on the first %d of %d train rows", cap, len(train_rows)
        )
        splits["train"] = splits["train"].replace(train_rows[:cap])
    return splits, ds.info


def _tokenizer(config: TrainConfig, splits, folder: Path):
    from keras_lm.tokenizers import load_tokenizer
    from keras_lm.tokenizers import train_tokenizer

    if config.finetune.from_run and not (folder / "tokenizer.json").is_file():
        copy_tokenizer(config, folder)
    if (folder / "tokenizer.json").is_file():
        return load_tokenizer(folder)
    tokenizer = train_tokenizer(splits["train"].texts(), config.tokenizer)
    tokenizer.save(folder)
    return tokenizer


def _build(config: TrainConfig, task):
    from keras_lm.models.registry import build_model

    return build_model(config.family, config.model_config(**task.fixed).to_dict())


def _restore(model, backup: dict | None, folder: Path) -> int:
    """Load the backup's model and optimizer weights; return the epoch to start from."""
    if backup is None:
        return 0
    model.optimizer.build(model.trainable_variables)
    model.load_weights(folder / "backup.weights.h5")
    restore_lora_backup(model, folder)
    log.info("resuming from epoch %d (step %d)", backup["epoch"], backup["step"])
    return int(backup["epoch"])


def _check_same_config(config: TrainConfig, run_dir: Path) -> None:
    saved = run_dir / "config.yaml"
    if saved.is_file() and TrainConfig.load(saved) != config:
        raise KerasLMError(
            f"{run_dir} holds a run with a different config; use another run directory or delete it"
        )
