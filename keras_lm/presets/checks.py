"""The checks an import passes before its run is written: ours against keras-hub's own model.

Each architecture module's `check(hub, model, prompts, config)` calls one of these with
how keras-hub computes its logits:
- `check_causal_lm`: logits within `config.logits_atol` on every prompt, then greedy
  tokens identical to keras-hub's `CausalLM.generate()` (`config.check_tokens` of them);
- `check_classifier`: logits within `config.logits_atol` on every framed text, and the
  predicted classes identical.
Each returns what `reference.json` keeps (`Run.upstream()` reads it back, and export
verification holds every bundle to it); each raises `ImportCheckError` otherwise.

Example:
>>> import numpy as np
>>> class Ours:
...     def __call__(self, feed): return np.asarray(feed["token_ids"], "float32")[:, :2]
>>> check_classifier(lambda ids, mask: np.asarray(ids, "float32")[:, :2], Ours(),
...     [[1, 0], [0, 1]], "demo", 1e-4)["classes"]
[0, 1]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from keras_lm.errors import KerasLMError
from keras_lm.inference.decoding import right_pad


class ImportCheckError(KerasLMError):
    """The converted model does not reproduce keras-hub's: nothing was written."""


def _feed(ids: list[int]) -> dict:
    return {"token_ids": np.array([ids], "int32"), "padding_mask": np.ones((1, len(ids)), "int32")}


def _gap(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, "float64") - np.asarray(b, "float64"))))


def _too_far(preset: str, worst: float, atol: float) -> None:
    if worst > atol:
        raise ImportCheckError(
            f"{preset}: logits differ from keras-hub's by {worst:.3g} (allowed {atol}); "
            "nothing was written"
        )


def check_causal_lm(
    hub_logits: Callable[[dict], object],
    causal_lm,
    model,
    prompts: list[list[int]],
    preset: str,
    atol: float,
    new_tokens: int,
) -> dict:
    """Logits of `model` against `hub_logits(feed)`, then greedy tokens against `causal_lm`'s."""
    worst = max(_gap(model(_feed(ids)), hub_logits(_feed(ids))) for ids in prompts)
    _too_far(preset, worst, atol)
    hub_tokens = _hub_greedy(causal_lm, prompts, new_tokens)
    ours = _our_greedy(model, prompts, new_tokens)
    same = sum(a == b for a, b in zip(hub_tokens, ours, strict=True))
    if same != len(prompts):
        raise ImportCheckError(
            f"{preset}: greedy tokens equal keras-hub's generate() on {same}/{len(prompts)} "
            "prompts; nothing was written"
        )
    return {
        "source": "keras-hub CausalLM.generate(), greedy, from token ids",
        "logits_max_abs_diff": worst,
        "prompts": prompts,
        "generated": hub_tokens,
    }


def check_classifier(
    hub_logits: Callable[[np.ndarray, np.ndarray], object],
    model,
    prompts: list[list[int]],
    preset: str,
    atol: float,
) -> dict:
    """Logits of `model` against `hub_logits(ids, mask)` on the framed `prompts`, right-padded
    in one batch, and the classes each predicts."""
    ids, mask = right_pad(prompts)
    hub = np.asarray(hub_logits(ids, mask))
    ours = np.asarray(model({"token_ids": ids, "padding_mask": mask}))
    worst = _gap(ours, hub)
    _too_far(preset, worst, atol)
    classes = [int(c) for c in np.argmax(hub, -1)]
    same = int(np.sum(np.argmax(ours, -1) == classes))
    if same != len(prompts):
        raise ImportCheckError(
            f"{preset}: predicted classes equal keras-hub's on {same}/{len(prompts)} texts; "
            "nothing was written"
        )
    return {
        "source": "keras-hub TextClassifier logits, from token ids",
        "logits_max_abs_diff": worst,
        "prompts": prompts,
        "classes": classes,
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
