"""Verify an exported variant against the Keras model before its bundle is written.

Three levels, every failure collected into one `VerificationError` that names each
graph, output and difference:
1. graphs: the same output names, then shapes, then values (max |diff|) on probe
   inputs made from held-out text, graph by graph;
2. decoding: greedy tokens through the exported prefill/decode (or encode/decode)
   graphs against Keras's, on up to 20 held-out prompts or sources (argmax labels for
   classifiers);
3. task quality on held-out data: perplexity, BLEU or accuracy of the export against
   the Keras model's, recorded in the manifest.
Float32 variants must match to `atol` and decode identically; quantized variants must
keep argmax agreement and quality within `Tolerance`.

Example:
>>> compare_outputs({"logits": np.zeros((1, 2))}, {"logits": np.ones((1, 2))}, "decode", 1e-4)
['decode/logits: max |diff| 1 > 1e-04']
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from keras_lm.framing import Framing
from keras_lm.errors import KerasLMError
from keras_lm.inference.decoding import generate_lm
from keras_lm.inference.decoding import right_pad
from keras_lm.inference.decoding import translate_ids
from keras_lm.inference.sampling import SamplingConfig
from keras_lm.inference.sampling import log_softmax
from keras_lm.inference.text_model import TextModel
from keras_lm.models.family import Family


class VerificationError(KerasLMError):
    """An export differs from the Keras model beyond its tolerance; no bundle was written."""


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """How far a variant may drift from Keras.

    atol: max |diff| of every output (float32 variants only).
    min_argmax_agreement: share of probe positions whose argmax equals Keras's.
    min_token_agreement: share of greedy tokens equal to Keras's (1.0: identical).
    max_quality_delta: relative change of the task metric (perplexity up, BLEU or
        accuracy down) allowed, e.g. 0.02 is 2%.

    BLEU also has an absolute floor, `BLEU_NOISE_POINTS`: corpus BLEU on the ~100 probe
    sentences moves by about a point when a few words change, so a weak model's BLEU of
    2.7 falling to 2.4 is noise, not a 9% loss. A drop fails only past both bounds.
    """

    atol: float | None = 1e-4
    min_argmax_agreement: float = 1.0
    min_token_agreement: float = 1.0
    max_quality_delta: float = 0.0


BLEU_NOISE_POINTS = 0.5

TOLERANCES = {
    "float32": Tolerance(atol=1e-4, max_quality_delta=0.001),
    "fp16": Tolerance(
        atol=None, min_argmax_agreement=0.97, min_token_agreement=0.8, max_quality_delta=0.01
    ),
    "int8": Tolerance(
        atol=None, min_argmax_agreement=0.85, min_token_agreement=0.5, max_quality_delta=0.05
    ),
    "int8-full": Tolerance(
        atol=None, min_argmax_agreement=0.7, min_token_agreement=0.3, max_quality_delta=0.15
    ),
}
TOLERANCES["int8-weight-only"] = TOLERANCES["int8"]  # block-wise: closer than int8 (measured)
TOLERANCES["int4-weight-only"] = TOLERANCES["int8-full"]


def compare_outputs(expected: dict, got: dict, graph: str, atol: float | None) -> list[str]:
    """Names, then shapes, then values: one message per mismatch."""
    problems = []
    if set(expected) != set(got):
        return [f"{graph}: outputs {sorted(got)}, expected {sorted(expected)}"]
    for name in sorted(expected):
        a, b = np.asarray(expected[name]), np.asarray(got[name])
        if a.shape != b.shape:
            problems.append(f"{graph}/{name}: shape {b.shape}, expected {a.shape}")
            continue
        diff = float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0
        if atol is not None and not diff <= atol:
            problems.append(f"{graph}/{name}: max |diff| {diff:.3g} > {atol:.0e}")
    return problems


def max_differences(expected: dict, got: dict) -> dict[str, float]:
    return {
        k: float(np.max(np.abs(np.asarray(expected[k], np.float64) - got[k])))
        if np.size(expected[k])
        else 0.0
        for k in expected
        if k in got and np.shape(expected[k]) == np.shape(got[k])
    }


def argmax_agreement(expected: np.ndarray, got: np.ndarray) -> float:
    return float(np.mean(np.argmax(expected, -1) == np.argmax(got, -1)))


@dataclasses.dataclass
class Probe:
    """Held-out inputs per graph, and the texts (ids) decoding is checked on."""

    inputs: dict[str, dict[str, np.ndarray]]
    prompts: list[list[int]]
    references: list[list[int]] | None = None
    labels: list[int] | None = None
    windows: list[list[int]] | None = None  # LM perplexity windows
    contract: str = "graph_cache"  # the graphs' cache contract: which stepper decodes them
    detokenize: object = None  # ids -> text, for BLEU
    sources: list[list[int]] | None = None  # BLEU sources (more than `prompts`), with `references`
    upstream: dict | None = None  # an imported preset: {"prompts", "generated"} by its own library


def verify_variant(
    reference, candidate, family: Family, facts: dict, probe: Probe, tolerance: Tolerance, specials
) -> dict:
    """Check `candidate` graphs against `reference` (Keras) graphs; return the results or raise."""
    problems: list[str] = []
    results: dict = {"graphs": {}, "tolerance": dataclasses.asdict(tolerance)}
    agreements = []
    for graph, inputs in probe.inputs.items():
        inputs = fit_batch(candidate, graph, inputs)
        expected, got = reference.run(graph, **inputs), candidate.run(graph, **inputs)
        problems += compare_outputs(expected, got, graph, tolerance.atol)
        entry = {"max_abs_diff": max_differences(expected, got)}
        if "logits" in expected and np.shape(expected["logits"]) == np.shape(got.get("logits")):
            entry["argmax_agreement"] = argmax_agreement(expected["logits"], got["logits"])
            agreements.append(entry["argmax_agreement"])
        results["graphs"][graph] = entry
    if agreements and min(agreements) < tolerance.min_argmax_agreement:
        problems.append(
            f"argmax agreement {min(agreements):.3f} < {tolerance.min_argmax_agreement}"
        )
    decoding = decoding_agreement(reference, candidate, family, facts, probe, specials)
    results["decoding"] = decoding
    if decoding["token_agreement"] < tolerance.min_token_agreement:
        problems.append(
            f"greedy decoding: {decoding['identical']}/{decoding['examples']} identical, token agreement "
            f"{decoding['token_agreement']:.3f} < {tolerance.min_token_agreement}"
        )
    if probe.upstream:
        upstream = upstream_agreement(candidate, family, facts, probe)
        results["upstream"] = upstream
        if upstream["token_agreement"] < tolerance.min_token_agreement:
            problems.append(
                f"outputs against {upstream['source']}: {upstream['identical']}/"
                f"{upstream['examples']} identical, token agreement "
                f"{upstream['token_agreement']:.3f} < {tolerance.min_token_agreement}"
            )
    quality = task_quality(reference, candidate, family, facts, probe, specials)
    results["quality"] = quality
    if quality and _too_far(quality, tolerance):
        problems.append(
            f"{quality['metric']}: {quality['export']:.4g} against Keras {quality['keras']:.4g} "
            f"({quality['relative_delta']:+.2%} worse, allowed {tolerance.max_quality_delta:.1%})"
        )
    results["passed"] = not problems
    if problems:
        raise VerificationError("; ".join(problems))
    return results


def fit_batch(graphs, graph: str, inputs: dict) -> dict:
    """The first rows of `inputs` when `graph` has a fixed batch smaller than theirs."""
    specs = graphs.inputs(graph) if hasattr(graphs, "inputs") else {}
    fixed = [s[0][0] for s in specs.values() if s[0] and isinstance(s[0][0], int) and s[0][0] > 0]
    if not fixed:
        return inputs
    return {k: v[: min(fixed)] for k, v in inputs.items()}


def _decode_all(graphs, family, facts, probe, specials) -> list:
    config = SamplingConfig(max_new_tokens=24)
    if family.task == "classify":
        ids, mask = right_pad(probe.prompts)
        return np.argmax(
            graphs.run("classify", token_ids=ids, padding_mask=mask)["logits"], -1
        ).tolist()
    stepper = family.make_stepper(graphs, facts, probe.contract)
    if family.task == "lm":
        return generate_lm(stepper, probe.prompts, config, specials.end_id)
    return translate_ids(stepper, probe.prompts, config, specials.start_id, specials.end_id)


def decoding_agreement(reference, candidate, family, facts, probe, specials) -> dict:
    """Greedy outputs of both on the probe's prompts: identical examples and token agreement."""
    expected = _decode_all(reference, family, facts, probe, specials)
    got = _decode_all(candidate, family, facts, probe, specials)
    if family.task == "classify":
        same = sum(a == b for a, b in zip(expected, got, strict=True))
        return {
            "examples": len(expected),
            "identical": same,
            "token_agreement": same / max(len(expected), 1),
        }
    return token_agreement(expected, got)


