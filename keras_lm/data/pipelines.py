"""tf.data pipelines: causal-LM windows, seq2seq pairs and classification, batched and seeded.

Each builder takes token ids (from a keras_lm tokenizer) and returns a
`tf.data.Dataset` of `(features, labels, sample_weight)` or `(features, labels)`
whose feature names are those of `keras_lm.features`, ready for `model.fit`.
Sequences longer than the limit are an error unless `overflow="truncate"` or
`"drop"` is asked for; then the count is logged, never hidden.

Example:
>>> import numpy as np
>>> ds = lm_dataset(np.arange(20), sequence_length=4, batch_size=2, shuffle=False)
>>> x, y = next(iter(ds))
>>> x["token_ids"].numpy()[0].tolist(), y.numpy()[0].tolist()
([0, 1, 2, 3], [1, 2, 3, 4])
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import tensorflow as tf

from keras_lm.errors import InputError
from keras_lm.features import DECODER_PADDING_MASK
from keras_lm.features import DECODER_TOKEN_IDS
from keras_lm.features import ENCODER_PADDING_MASK
from keras_lm.features import ENCODER_TOKEN_IDS
from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.framing import Framing

log = logging.getLogger(__name__)
Overflow = Literal["error", "truncate", "drop"]
AUTOTUNE = tf.data.AUTOTUNE


def lm_dataset(
    ids: np.ndarray | Sequence[int],
    sequence_length: int,
    batch_size: int,
    *,
    stride: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
    drop_remainder: bool = True,
) -> tf.data.Dataset:
    """Windows of a token stream: `token_ids = ids[s:s+T]`, labels `ids[s+1:s+T+1]`.

    Windows start every `stride` tokens (default `sequence_length`: no overlap).
    With `shuffle`, the window order is reshuffled every epoch from `seed`.
    """
    ids = np.asarray(ids, dtype=np.int32)
    stride = stride or sequence_length
    if len(ids) < sequence_length + 1:
        raise InputError(
            "<token stream>", f"{len(ids)} tokens cannot fill one window of {sequence_length} + 1"
        )
    starts = np.arange(0, len(ids) - sequence_length, stride, dtype=np.int64)
    stream = tf.constant(ids)
    offsets = tf.range(sequence_length + 1, dtype=tf.int64)

    def windows(batch_starts):
        chunk = tf.gather(stream, batch_starts[:, None] + offsets[None, :])  # (B, T+1)
        x = chunk[:, :-1]
        return {TOKEN_IDS: x, PADDING_MASK: tf.ones_like(x)}, chunk[:, 1:]

    ds = tf.data.Dataset.from_tensor_slices(starts)
    if shuffle:
        ds = ds.shuffle(len(starts), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).map(
        windows, num_parallel_calls=AUTOTUNE
    )
    return _finish(ds)


def prompt_response_dataset(
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    batch_size: int,
    *,
    end_id: int,
    max_length: int,
    overflow: Overflow = "error",
    bucket_boundaries: Sequence[int] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    lines: Sequence[int] | None = None,
    repeat: bool = False,
    batch_tokens: int = 0,
) -> tf.data.Dataset:
    """Causal-LM rows `prompt + response + [end]`, the loss on the response and end only.

    Each row is its own example: `token_ids = row[:-1]`, labels `row[1:]` and sample
    weights 1 where the label is a response token or the end token, 0 where it is part
    of the prompt (and, once padded, 0 on padding). Rows longer than `max_length` input
    tokens follow `overflow` (`fit_lengths`); a truncated row keeps its prompt and loses
    the response's tail.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    rows = [[*p, *r, end_id] for p, r in zip(prompts, responses, strict=True)]
    keep = fit_lengths([(len(r) - 1,) for r in rows], (max_length,), overflow, lines, ("row",))
    rows = [rows[i][: max_length + 1] for i in keep]
    starts = [len(prompts[i]) - 1 for i in keep]  # first label that is the response's
    weights = [
        [float(j >= s) for j in range(len(r) - 1)] for r, s in zip(rows, starts, strict=True)
    ]
    ds = tf.data.Dataset.from_tensor_slices(
        (
            _ragged([r[:-1] for r in rows]),
            _ragged([r[1:] for r in rows]),
            _ragged(weights, np.float32),
        )
    )
    ds = ds.map(_prompt_response_example, num_parallel_calls=AUTOTUNE)
    ds = _order(ds, len(rows), shuffle, seed, repeat)
    batching = Batching(batch_size, bucket_boundaries or (), batch_tokens, (max_length,))
    return _finish(batching.apply(ds, _text_length))


