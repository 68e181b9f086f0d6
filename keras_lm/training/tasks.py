"""What each task trains on: corpus + tokenizer -> tf.data, the fixed config fields, a sampler.

A family's `task` ("lm", "seq2seq" or "classify", in its `Family` record) picks the
pipeline here.

Example:
>>> sorted(BUILDERS)
['classify', 'lm', 'seq2seq']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from keras_lm.data.corpus import Corpus
from keras_lm.data.pipelines import Batching
from keras_lm.data.pipelines import bucket_boundaries
from keras_lm.data.pipelines import classification_dataset
from keras_lm.data.pipelines import lm_dataset
from keras_lm.data.pipelines import prompt_response_dataset
from keras_lm.data.pipelines import seq2seq_dataset
from keras_lm.errors import InputError
from keras_lm.features import DECODER_PADDING_MASK
from keras_lm.features import DECODER_TOKEN_IDS
from keras_lm.features import ENCODER_PADDING_MASK
from keras_lm.features import ENCODER_TOKEN_IDS
from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.framing import Framing

SAMPLE_TOKENS = 48


@dataclasses.dataclass
class TaskData:
    """Datasets and facts a run needs. `train` repeats forever; `valid` is finite or None."""

    train: tf.data.Dataset
    valid: tf.data.Dataset | None
    tokens_per_step: float
    fixed: dict
    sample: Callable[[keras.Model], str] | None = None
    labels: list[str] | None = None


def build_task(task: str, splits: dict[str, Corpus], tokenizer, config) -> TaskData:
    """Datasets for `task` from the cleaned `splits` (train, and valid if present)."""
    return BUILDERS[task](splits, tokenizer, config)


def _lm(splits, tokenizer, config) -> TaskData:
    if splits["train"].kind == "parallel":
        return _lm_pairs(splits, tokenizer, config)
    loop = config.loop
    ids = {
        k: np.asarray(tokenizer.encode("\n".join(c.texts())), np.int32) for k, c in splits.items()
    }
    train = lm_dataset(
        ids["train"],
        loop.sequence_length,
        loop.batch_size,
        stride=loop.window_stride,
        seed=loop.seed,
    ).repeat()
    valid = None
    if "valid" in ids:
        valid = lm_dataset(
            ids["valid"], loop.sequence_length, loop.batch_size, shuffle=False, drop_remainder=False
        )
    prompt = loop.sample_prompt or "\n".join(splits.get("valid", splits["train"]).texts())[:16]
    prompt_ids = tokenizer.encode(prompt)

    def sample(model):
        out = _greedy_lm(model, prompt_ids, SAMPLE_TOKENS, loop.sequence_length)
        return prompt + tokenizer.decode(out[len(prompt_ids) :])

    return TaskData(
        train,
        valid,
        loop.batch_size * loop.sequence_length,
        {"vocab_size": tokenizer.vocab_size},
        sample,
    )


def lm_pairs_dataset(
    corpus: Corpus,
    tokenizer,
    data,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    add_start: bool = False,
    repeat: bool = False,
) -> tf.data.Dataset:
    """A parallel corpus as causal-LM rows: the source through `data.prompt_template`, then
    the target; the loss (sample weights) on the target and end token only. `add_start`: each
    row begins with the start id (a model whose config says `frame_start`)."""
    return prompt_response_dataset(
        tokenizer.encode_batch(pair_prompts(corpus, data), add_start=add_start),
        tokenizer.encode_batch(corpus.targets()),
        batch_size,
        end_id=tokenizer.specials.end_id,
        max_length=data.max_length,
        overflow=data.overflow,
        bucket_boundaries=bucket_boundaries(data.bucket_width, data.max_length),
        shuffle=shuffle,
        seed=seed,
        lines=[r.line for r in corpus],
        repeat=repeat,
        batch_tokens=data.batch_tokens if repeat else 0,
    )


def pair_prompts(corpus: Corpus, data) -> list[str]:
    """Each source written as a prompt (`data.prompt_template`); generation takes the same."""
    return [data.prompt_template.format(source=s) for s in corpus.sources()]


def _lm_pairs(splits, tokenizer, config) -> TaskData:
    """Prompt/response rows (a parallel corpus): the loss on the response only."""
    loop, data = config.loop, config.data
    head = Framing.prompt_head(config.model, tokenizer.specials)
    train = lm_pairs_dataset(
        splits["train"],
        tokenizer,
        data,
        loop.batch_size,
        shuffle=True,
        seed=loop.seed,
        add_start=bool(head),
        repeat=True,
    )
    valid = None
    if "valid" in splits:
        valid = lm_pairs_dataset(
            splits["valid"], tokenizer, data, loop.batch_size, add_start=bool(head)
        )
    prompt = loop.sample_prompt or pair_prompts(splits.get("valid", splits["train"]), data)[0]
    prompt_ids = head + tokenizer.encode(prompt)
    lengths = [len(x) for x in tokenizer.encode_batch(splits["train"].texts()[:2000])]

    def sample(model):
        out = _greedy_lm(model, prompt_ids, SAMPLE_TOKENS, data.max_length)
        return prompt + tokenizer.decode(out[len(prompt_ids) :])

    row = min(2 * float(np.mean(lengths)) + 1, data.max_length)
    rows = _batching(data, loop.batch_size, data.max_length).mean_rows([int(row)] * len(lengths))
    tokens_per_step = rows * row
    return TaskData(train, valid, tokens_per_step, {"vocab_size": tokenizer.vocab_size}, sample)


def _seq2seq(splits, tokenizer, config) -> TaskData:
    loop, data, sp = config.loop, config.data, tokenizer.specials

    def dataset(corpus: Corpus, shuffle: bool):
        return seq2seq_dataset(
            tokenizer.encode_batch(corpus.sources()),
            tokenizer.encode_batch(corpus.targets()),
            loop.batch_size,
            start_id=sp.start_id,
            end_id=sp.end_id,
            max_source_length=data.max_source_length,
            max_target_length=data.max_target_length,
            overflow=data.overflow,
            bucket_boundaries=bucket_boundaries(
                data.bucket_width, max(data.max_source_length, data.max_target_length)
            ),
            shuffle=shuffle,
            seed=loop.seed,
            lines=[r.line for r in corpus],
            repeat=shuffle,  # train: the endless stream is batched, no partial batches
            batch_tokens=data.batch_tokens if shuffle else 0,
        )

    train = dataset(splits["train"], True)
    valid = dataset(splits["valid"], False) if "valid" in splits else None
    sample_rows = splits["train"].records[:2000]
    pairs = [
        (len(s), len(t) + 1)
        for s, t in zip(
            tokenizer.encode_batch([r.source for r in sample_rows]),
            tokenizer.encode_batch([r.target for r in sample_rows]),
            strict=True,
        )
    ]
    longest = max(data.max_source_length, data.max_target_length)
    rows = _batching(data, loop.batch_size, longest).mean_rows([max(p) for p in pairs])
    source = (splits.get("valid") or splits["train"]).sources()[0]

    def sample(model):
        ids = _greedy_seq2seq(
            model, tokenizer.encode(source), sp.start_id, sp.end_id, data.max_target_length
        )
        return f"{source} -> {tokenizer.decode(ids)}"

    fixed = {
        "vocab_size": tokenizer.vocab_size,
        "max_source_length": data.max_source_length,
        "max_target_length": data.max_target_length,
    }
    tokens_per_step = rows * float(np.mean([sum(p) for p in pairs]))
    return TaskData(train, valid, tokens_per_step, fixed, sample)


def _classify(splits, tokenizer, config) -> TaskData:
    loop, data = config.loop, config.data
    labels = splits["train"].label_names()
    index = {name: i for i, name in enumerate(labels)}

    def dataset(corpus: Corpus, shuffle: bool):
        unknown = next((r for r in corpus if r.label not in index), None)
        if unknown is not None:
            raise InputError(
                corpus.name,
                f"label {unknown.label!r} not in the train labels {labels}",
                line=unknown.line,
                field="label",
            )
        return classification_dataset(
            tokenizer.encode_batch(corpus.texts()),
            [index[r.label] for r in corpus],
            loop.batch_size,
            max_length=data.max_length,
            overflow=data.overflow,
            bucket_boundaries=bucket_boundaries(data.bucket_width, data.max_length),
            shuffle=shuffle,
            seed=loop.seed,
            lines=[r.line for r in corpus],
            framing=framing,
            repeat=shuffle,  # train: the endless stream is batched, no partial batches
            batch_tokens=data.batch_tokens if shuffle else 0,
        )

    framing = Framing.of(config.model, tokenizer.specials, data.max_length)
    train = dataset(splits["train"], True)
    valid = dataset(splits["valid"], False) if "valid" in splits else None
    fixed = {
        "vocab_size": tokenizer.vocab_size,
        "num_classes": len(labels),
        "max_length": data.max_length,
    }
    lengths = [framing.length(x) for x in tokenizer.encode_batch(splits["train"].texts()[:2000])]
    rows = _batching(data, loop.batch_size, data.max_length).mean_rows(lengths)
    tokens_per_step = rows * float(np.mean(lengths))
    return TaskData(train, valid, tokens_per_step, fixed, labels=labels)


def _batching(data, batch_size: int, longest: int) -> Batching:
    """The train batches' shape rules (for the rows-per-step figure tokens/s counts)."""
    return Batching(
        batch_size, bucket_boundaries(data.bucket_width, longest), data.batch_tokens, (longest,)
    )


