"""The training run's configuration: one YAML file, the same from the CLI and from Python.

A `TrainConfig` names the data set, the tokenizer, the model family and its
config, the optimizer and the loop. `keras-lm train --config FILE --set a.b=c`
and `TrainConfig.load(FILE).with_overrides([...])` build the same object; an
unknown key or a value of the wrong type is rejected by name, the model section
included (it is checked against the family's own config class).

Example:
>>> cfg = TrainConfig(family="lstm_lm").with_overrides(["optimizer.learning_rate=0.003"])
>>> cfg.optimizer.learning_rate
0.003
"""

from __future__ import annotations

import dataclasses
import string
from typing import Any
from typing import Literal

from keras_lm.config import FRACTION
from keras_lm.config import Config
from keras_lm.config import above
from keras_lm.config import at_least
from keras_lm.data.cleaning import CleaningConfig
from keras_lm.errors import ConfigError
from keras_lm.models.registry import config_from_dict
from keras_lm.models.registry import get_family
from keras_lm.tokenizers import TokenizerConfig


@dataclasses.dataclass(frozen=True)
class DataConfig(Config):
    """Args:
    dataset: str. A registered or embedded data set name, or a corpus file.
    data_dir: str | None. Where data sets are looked for (else $KERAS_LM_DATA).
    clean: bool. Apply the cleaning rules of the corpus kind before tokenizing.
    cleaning: CleaningConfig | None. Rules to use instead of the kind's defaults.
    seed: int. Seed of the splits made where a data set has none.
    max_source_length / max_target_length / max_length: token limits (seq2seq / classifier).
    overflow: what to do with longer rows: "error", "truncate" or "drop".
    bucket_width: int. Seq2seq and classifier training batches rows of similar length, in
        buckets this many tokens wide, so a batch pads to less (0: one random mix, padded
        to its longest row).
    batch_tokens: int. With buckets, each training batch holds as many rows as fit this many
        padded tokens at its bucket's longest length, so short rows come in bigger batches
        and every step sees about the same number of tokens (0: `loop.batch_size` rows).
    max_train_rows: int | None. Train on the first N rows of the cleaned train split (a quick
        run in a notebook); valid and test are kept whole. The cap is logged. None: all rows.
    prompt_template: str. A language model trained on pairs (a parallel corpus) reads each
        as the prompt `prompt_template.format(source=...)` followed by the target, the
        loss on the target only; `max_length` bounds the whole row.
    """

    RANGES = {
        "seed": at_least(0),
        "max_source_length": at_least(1),
        "max_target_length": at_least(1),
        "max_length": at_least(1),
        "bucket_width": at_least(0),  # 0: off
        "batch_tokens": at_least(0),  # 0: off
        "max_train_rows": at_least(1),  # None: all rows
    }

    dataset: str = "stdlib-sigs"
    data_dir: str | None = None
    clean: bool = True
    cleaning: CleaningConfig | None = None
    seed: int = 1337
    max_source_length: int = 64
    max_target_length: int = 64
    max_length: int = 64
    overflow: Literal["error", "truncate", "drop"] = "drop"
    bucket_width: int = 0
    batch_tokens: int = 0
    max_train_rows: int | None = None
    prompt_template: str = "{source}\n"

    def __post_init__(self):
        super().__post_init__()
        if self.batch_tokens and not self.bucket_width:
            raise ConfigError(
                f"data.batch_tokens ({self.batch_tokens}) batches by bucket: set data.bucket_width too"
            )
        try:
            parts = list(string.Formatter().parse(self.prompt_template))
        except ValueError:  # an unmatched brace
            parts = [(None, "?", None, None)]
        if [f for _, f, _, _ in parts if f is not None] != ["source"]:
            raise ConfigError(
                "data.prompt_template must name the field {source} once and nothing else, "
                f"got {self.prompt_template!r}"
            )


@dataclasses.dataclass(frozen=True)
class OptimizerConfig(Config):
    """AdamW with linear warmup then cosine decay to `min_learning_rate`, and gradient clipping.

    `clipnorm` clips the global norm of all gradients together (None: no clipping).
    `epsilon` is added to Adam's square-root second moment (Keras' placement: before bias
    correction of the second moment).
    """

    RANGES = {
        "learning_rate": above(0),
        "min_learning_rate": at_least(0),
        "warmup_steps": at_least(0),
        "weight_decay": at_least(0),
        "beta_1": FRACTION,
        "beta_2": FRACTION,
        "epsilon": above(0),
        "clipnorm": above(0),  # None: no clipping
        "label_smoothing": FRACTION,
    }

    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta_1: float = 0.9
    beta_2: float = 0.99
    epsilon: float = 1e-7
    clipnorm: float | None = 1.0
    label_smoothing: float = 0.0