def seq2seq_dataset(
    source_ids: Sequence[Sequence[int]],
    target_ids: Sequence[Sequence[int]],
    batch_size: int,
    *,
    start_id: int,
    end_id: int,
    max_source_length: int,
    max_target_length: int,
    overflow: Overflow = "error",
    bucket_boundaries: Sequence[int] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    pad_to_max: bool = False,
    lines: Sequence[int] | None = None,
    repeat: bool = False,
    batch_tokens: int = 0,
) -> tf.data.Dataset:
    """Teacher-forced pairs: decoder input `[start] + target`, labels `target + [end]`.

    Yields `(features, labels, sample_weight)`; padding is 0 and masked out by
    `*_padding_mask` and by `sample_weight`. `max_target_length` counts the
    start/end token. With `bucket_boundaries`, pairs are batched with others of
    similar length (the longer of source and decoder input), which cuts padding. `lines` (the records' line numbers) make errors name them.
    """
    if len(source_ids) != len(target_ids):
        raise ValueError(f"{len(source_ids)} sources but {len(target_ids)} targets")
    keep = fit_lengths(
        [(len(s), len(t) + 1) for s, t in zip(source_ids, target_ids, strict=True)],
        (max_source_length, max_target_length),
        overflow,
        lines,
        ("source", "target"),
    )
    src = [list(source_ids[i][:max_source_length]) for i in keep]
    tgt = [list(target_ids[i][: max_target_length - 1]) for i in keep]
    dec_in = [[start_id, *t] for t in tgt]
    labels = [[*t, end_id] for t in tgt]
    ds = tf.data.Dataset.from_tensor_slices((_ragged(src), _ragged(dec_in), _ragged(labels)))
    ds = ds.map(_seq2seq_example, num_parallel_calls=AUTOTUNE)
    ds = _order(ds, len(src), shuffle, seed, repeat)
    lengths = (max_source_length, max_target_length)
    batching = Batching(batch_size, bucket_boundaries or (), batch_tokens, lengths, pad_to_max)
    return _finish(batching.apply(ds, _pair_length))


def classification_dataset(
    ids: Sequence[Sequence[int]],
    labels: Sequence[int],
    batch_size: int,
    *,
    max_length: int,
    overflow: Overflow = "error",
    bucket_boundaries: Sequence[int] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    pad_to_max: bool = False,
    lines: Sequence[int] | None = None,
    framing: Framing | None = None,
    repeat: bool = False,
    batch_tokens: int = 0,
) -> tf.data.Dataset:
    """`({"token_ids", "padding_mask"}, label)` batches for a classifier.

    Each text's ids are framed and cut by `framing` (None: `Framing(max_length)`, the ids
    as they are); `overflow` counts the framed length against `framing.max_length`.
    """
    if len(ids) != len(labels):
        raise ValueError(f"{len(ids)} texts but {len(labels)} labels")
    framing = framing or Framing(max_length)
    max_length = framing.max_length
    lengths = [(framing.length(s),) for s in ids]
    keep = fit_lengths(lengths, (max_length,), overflow, lines, ("text",))
    tokens = [framing(list(ids[i])) for i in keep]
    y = np.asarray([labels[i] for i in keep], dtype=np.int32)
    ds = tf.data.Dataset.from_tensor_slices((_ragged(tokens), y))
    ds = ds.map(_classification_example, num_parallel_calls=AUTOTUNE)
    ds = _order(ds, len(tokens), shuffle, seed, repeat)
    batching = Batching(
        batch_size, bucket_boundaries or (), batch_tokens, (max_length,), pad_to_max
    )
    return _finish(batching.apply(ds, _text_length))


def fit_lengths(
    lengths: Sequence[tuple[int, ...]],
    limits: tuple[int, ...],
    overflow: Overflow,
    lines: Sequence[int] | None,
    fields: tuple[str, ...],
) -> list[int]:
    """Indices of the rows to keep; raise, truncate or drop rows longer than `limits`."""
    over = [
        i for i, row in enumerate(lengths) if any(n > m for n, m in zip(row, limits, strict=True))
    ]
    if over and overflow == "error":
        i = over[0]
        where = f"line {lines[i]}" if lines is not None else f"row {i}"
        sizes = ", ".join(
            f"{f} {n}/{m}" for f, n, m in zip(fields, lengths[i], limits, strict=True)
        )
        raise InputError(
            "<dataset>",
            f"{len(over)} of {len(lengths)} rows exceed the length limit (first: {where}, {sizes} tokens); "
            "raise the limit, or pass overflow='truncate' or 'drop'",
        )
    if over:
        log.warning("%s %d of %d rows longer than %s", overflow, len(over), len(lengths), limits)
    if over and overflow == "drop":
        dropped = set(over)
        return [i for i in range(len(lengths)) if i not in dropped]
    return list(range(len(lengths)))


def _seq2seq_example(src, dec_in, labels):
    features = {
        ENCODER_TOKEN_IDS: src,
        ENCODER_PADDING_MASK: tf.ones_like(src),
        DECODER_TOKEN_IDS: dec_in,
        DECODER_PADDING_MASK: tf.ones_like(dec_in),
    }
    return features, labels, tf.ones_like(labels, dtype=tf.float32)