def _greedy_lm(model, ids: list[int], steps: int, window: int) -> list[int]:
    """Greedy continuation by full recompute over the last `window` tokens (a sample, not the fast path).

    Every call has one shape, [1, window], right-padded under a zero padding mask (causal, so the
    pad changes no real position), through the model's compiled predict function: it is traced once
    per run instead of run eagerly, 48 eager calls were 2 s of each epoch end at shakespeare-baby.
    """
    ids = list(ids) or [0]
    for _ in range(steps):
        recent = ids[-window:]
        x = np.zeros((1, window), np.int32)
        x[0, : len(recent)] = recent
        mask = (np.arange(window) < len(recent))[None].astype(np.int32)
        logits = model.predict_on_batch({TOKEN_IDS: x, PADDING_MASK: mask})
        ids.append(int(np.argmax(logits[0, len(recent) - 1])))
    return ids


def _greedy_seq2seq(model, source: list[int], start: int, end: int, max_length: int) -> list[int]:
    """Greedy translation of one source by full recompute (a sample, not the fast path).

    The decoder input is right-padded to `max_length` under a zero padding mask (causal, so the
    pad changes no real position), so every call through `predict_on_batch` has one shape and is
    traced once per run, as `_greedy_lm`.
    """
    enc = np.asarray([source or [0]], np.int32)
    out = [start]
    for _ in range(max_length - 1):
        dec = np.zeros((1, max_length), np.int32)
        dec[0, : len(out)] = out
        features = {
            ENCODER_TOKEN_IDS: enc,
            ENCODER_PADDING_MASK: np.ones_like(enc),
            DECODER_TOKEN_IDS: dec,
            DECODER_PADDING_MASK: (np.arange(max_length) < len(out))[None].astype(np.int32),
        }
        token = int(np.argmax(model.predict_on_batch(features)[0, len(out) - 1]))
        if token == end:
            break
        out.append(token)
    return out[1:]


BUILDERS = {"lm": _lm, "seq2seq": _seq2seq, "classify": _classify}
