"""`import_preset`: a keras-hub preset in, a keras_lm run directory out, checked against keras-hub.

The run directory is what `keras-lm train` writes (config.yaml, tokenizer/, model.keras,
metrics.json), so `generate`, `evaluate`, `export` and `bench` take it unchanged; the
data set named in its config supplies the held-out text that export verifies on. Before
anything is written the converted model is checked against keras-hub's own model on
prompts from that held-out split: logits within `ImportConfig.logits_atol`, and greedy
tokens identical to keras-hub's `CausalLM.generate()`. The tokens keras-hub generated
are kept in `reference.json`. The folder appears only when every check passed.

Example (needs a preset folder):
>>> import_preset(ImportConfig(preset="presets/tiny-gpt2", out="runs/tiny-gpt2"))  # doctest: +SKIP
PosixPath('runs/tiny-gpt2')
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from keras_lm.config import Config
from keras_lm.errors import InputError
from keras_lm.errors import KerasLMError
from keras_lm.io import atomic_dir
from keras_lm.presets.architectures import architecture_of
from keras_lm.presets.fetch import preset_folder
from keras_lm.presets.folder import read_preset
from keras_lm.runs import UPSTREAM

REFERENCE = UPSTREAM


class ImportCheckError(KerasLMError):
    """The converted model does not reproduce keras-hub's: nothing was written."""


@dataclasses.dataclass(frozen=True)
class ImportConfig(Config):
    """Args:
    preset: a keras-hub preset folder or handle (`gpt2_base_en`, `kaggle://...`).
    out: the run directory to write (must not exist unless `overwrite`).
    context: int | None. Positions to keep (None: the preset's); a smaller KV cache.
    dataset: the data set whose valid split checks the import and, later, each export.
    data_dir: where data sets are looked for (else $KERAS_LM_DATA).
    check_prompts / check_tokens: prompts from the valid split, greedy tokens per prompt.
    logits_atol: largest logit difference from keras-hub allowed.
    overwrite: replace an existing `out`.
    """

    preset: str = ""
    out: str = ""
    context: int | None = None
    dataset: str = "stdlib-docs"
    data_dir: str | None = None
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
    model_config = arch.model_config(preset.config, config.context)
    tokenizer = arch.load_tokenizer(preset)
    if tokenizer.vocab_size > model_config.vocab_size:
        raise InputError(
            str(preset.path / "assets" / "tokenizer"),
            f"{tokenizer.vocab_size} tokens, but the backbone embeds {model_config.vocab_size}",
        )
    run_config = _run_config(config, arch.FAMILY, model_config, tokenizer)
    prompts = _prompts(run_config, tokenizer, config, model_config.context)
    backbone = arch.hub_backbone(preset)
    model = arch.convert(backbone, model_config)
    reference = _check(arch, backbone, model, prompts, config)
    reference["preset"] = config.preset
    with atomic_dir(out, overwrite=config.overwrite) as tmp:
        run_config.save(tmp / "config.yaml")
        tokenizer.save(tmp / "tokenizer")
        model.save(tmp / "model.keras")
        (tmp / REFERENCE).write_text(json.dumps(reference, indent=1) + "\n", encoding="utf-8")
        metrics = {"imported": {"preset": config.preset, "backbone": preset.backbone}}
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return out


def _run_config(config: ImportConfig, family: str, model_config, tokenizer):
    from keras_lm.tokenizers.training import TokenizerConfig
    from keras_lm.training.config import DataConfig
    from keras_lm.training.config import TrainConfig

    return TrainConfig(
        name=Path(config.out).name,
        family=family,
        data=DataConfig(dataset=config.dataset, data_dir=config.data_dir),
        tokenizer=TokenizerConfig(kind=tokenizer.kind, vocab_size=tokenizer.vocab_size),
        model=model_config.to_dict(),
    )


def _prompts(run_config, tokenizer, config: ImportConfig, context: int) -> list[list[int]]:
    """The first lines of the valid split, encoded, each cut to leave room for the new tokens."""
    from keras_lm.training.fit import load_and_clean

    splits, _ = load_and_clean(run_config, None)
    room = max(1, min(32, context - config.check_tokens))
    prompts = []
    for text in splits["valid"].texts():
        ids = tokenizer.encode(text.strip())[:room]
        if ids:
            prompts.append(ids)
        if len(prompts) == config.check_prompts:
            return prompts
    raise InputError(config.dataset, "its valid split has no text to check the import on")


def _check(arch, backbone, model, prompts: list[list[int]], config: ImportConfig) -> dict:
    """Logits and greedy tokens of `model` against keras-hub's; `ImportCheckError` if they differ."""
    worst = 0.0
    for ids in prompts:
        feed = {
            "token_ids": np.array([ids], "int32"),
            "padding_mask": np.ones((1, len(ids)), "int32"),
        }
        hub = backbone.token_embedding(backbone(feed), reverse=True)
        worst = max(worst, float(np.max(np.abs(np.asarray(model(feed)) - np.asarray(hub)))))
    if worst > config.logits_atol:
        raise ImportCheckError(
            f"{config.preset}: logits differ from keras-hub's by {worst:.3g} "
            f"(allowed {config.logits_atol}); nothing was written"
        )
    hub_tokens = _hub_greedy(arch.hub_causal_lm(backbone), prompts, config.check_tokens)
    ours = _our_greedy(model, prompts, config.check_tokens)
    same = sum(a == b for a, b in zip(hub_tokens, ours, strict=True))
    if same != len(prompts):
        raise ImportCheckError(
            f"{config.preset}: greedy tokens equal keras-hub's generate() on {same}/{len(prompts)} "
            "prompts; nothing was written"
        )
    return {
        "source": "keras-hub CausalLM.generate(), greedy, from token ids",
        "logits_max_abs_diff": worst,
        "prompts": prompts,
        "generated": hub_tokens,
    }


def _hub_greedy(causal_lm, prompts: list[list[int]], new: int) -> list[list[int]]:
    """keras-hub's greedy continuation of each prompt (one at a time: no padding involved)."""
    found = []
    for ids in prompts:
        width = len(ids) + new
        token_ids = np.zeros((1, width), "int32")
        token_ids[0, : len(ids)] = ids
        mask = np.arange(width)[None] < len(ids)
        out = causal_lm.generate(
            {"token_ids": token_ids, "padding_mask": mask}, stop_token_ids=None
        )
        found.append([int(t) for t in np.asarray(out["token_ids"])[0, len(ids) : width]])
    return found


def _our_greedy(model, prompts: list[list[int]], new: int) -> list[list[int]]:
    from keras_lm.generation.keras_graphs import keras_stepper
    from keras_lm.inference.decoding import generate_lm
    from keras_lm.inference.sampling import SamplingConfig

    stepper = keras_stepper(model, True, new)
    config = SamplingConfig(max_new_tokens=new)
    return [generate_lm(stepper, [ids], config, end_id=None)[0] for ids in prompts]