def _prompt_response_example(tokens, labels, weights):
    return {TOKEN_IDS: tokens, PADDING_MASK: tf.ones_like(tokens)}, labels, weights


def _classification_example(tokens, label):
    return {TOKEN_IDS: tokens, PADDING_MASK: tf.ones_like(tokens)}, label


def bucket_boundaries(width: int, max_length: int) -> list[int]:
    """Bucket edges every `width` tokens up to `max_length`; none when `width` is 0.

    >>> bucket_boundaries(8, 32)
    [8, 16, 24, 32]
    >>> bucket_boundaries(0, 32)
    []
    """
    if width < 0:
        raise ValueError(f"bucket width must be >= 0, got {width}")
    return list(range(width, max_length + 1, width)) if width else []


def _pair_length(features, *_):
    return tf.maximum(
        tf.shape(features[ENCODER_TOKEN_IDS])[0], tf.shape(features[DECODER_TOKEN_IDS])[0]
    )


def _text_length(features, *_):
    return tf.shape(features[TOKEN_IDS])[0]


def _order(ds, rows: int, shuffle: bool, seed: int, repeat: bool) -> tf.data.Dataset:
    """Shuffle (reshuffled each pass), then repeat forever when asked: batching the endless
    stream leaves no partial batch at a pass's end (with 20 buckets, a pass of a 4,000-row
    corpus ended in ~20 small batches: 13% of the steps, each a noisy full-size update)."""
    if shuffle:
        ds = ds.shuffle(rows, seed=seed, reshuffle_each_iteration=True)
    return ds.repeat() if repeat else ds


@dataclasses.dataclass(frozen=True)
class Batching:
    """How rows become batches: `batch_size` rows padded to the longest, or, with
    `boundaries`, rows of similar length together (`bucket_by_sequence_length`); with
    `batch_tokens` too, each bucket's batch holds as many rows as fit that many padded
    tokens at the bucket's longest length (at least one, at most `batch_size * 8`).

    >>> Batching(64, (8, 16, 24), batch_tokens=1024, lengths=(32,)).batch_sizes()
    [146, 68, 44, 32]
    >>> Batching(64, (8, 16), lengths=(32,)).batch_sizes()
    [64, 64, 64]
    """

    batch_size: int
    boundaries: Sequence[int] = ()
    batch_tokens: int = 0
    lengths: tuple[int, ...] = (0,)
    pad_to_max: bool = False

    def batch_sizes(self) -> list[int]:
        """Rows per batch of each bucket (one more bucket than boundaries)."""
        longest = [b - 1 for b in self.boundaries] + [max(self.lengths)]
        if not self.batch_tokens:
            return [self.batch_size] * len(longest)
        cap = self.batch_size * 8
        return [min(cap, max(1, self.batch_tokens // max(1, n))) for n in longest]

    def apply(self, ds: tf.data.Dataset, length_of) -> tf.data.Dataset:
        """Pad to the longest in each batch (or to `lengths`), bucketing by `length_of`."""
        shapes = tf.nest.map_structure(lambda spec: [None] * spec.shape.rank, ds.element_spec)
        if self.pad_to_max:
            shapes = _max_shapes(ds.element_spec, self.lengths)
        if self.boundaries:
            return ds.bucket_by_sequence_length(
                length_of,
                bucket_boundaries=list(self.boundaries),
                bucket_batch_sizes=self.batch_sizes(),
                padded_shapes=shapes,
            )
        if self.batch_tokens:
            raise ValueError("batch_tokens needs bucket boundaries (data.bucket_width > 0)")
        return ds.padded_batch(self.batch_size, padded_shapes=shapes)

    def mean_rows(self, lengths: Sequence[int]) -> float:
        """Rows per batch on average over a pass, for rows of these `lengths` (a batch
        of bucket i holds batch_sizes()[i] rows; the tokens/s figure counts them)."""
        if not lengths:
            return float(self.batch_size)
        sizes = self.batch_sizes()
        edges = np.asarray(self.boundaries, np.int64)
        buckets = np.searchsorted(edges, np.asarray(lengths), side="right")
        batches = sum(1.0 / sizes[b] for b in buckets)
        return len(lengths) / batches


def _max_shapes(spec, lengths):
    """Padded shapes at the maximum lengths: `encoder_*` features at lengths[0], all else at lengths[-1]."""

    def shape(s, name=""):
        if s.shape.rank == 0:
            return []
        return [lengths[0] if name.startswith("encoder") else lengths[-1]]

    features, *rest = spec
    return ({k: shape(v, k) for k, v in features.items()}, *(shape(s) for s in rest))


def _ragged(rows: list[list], dtype=np.int32) -> tf.RaggedTensor:
    flat = np.fromiter((v for row in rows for v in row), dtype=dtype)
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
    return tf.RaggedTensor.from_row_lengths(flat, lengths)


def _finish(ds: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(AUTOTUNE)