@dataclasses.dataclass(frozen=True)
class LoopConfig(Config):
    """Args:
    batch_size: int. Sequences per step.
    sequence_length: int. Window length for language models.
    window_stride: int. Language models train on windows starting every this many tokens,
        reshuffled each epoch: 1 (the default) is every position, like nanoGPT's random
        offsets; `sequence_length` is one fixed chunking of the text, which a small model
        memorises within a few passes.
    max_steps: int. Total optimizer steps of the run.
    steps_per_epoch: int. Steps between evaluations, checkpoints and backups.
    eval_steps: int | None. Validation batches per evaluation (None: the whole split).
    early_stopping_patience: int | None. Epochs without improvement before stopping.
    mixed_precision: bool. bfloat16 compute, float32 variables and logits.
    jit_compile: bool. XLA-compile the train step (always on under the JAX backend).
    steps_per_execution: int. Train steps per call into the compiled graph (fewer Python round trips).
    sample_prompt: str | None. Text generated greedily at each epoch end (generative families).
    average_share: float. Also save the mean of the weights over this share of the run's
        last steps, one snapshot every `average_every` steps, as `checkpoints/averaged.keras`
        (`--checkpoint averaged`); 0: no average. A share, not a step count, so that it
        holds when `max_steps` is overridden.
    average_every: int. Steps between two snapshots of the average.
    seed: int. Seed of weights, shuffling and dropout.
    """

    RANGES = {
        "batch_size": at_least(1),
        "sequence_length": at_least(1),
        "window_stride": at_least(1),
        "max_steps": at_least(1),
        "steps_per_epoch": at_least(1),
        "eval_steps": at_least(1),  # None: the whole split
        "early_stopping_patience": at_least(0),  # 0 or None: no early stopping
        "steps_per_execution": at_least(1),
        "average_share": FRACTION,
        "average_every": at_least(1),
        "seed": at_least(0),
    }

    batch_size: int = 32
    sequence_length: int = 64
    window_stride: int = 1
    max_steps: int = 1000
    steps_per_epoch: int = 250
    eval_steps: int | None = 20
    early_stopping_patience: int | None = None
    mixed_precision: bool = False
    jit_compile: bool = False
    steps_per_execution: int = 1
    sample_prompt: str | None = None
    tensorboard: bool = False
    average_share: float = 0.0
    average_every: int = 100
    seed: int = 0

    def __post_init__(self):
        super().__post_init__()
        if not 1 <= self.window_stride <= self.sequence_length:
            raise ConfigError(
                f"loop.window_stride ({self.window_stride}) must be between 1 and "
                f"loop.sequence_length ({self.sequence_length})"
            )
        epoch = min(self.steps_per_epoch, self.max_steps)
        if self.max_steps <= 0 or epoch <= 0 or self.max_steps % epoch:
            raise ConfigError(
                f"loop.max_steps ({self.max_steps}) must be a positive multiple of "
                f"loop.steps_per_epoch ({self.steps_per_epoch})"
            )
        if self.steps_per_execution < 1 or epoch % self.steps_per_execution:
            # Keras would run whole executions past the epoch's end (7 steps at 3 a call run 9).
            raise ConfigError(
                f"loop.steps_per_execution ({self.steps_per_execution}) must divide "
                f"the steps of an epoch ({epoch})"
            )

    def schedule(self) -> tuple[int, int]:
        """(epochs, steps per epoch): the run is exactly `max_steps` steps."""
        epoch = min(self.steps_per_epoch, self.max_steps)
        return self.max_steps // epoch, epoch


# Where a run directory holds its models; `best` falls back to `final` before the first epoch ends.
CHECKPOINTS = {
    "best": "checkpoints/best.keras",
    "final": "model.keras",
    "averaged": "checkpoints/averaged.keras",  # loop.average_share > 0
}


@dataclasses.dataclass(frozen=True)
class FinetuneConfig(Config):
    """Start from another run's weights (`keras-lm train --from RUN`), fully or with LoRA.

    from_run: str | None. A run directory (`keras-lm train` or `keras-lm import`); its
        family, model and tokenizer replace this config's, its weights start training.
    checkpoint: "best" or "final" weights of `from_run`.
    lora_rank: int | None. Train only rank-`lora_rank` adapters on the attention query and
        value projections (keras-hub's LoRA targets); None trains every weight.
    lora_alpha: float | None. The adapters' scale numerator (None: `lora_rank`, scale 1).
    """

    RANGES = {"lora_rank": above(0), "lora_alpha": above(0)}

    from_run: str | None = None
    checkpoint: Literal["best", "final"] = "best"
    lora_rank: int | None = None
    lora_alpha: float | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.lora_rank is not None and self.from_run is None:
            raise ConfigError(
                "finetune.lora_rank needs finetune.from_run (LoRA adapts trained weights)"
            )


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    """A whole training run."""

    name: str = "run"
    family: str = "transformer_lm"  # a key of keras_lm.models.FAMILIES
    data: DataConfig = DataConfig()
    tokenizer: TokenizerConfig = TokenizerConfig(kind="char")
    model: dict[str, Any] = dataclasses.field(default_factory=dict)
    optimizer: OptimizerConfig = OptimizerConfig()
    loop: LoopConfig = LoopConfig()
    finetune: FinetuneConfig = FinetuneConfig()

    def __post_init__(self):
        super().__post_init__()
        # Check the model section against the family's config now, and store it complete,
        # so that `--set model.x=...` can name every field and a typo fails before any work.
        full = (
            get_family(self.family).config.from_dict(dict(self.model), _prefix="model.").to_dict()
        )
        object.__setattr__(self, "model", full)

    def model_config(self, **fixed):
        """The family's config object, with the `fixed` fields it has (vocab_size, ...) set from the data."""
        known = {k: v for k, v in fixed.items() if k in self.model}
        config = config_from_dict(self.family, {**self.model, **known})
        context = getattr(config, "context", None)
        if context is not None and self.loop.sequence_length > context:
            raise ConfigError(
                f"loop.sequence_length ({self.loop.sequence_length}) is longer than model.context ({context})"
            )
        return config