def token_agreement(expected: list, got: list) -> dict:
    """Identical rows and the share of equal tokens, position by position.

    >>> token_agreement([[1, 2], [3]], [[1, 2], [4]])
    {'examples': 2, 'identical': 1, 'token_agreement': 0.6666666666666666}
    """
    pairs = list(zip(expected, got, strict=True))
    total = sum(max(len(a), len(b)) for a, b in pairs)
    equal = sum(sum(x == y for x, y in zip(a, b, strict=False)) for a, b in pairs)
    return {
        "examples": len(pairs),
        "identical": sum(a == b for a, b in pairs),
        "token_agreement": equal / total if total else 1.0,  # all empty: identical
    }


def upstream_agreement(candidate, family, facts, probe) -> dict:
    """Greedy tokens (a classifier: classes) of `candidate` against the model's own library's.

    One prompt at a time and never stopping at the end token, as they were generated
    (`keras_lm.presets.importer`); a classifier's `token_agreement` is its class agreement.
    """
    if family.task == "classify":
        want = [[c] for c in probe.upstream["classes"]]
        got = [
            [int(np.argmax(candidate.run("classify", token_ids=ids, padding_mask=mask)["logits"]))]
            for ids, mask in (right_pad([p]) for p in probe.upstream["prompts"])
        ]
        return {"source": probe.upstream["source"], **token_agreement(want, got)}
    stepper = family.make_stepper(candidate, facts, probe.contract)
    want = probe.upstream["generated"]
    got = [
        generate_lm(stepper, [prompt], SamplingConfig(max_new_tokens=len(row)), end_id=None)[0]
        for prompt, row in zip(probe.upstream["prompts"], want, strict=True)
    ]
    return {"source": probe.upstream["source"], **token_agreement(want, got)}


