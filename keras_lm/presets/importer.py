"""`import_preset`: a keras-hub preset in, a keras_lm run directory out, checked against keras-hub.

The run directory is what `keras-lm train` writes (config.yaml, tokenizer/, model.keras,
metrics.json; a classifier's class names in metrics.json `labels`), so `generate`,
`classify`, `evaluate`, `export` and `bench` take it unchanged; the data set named in its
config supplies the held-out text that export verifies on. Before anything is written the
converted model is checked against keras-hub's own model on texts from that held-out
split by the architecture's `check` (`keras_lm.presets.checks`): a language model's logits
and greedy tokens (keras-hub's `CausalLM.generate()`), a classifier's logits and
predicted classes. What keras-hub produced is kept in `reference.json`. The folder
appears only when every check passed.

A classifier's class names are the `dataset`'s labels when it is labelled (their number
must be the head's), else "0", "1", ...; its number of classes is the preset's task head's,
else `classes`, else the number of those labels.

Example (needs a preset folder):
>>> import_preset(ImportConfig(preset="presets/tiny-gpt2", out="runs/tiny-gpt2"))  # doctest: +SKIP
PosixPath('runs/tiny-gpt2')
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable
from pathlib import Path

from keras_lm.config import Config
from keras_lm.config import at_least
from keras_lm.errors import InputError
from keras_lm.framing import Framing
from keras_lm.io import atomic_dir
from keras_lm.models.registry import get_family
from keras_lm.presets.architectures import architecture_of
from keras_lm.presets.checks import ImportCheckError
from keras_lm.presets.fetch import preset_folder
from keras_lm.presets.folder import read_preset
from keras_lm.runs import UPSTREAM

REFERENCE = UPSTREAM
__all__ = ["REFERENCE", "ImportCheckError", "ImportConfig", "import_preset"]


@dataclasses.dataclass(frozen=True)
class ImportConfig(Config):
    """Args:
    preset: a keras-hub preset folder or handle (`gpt2_base_en`, `kaggle://...`).
    out: the run directory to write (must not exist unless `overwrite`).
    context: int | None. Positions to keep (None: the preset's); a smaller KV cache, or a
        classifier's longest input.
    dataset: the data set whose valid split checks the import and, later, each export.
    data_dir: where data sets are looked for (else $KERAS_LM_DATA).
    classes: int | None. A classifier preset without a task head: the new head's classes
        (None: the number of `dataset`'s labels).
    check_prompts / check_tokens: texts from the valid split, greedy tokens per prompt (LMs).
    logits_atol: largest logit difference from keras-hub allowed.
    overwrite: replace an existing `out`.
    """

    RANGES = {
        "context": at_least(1),
        "classes": at_least(2),
        "check_prompts": at_least(1),
        "check_tokens": at_least(1),
        "logits_atol": at_least(0),
    }

    preset: str = ""
    out: str = ""
    context: int | None = None
    dataset: str = "stdlib-docs"
    data_dir: str | None = None
    classes: int | None = None
    check_prompts: int = 4
    check_tokens: int = 16
    logits_atol: float = 1e-4
    overwrite: bool = False


def import_preset(config: ImportConfig) -> Path:
    """Import `config.preset` into `config.out`; returns the run directory."""
    out = Path(config.out)
    if out.exists() and not config.overwrite:
        raise InputError(str(out), "already exists; choose another --out or pass --overwrite")
    preset = read_preset(preset_folder(config.preset))
    arch = architecture_of(preset)
    classify = get_family(arch.FAMILY).task == "classify"
    if config.classes is not None and not classify:
        raise InputError("--classes", f"applies to classifiers, not a {preset.backbone}")
    splits = functools.cache(lambda: _splits(config))  # loaded once, after the cheap checks

    def labels_of() -> list[str] | None:
        return _labels(splits()) if classify else None

    model_config = arch.model_config(preset, config.context, config.classes, labels_of)
    tokenizer = arch.load_tokenizer(preset)
    labels = labels_of()
    if labels and len(labels) != model_config.num_classes:
        raise InputError(
            config.dataset,
            f"{len(labels)} labels {labels}, but the classifier has {model_config.num_classes} "
            "classes; import with a data set of as many labels",
        )
    if tokenizer.vocab_size > model_config.vocab_size:
        raise InputError(
            str(preset.path / "assets" / "tokenizer"),
            f"{tokenizer.vocab_size} tokens, but the backbone embeds {model_config.vocab_size}",
        )
    run_config = _run_config(config, arch.FAMILY, model_config, tokenizer)
    texts = splits()["valid"].texts()
    if classify:
        labels = labels or [str(i) for i in range(model_config.num_classes)]
        prompts = _classifier_prompts(texts, tokenizer, run_config, config)
    else:
        head = Framing.prompt_head(model_config.to_dict(), tokenizer.specials)
        prompts = _lm_prompts(texts, tokenizer, config, model_config.context, head)
    hub = arch.hub_model(preset, model_config)
    model = arch.convert(hub, model_config)
    reference = arch.check(hub, model, prompts, config)
    reference["preset"] = config.preset
    with atomic_dir(out, overwrite=config.overwrite) as tmp:
        run_config.save(tmp / "config.yaml")
        tokenizer.save(tmp / "tokenizer")
        model.save(tmp / "model.keras")
        (tmp / REFERENCE).write_text(json.dumps(reference, indent=1) + "\n", encoding="utf-8")
        metrics = {"imported": {"preset": config.preset, "backbone": preset.backbone}}
        if labels is not None:
            metrics["labels"] = labels  # where `keras-lm train` keeps a classifier's classes
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return out


def _splits(config: ImportConfig) -> dict:
    """The data set's splits, cleaned as training would; a `valid` one (else `train`) checks."""
    from keras_lm.training.config import DataConfig
    from keras_lm.training.config import TrainConfig
    from keras_lm.training.fit import load_and_clean

    data = DataConfig(dataset=config.dataset, data_dir=config.data_dir)
    splits, _ = load_and_clean(TrainConfig(data=data), None)
    return {**splits, "valid": splits.get("valid") or splits["train"]}


def _labels(splits: dict) -> list[str] | None:
    """The train split's label names, as `keras-lm train` orders them (None: not labelled)."""
    train = splits["train"]
    return train.label_names() if train.kind == "labelled" else None


def _run_config(config: ImportConfig, family: str, model_config, tokenizer):
    from keras_lm.tokenizers.training import TokenizerConfig
    from keras_lm.training.config import DataConfig
    from keras_lm.training.config import TrainConfig

    options = tokenizer.options()
    words = {k: options[k] for k in ("lowercase", "strip_accents", "split_on_cjk") if k in options}
    # A classifier reads up to its whole position table (its preprocessor's sequence_length).
    lengths = {"max_length": model_config.max_length} if hasattr(model_config, "max_length") else {}
    return TrainConfig(
        name=Path(config.out).name,
        family=family,
        data=DataConfig(dataset=config.dataset, data_dir=config.data_dir, **lengths),
        tokenizer=TokenizerConfig(kind=tokenizer.kind, vocab_size=tokenizer.vocab_size, **words),
        model=model_config.to_dict(),
    )


def _lm_prompts(
    texts, tokenizer, config: ImportConfig, context: int, head: list[int]
) -> list[list[int]]:
    """The first lines of the valid split, encoded after `head` (a start id or nothing), each
    cut to leave room for the new tokens in the context."""
    room = max(1, min(32, context - config.check_tokens - len(head)))
    encoded = (tokenizer.encode(t.strip())[:room] for t in texts)
    return _first((head + ids for ids in encoded if ids), config)


def _classifier_prompts(texts, tokenizer, run_config, config: ImportConfig) -> list[list[int]]:
    """The first texts of the valid split, encoded and framed as the run will frame them."""
    data = run_config.data
    framing = Framing.of(run_config.model, tokenizer.specials, data.max_length)
    return _first((framing(tokenizer.encode(t.strip())) for t in texts if t.strip()), config)


def _first(rows: Iterable[list[int]], config: ImportConfig) -> list[list[int]]:
    """The first `config.check_prompts` non-empty rows."""
    prompts = []
    for ids in rows:
        if ids:
            prompts.append(ids)
        if len(prompts) == config.check_prompts:
            return prompts
    raise InputError(config.dataset, "its valid split has no text to check the import on")
