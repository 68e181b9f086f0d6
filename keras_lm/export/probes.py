"""Held-out inputs that exports are verified on, made from a run's validation split.

Every graph gets inputs a real caller would send: prompts of different lengths,
caches and states produced by the Keras model itself (not random tensors), sources
padded as the runtime pads them.

Example:
>>> windows_from_ids(list(range(100)), count=3, length=10)[1][:3]
[44, 45, 46]
"""

from __future__ import annotations

import numpy as np

from keras_lm.export.verify import Probe
from keras_lm.generation.decoding import left_pad
from keras_lm.generation.decoding import right_pad

PROMPTS = 20
BLEU_SOURCES = 100  # BLEU on 20 sentences is too noisy to hold a quantized export to a bound


def windows_from_ids(ids: list[int], count: int, length: int) -> list[list[int]]:
    """`count` windows of `length` tokens spread evenly over `ids`."""
    if len(ids) <= length:
        return [list(ids)] * count
    starts = np.linspace(0, len(ids) - length - 1, count).astype(int)
    return [list(ids[s : s + length]) for s in starts]


def build_probe(
    reference,
    family: str,
    facts: dict,
    corpus,
    tokenizer,
    labels=None,
    max_source_length: int | None = None,
    pad_source: bool = False,
    max_length: int = 64,
) -> Probe:
    """A `Probe` for `family` from the held-out `corpus`, its graph inputs made by `reference`.

    Sources are cut to `max_source_length` (the model's limit); `pad_source` pads them
    to it, as the runtime does for a fixed-length (TFLite LSTM) encoder.
    """
    if family in ("transformer_lm", "lstm_lm"):
        return _lm_probe(reference, family, facts, corpus, tokenizer)
    if family in ("transformer_seq2seq", "lstm_seq2seq"):
        return _seq2seq_probe(
            reference, family, facts, corpus, tokenizer, max_source_length, pad_source
        )
    return _classifier_probe(corpus, tokenizer, labels, max_length)


def _lm_probe(reference, family, facts, corpus, tokenizer) -> Probe:
    ids = tokenizer.encode("\n".join(corpus.texts()))
    context = facts.get("context") or 64
    length = min(context, 64)
    prompts = [
        w[: 8 + (i * 5) % max(length // 2 - 8, 1)]
        for i, w in enumerate(windows_from_ids(ids, PROMPTS, length))
    ]
    batch = prompts[:4]
    if family == "transformer_lm":
        windows = windows_from_ids(ids, 16, length)
        ids_, mask = left_pad(batch)
        out = reference.run("prefill", token_ids=ids_, padding_mask=mask)
        positions = (np.maximum(np.cumsum(mask, 1) - 1, 0)[:, -1:] + 1).astype(np.int32)
        decode = {
            "token_ids": np.argmax(out["logits"][:, -1:], -1).astype(np.int32),
            "positions": positions,
            "past_cache": out["cache"],
        }
        inputs = {"prefill": {"token_ids": ids_, "padding_mask": mask}, "decode": decode}
        return Probe(inputs, prompts, windows=windows)
    from keras_lm.generation.steppers import make_stepper

    _, state = make_stepper(reference, family, facts).prefill(*left_pad(batch))
    tokens = np.array([p[-1] for p in batch], np.int32)
    decode = {"token_ids": tokens, "past_h": state["h"], "past_c": state["c"]}
    return Probe({"decode": decode}, prompts)


def _seq2seq_probe(
    reference, family, facts, corpus, tokenizer, max_source_length, pad_source
) -> Probe:
    records = list(corpus)[:: max(len(corpus) // BLEU_SOURCES, 1)][:BLEU_SOURCES]
    all_sources = [tokenizer.encode(r.source) for r in records]
    limit = max_source_length or max(len(s) for s in all_sources)
    all_sources = [s[:limit] or [tokenizer.specials.unk_id] for s in all_sources]
    references = [tokenizer.encode(r.target) for r in records]
    sources = all_sources[:: max(len(all_sources) // PROMPTS, 1)][:PROMPTS]
    ids, mask = right_pad(sources[:4])
    if pad_source:
        ids, mask = (np.pad(a, ((0, 0), (0, limit - a.shape[1]))) for a in (ids, mask))
    encoded = reference.run("encode", encoder_token_ids=ids, encoder_padding_mask=mask)
    start = np.full((4,), tokenizer.specials.start_id, np.int32)
    if family == "transformer_seq2seq":
        decode = {
            "token_ids": start[:, None],
            "positions": np.zeros((4, 1), np.int32),
            "past_cache": np.zeros((4, *facts["cache_shape"][1:]), np.float32),
            "cross_cache": encoded["cross_cache"],
            "encoder_padding_mask": mask,
        }
    else:
        decode = {
            "token_ids": start,
            "past_h": encoded["h"],
            "past_c": encoded["c"],
            "encoded": encoded["encoded"],
            "encoder_padding_mask": mask,
        }
    inputs = {"encode": {"encoder_token_ids": ids, "encoder_padding_mask": mask}, "decode": decode}
    return Probe(
        inputs, sources, references=references, detokenize=tokenizer.decode, sources=all_sources
    )


def _classifier_probe(corpus, tokenizer, labels, max_length) -> Probe:
    records = list(corpus)[:: max(len(corpus) // PROMPTS, 1)][:PROMPTS]
    texts = [tokenizer.encode(r.text)[:max_length] or [tokenizer.specials.unk_id] for r in records]
    index = {name: i for i, name in enumerate(labels or [])}
    ids, mask = right_pad(texts[:8])
    return Probe(
        {"classify": {"token_ids": ids, "padding_mask": mask}},
        texts,
        labels=[index.get(r.label, -1) for r in records],
    )


def calibration_samples(reference, family: str, probe: Probe, count: int = 8) -> list[dict]:
    """Representative inputs for full-integer TFLite: {graph: inputs} per sample.

    For the transformer LM, `count` prefill batches of held-out windows and decode steps
    from the caches they produce (one probe sample alone gives int8 ranges far too narrow);
    other families use the probe's inputs.
    """
    if family != "transformer_lm" or not probe.windows:
        return [{name: inputs} for name, inputs in probe.inputs.items()]
    samples = []
    for i in range(count):
        windows = probe.windows[2 * i : 2 * i + 2] or probe.windows[:2]
        ids, mask = left_pad([w[: 8 + 7 * i % 48] for w in windows])
        out = reference.run("prefill", token_ids=ids, padding_mask=mask)
        decode = {
            "token_ids": np.argmax(out["logits"][:, -1:], -1).astype(np.int32),
            "positions": mask.sum(axis=1, keepdims=True).astype(np.int32),
            "past_cache": out["cache"],
        }
        samples.append({"prefill": {"token_ids": ids, "padding_mask": mask}, "decode": decode})
    return samples
