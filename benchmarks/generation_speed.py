"""Cached against recomputed decoding, in-process Keras: tokens/s at several generated lengths.

The model has a shipped config's architecture with its context widened to hold the
whole sequence (prompt + the longest generation), so no window slides; its weights
are random, since only time is measured. Batch 1, greedy; every variant is warmed
up once before it is timed. `run_generation_speed(GenerationBenchConfig(...))` is
`keras-lm bench generate`.

Example:
>>> speedup({"tokens_per_s": 500.0}, {"tokens_per_s": 50.0})
10.0
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from keras_lm.config import Config
from keras_lm.io import write_text_atomic


@dataclasses.dataclass(frozen=True)
class GenerationBenchConfig(Config):
    """What `run_generation_speed` times; the fields of `keras-lm bench generate`'s options.

    config: the shipped config whose architecture is timed (random weights).
    lengths: new tokens per measurement.
    prompt_length: prompt tokens.
    out: folder for generate.json and generate.md.
    """

    config: str = "shakespeare-small"
    lengths: tuple[int, ...] = (64, 256, 512)
    prompt_length: int = 32
    out: str = "reports/bench"


def speedup(cached: dict, naive: dict) -> float:
    """Cached tokens/s over recomputed tokens/s."""
    return round(cached["tokens_per_s"] / naive["tokens_per_s"], 2)


def _model(config_name: str, context: int):
    import keras

    from keras_lm.models.registry import build_model
    from keras_lm.training.presets import load_config

    keras.utils.set_random_seed(0)
    config = load_config(config_name)
    fields = config.model_config(vocab_size=70).to_dict()
    if "context" in fields:
        fields["context"] = context
    return config.family, build_model(config.family, fields)


def _time_generation(stepper, prompt: list[int], new_tokens: int) -> dict:
    from keras_lm.inference.decoding import generate_lm
    from keras_lm.inference.sampling import SamplingConfig

    config = SamplingConfig(max_new_tokens=new_tokens)
    start = time.perf_counter()
    out = generate_lm(stepper, [prompt], config)
    seconds = time.perf_counter() - start
    return {
        "new_tokens": len(out[0]),
        "seconds": round(seconds, 3),
        "tokens_per_s": round(len(out[0]) / seconds, 1),
    }


def generation_speed(
    config_name: str = "shakespeare-small",
    lengths: tuple[int, ...] = (64, 256, 512),
    prompt_length: int = 32,
) -> list[dict]:
    """One row per generated length: cached and naive tokens/s and their ratio."""
    from keras_lm.generation.keras_graphs import RecomputeLMStepper
    from keras_lm.generation.keras_graphs import keras_stepper

    context = prompt_length + max(lengths)
    family, model = _model(config_name, context)
    prompt = np.random.default_rng(0).integers(5, 70, prompt_length).tolist()
    cached, naive = keras_stepper(model), RecomputeLMStepper(model, context)
    for stepper in (cached, naive):
        _time_generation(stepper, prompt, 8)  # trace and warm up
    rows = []
    for length in lengths:
        fast = _time_generation(cached, prompt, length)
        slow = _time_generation(naive, prompt, length)
        rows.append(
            {
                "config": config_name,
                "family": family,
                "context": context,
                "prompt": prompt_length,
                "new_tokens": length,
                "cached_tokens_per_s": fast["tokens_per_s"],
                "recompute_tokens_per_s": slow["tokens_per_s"],
                "speedup": speedup(fast, slow),
            }
        )
    return rows


def format_markdown(rows: list[dict]) -> str:
    lines = [
        "| config | family | context | prompt | new tokens | cached tok/s | recompute tok/s | speedup |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['family']} | {r['context']} | {r['prompt']} | {r['new_tokens']} "
            f"| {r['cached_tokens_per_s']} | {r['recompute_tokens_per_s']} | {r['speedup']}x |"
        )
    return "\n".join(lines)


def run_generation_speed(
    config: GenerationBenchConfig,
    command: str = "",
    progress: Callable[[str], None] | None = None,
) -> str:
    """Time both decoders; write `generate.json` and `generate.md` under `config.out`; the Markdown.

    >>> print(run_generation_speed(GenerationBenchConfig(lengths=(16,))))  # doctest: +SKIP
    """
    if progress:
        progress(f"timing {config.config} at {config.lengths} new tokens")
    rows = generation_speed(config.config, tuple(config.lengths), config.prompt_length)
    text = (
        f"Greedy decoding, batch 1, random weights.\n\nCommand: `{command}`\n\n"
        + format_markdown(rows)
    )
    out = Path(config.out)
    write_text_atomic(out / "generate.md", text + "\n")
    report = {"command": command, "rows": rows}
    write_text_atomic(out / "generate.json", json.dumps(report, indent=2) + "\n")
    return text