def task_quality(reference, candidate, family, facts, probe, specials) -> dict | None:
    """The task metric of both on the probe data: perplexity (LM), BLEU (seq2seq), accuracy."""
    if family.task == "lm" and probe.windows:
        keras, export = (
            _perplexity(family.make_stepper(g, facts, probe.contract), probe.windows)
            for g in (reference, candidate)
        )
        return _delta("perplexity", keras, export, lower_is_better=True)
    if family.task == "seq2seq" and probe.references and probe.detokenize:
        from keras_lm.evaluation.metrics import translation_scores

        refs = [probe.detokenize(r) for r in probe.references]
        quality = dataclasses.replace(probe, prompts=probe.sources or probe.prompts)
        keras, export = (
            translation_scores(
                [probe.detokenize(h) for h in _decode_all(g, family, facts, quality, specials)],
                refs,
            )["bleu"]
            for g in (reference, candidate)
        )
        return _delta("bleu", keras, export, lower_is_better=False)
    if family.task == "classify" and probe.labels is not None:
        keras, export = (
            float(np.mean(np.array(_decode_all(g, family, facts, probe, specials)) == probe.labels))
            for g in (reference, candidate)
        )
        return _delta("accuracy", keras, export, lower_is_better=False)
    return None


def _perplexity(stepper, windows: list[list[int]]) -> float:
    """Teacher-forced perplexity of equal-length `windows` through `stepper`: any LM contract."""
    ids = np.array(windows, np.int32)
    logits, state = stepper.prefill(ids[:, :1], np.ones_like(ids[:, :1]))
    nll = []
    for t in range(1, ids.shape[1]):
        nll.append(-log_softmax(logits)[np.arange(len(ids)), ids[:, t]])
        if t < ids.shape[1] - 1:
            logits, state = stepper.step(ids[:, t], state)
    return float(math.exp(np.mean(nll)))


