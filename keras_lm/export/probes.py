"""Held-out inputs that exports are verified on, made from a run's validation split.

Every graph gets inputs a real caller would send: prompts of different lengths, and
caches and states produced by the Keras model itself (not random tensors). They are
recorded from the family's own stepper run on the reference graphs (`Recorder`), so
a new family gets probes for its graphs without a line here.

Example:
>>> windows_from_ids(list(range(100)), count=3, length=10)[1][:3]
[44, 45, 46]
"""

from __future__ import annotations

import numpy as np

from keras_lm.export.verify import Probe
from keras_lm.framing import Framing
from keras_lm.inference.decoding import left_pad
from keras_lm.inference.decoding import right_pad
from keras_lm.models.family import Family

PROMPTS = 20
BLEU_SOURCES = 100  # BLEU on 20 sentences is too noisy to hold a quantized export to a bound
DEFAULT_CONTEXT = 64


class Recorder:
    """`graphs` that pass every call through and keep the last inputs of each graph."""

    def __init__(self, graphs):
        self.graphs, self.calls = graphs, {}

    @property
    def names(self) -> list[str]:
        return self.graphs.names

    def inputs(self, name: str) -> dict:
        return self.graphs.inputs(name)

    def run(self, name: str, **inputs) -> dict:
        self.calls[name] = {k: np.array(v) for k, v in inputs.items()}  # a copy: steppers write in place
        return self.graphs.run(name, **inputs)


def windows_from_ids(ids: list[int], count: int, length: int) -> list[list[int]]:
    """`count` windows of `length` tokens spread evenly over `ids`."""
    if len(ids) <= length:
        return [list(ids)] * count
    starts = np.linspace(0, len(ids) - length - 1, count).astype(int)
    return [list(ids[s : s + length]) for s in starts]


def build_probe(
    reference,
    family: Family,
    facts: dict,
    corpus,
    tokenizer,
    labels=None,
    max_source_length: int | None = None,
    max_length: int = 64,
    contract: str = "graph_cache",
    framing: Framing | None = None,
) -> Probe:
    """A `Probe` for `family` from the held-out `corpus`, its graph inputs made by `reference`.

    Sources are cut to `max_source_length` (the model's limit); a classifier's texts are
    framed by `framing` (None: cut to `max_length`). `contract` is the cache contract of
    `reference`'s graphs (`keras_lm.inference.manifest.CONTRACTS`).
    """
    if family.task == "lm":
        return _lm_probe(reference, family, facts, corpus, tokenizer, contract)
    if family.task == "seq2seq":
        return _seq2seq_probe(
            reference, family, facts, corpus, tokenizer, max_source_length, contract
        )
    return _classifier_probe(corpus, tokenizer, labels, framing or Framing(max_length))


def recorded_lm_inputs(
    reference, family: Family, facts: dict, prompts: list[list[int]], contract: str = "graph_cache"
) -> dict:
    """Each graph's inputs as the stepper sends them: a prefill of `prompts`, then one step."""
    recorder = Recorder(reference)
    stepper = family.make_stepper(recorder, facts, contract)
    logits, state = stepper.prefill(*left_pad(prompts))
    stepper.step(np.argmax(logits, -1).astype(np.int32), state)
    return recorder.calls


def _lm_probe(reference, family, facts, corpus, tokenizer, contract) -> Probe:
    ids = tokenizer.encode("\n".join(corpus.texts()))
    length = min(facts.get("context") or DEFAULT_CONTEXT, DEFAULT_CONTEXT)
    prompts = [
        w[: 8 + (i * 5) % max(length // 2 - 8, 1)]
        for i, w in enumerate(windows_from_ids(ids, PROMPTS, length))
    ]
    inputs = recorded_lm_inputs(reference, family, facts, prompts[:4], contract)
    windows = windows_from_ids(ids, 16, length)  # perplexity, teacher-forced through the stepper
    return Probe(inputs, prompts, windows=windows, contract=contract)


def _seq2seq_probe(
    reference, family, facts, corpus, tokenizer, max_source_length, contract
) -> Probe:
    records = list(corpus)[:: max(len(corpus) // BLEU_SOURCES, 1)][:BLEU_SOURCES]
    all_sources = [tokenizer.encode(r.source) for r in records]
    limit = max_source_length or max(len(s) for s in all_sources)
    all_sources = [s[:limit] or [tokenizer.specials.unk_id] for s in all_sources]
    references = [tokenizer.encode(r.target) for r in records]
    sources = all_sources[:: max(len(all_sources) // PROMPTS, 1)][:PROMPTS]
    recorder = Recorder(reference)
    stepper = family.make_stepper(recorder, facts, contract)
    stepper.start(*right_pad(sources[:4]), tokenizer.specials.start_id)
    return Probe(
        recorder.calls,
        sources,
        references=references,
        detokenize=tokenizer.decode,
        sources=all_sources,
        contract=contract,
    )


def _classifier_probe(corpus, tokenizer, labels, framing: Framing) -> Probe:
    """Framed held-out texts; their labels too where the corpus has them (accuracy is checked)."""
    records = list(corpus)[:: max(len(corpus) // PROMPTS, 1)][:PROMPTS]
    texts = [framing(tokenizer.encode(r.text)) or [tokenizer.specials.unk_id] for r in records]
    index = {name: i for i, name in enumerate(labels or [])}
    ids, mask = right_pad(texts[:8])
    return Probe(
        {"classify": {"token_ids": ids, "padding_mask": mask}},
        texts,
        labels=[index.get(r.label, -1) for r in records] if corpus.kind == "labelled" else None,
    )


def calibration_samples(reference, family: Family, probe: Probe, count: int = 8) -> list[dict]:
    """Representative inputs for full-integer TFLite: {graph: inputs} per sample.

    For an LM, `count` prefill batches of held-out windows and the
    decode steps from the caches they produce (one probe sample alone gives int8 ranges
    far too narrow); other families use the probe's inputs.
    """
    if not probe.windows:
        return [{name: inputs} for name, inputs in probe.inputs.items()]
    samples = []
    room = (reference.facts.get("context") or DEFAULT_CONTEXT) - 1  # the step after needs a slot
    lengths = [min(8 + 7 * i % 48, room) for i in range(count)]
    # Every static-length prefill graph (`prefill_<T>`) needs samples of its own.
    names = getattr(reference, "names", ())
    lengths += [min(int(n.split("_")[1]), room) for n in names if n.startswith("prefill_")]
    text = [t for w in probe.windows for t in w]
    for i, length in enumerate(lengths):
        starts = [(i * 37) % max(len(text) - length, 1), (i * 91 + 13) % max(len(text) - length, 1)]
        prompts = [text[s : s + length] for s in starts]
        samples.append(
            recorded_lm_inputs(reference, family, reference.facts, prompts, probe.contract)
        )
    return samples