def _too_far(quality: dict, tolerance: Tolerance) -> bool:
    """Whether the quality drop is past the relative bound (and, for BLEU, the noise floor).

    >>> _too_far({"metric": "bleu", "keras": 2.66, "export": 2.42, "relative_delta": 0.09},
    ...          Tolerance(max_quality_delta=0.05))
    False
    >>> _too_far({"metric": "bleu", "keras": 30.0, "export": 27.0, "relative_delta": 0.1},
    ...          Tolerance(max_quality_delta=0.05))
    True
    """
    if quality["relative_delta"] <= tolerance.max_quality_delta:
        return False
    if quality["metric"] == "bleu":
        return quality["keras"] - quality["export"] > BLEU_NOISE_POINTS
    return True


def _delta(metric: str, keras: float, export: float, lower_is_better: bool) -> dict:
    worse = (export - keras) if lower_is_better else (keras - export)
    return {
        "metric": metric,
        "keras": keras,
        "export": export,
        "relative_delta": worse / abs(keras) if keras else 0.0,
    }


TEXT_CHECKS = 5


def verify_text_signatures(savedmodel_dir, family: Family, reference, run, probe: Probe) -> dict:
    """The SavedModel's string signature against Keras greedy text on a few held-out inputs."""
    import tensorflow as tf  # verifying a SavedModel needs TensorFlow; the rest of this module not

    loaded = tf.saved_model.load(str(savedmodel_dir))
    texts = [run.tokenizer.decode(p) for p in probe.prompts[:TEXT_CHECKS]]
    if family.task == "classify":
        got = loaded.signatures["classify_text"](text=tf.constant(texts))["label"].numpy()
        framing, unk = run.framing(), run.tokenizer.specials.unk_id
        ids, mask = right_pad([framing(run.tokenizer.encode(t)) or [unk] for t in texts])
        labels = run.labels() or []
        want = [
            labels[i]
            for i in np.argmax(
                reference.run("classify", token_ids=ids, padding_mask=mask)["logits"], -1
            )
        ]
        got = [g.decode() for g in got]
        name = "classify_text"
    else:
        steps = 16
        stepper = family.make_stepper(reference, reference.facts)
        model = TextModel(stepper, run.tokenizer, family.task, family.name)
        model.prompt_head = tuple(Framing.prompt_head(run.config.model, run.tokenizer.specials))
        lm = family.task == "lm"
        name = "generate" if lm else "translate"
        call = loaded.signatures[name](text=tf.constant(texts), max_new_tokens=tf.constant(steps))
        got = [t.decode() for t in call["text"].numpy()]
        want = (
            model.generate(texts, max_new_tokens=steps)
            if lm
            else model.translate(texts, max_new_tokens=steps)
        )
    same = sum(a == b for a, b in zip(want, got, strict=True))
    if same != len(want):
        raise VerificationError(
            f"savedmodel {name}: {same}/{len(want)} texts equal Keras's, e.g. {got[0]!r} vs {want[0]!r}"
        )
    return {name: {"examples": len(want), "identical": same}}
