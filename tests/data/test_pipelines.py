"""tf.data pipelines: shifts, masks, padding, bucketing, seeds and length limits."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from keras_lm.data.pipelines import Batching  # noqa: E402
from keras_lm.data.pipelines import bucket_boundaries  # noqa: E402
from keras_lm.data.pipelines import classification_dataset  # noqa: E402
from keras_lm.data.pipelines import lm_dataset  # noqa: E402
from keras_lm.data.pipelines import prompt_response_dataset  # noqa: E402
from keras_lm.data.pipelines import seq2seq_dataset  # noqa: E402
from keras_lm.errors import InputError  # noqa: E402
from keras_lm.features import SEQ2SEQ_INPUTS  # noqa: E402

SOURCES = [[5, 6, 7], [8], [9, 10, 11, 12, 13], [5, 5], [7, 7, 7, 7]]
TARGETS = [[20, 21], [22, 23, 24], [25], [26], [27, 28]]


def batches(ds):
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds]


def test_lm_windows_shift_by_one_and_cover_the_stream():
    ids = np.arange(100, dtype=np.int32)
    got = batches(
        lm_dataset(ids, sequence_length=8, batch_size=3, shuffle=False, drop_remainder=False)
    )
    x = np.concatenate([b[0]["token_ids"] for b in got])
    y = np.concatenate([b[1] for b in got])
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(x[:, 0], np.arange(0, 91, 8)[: len(x)])
    assert len(x) == (100 - 1) // 8
    assert all((b[0]["padding_mask"] == 1).all() for b in got)


def test_lm_shuffle_is_seeded_and_reshuffled_each_epoch():
    ids = np.arange(400)

    def first_tokens(seed):
        ds = lm_dataset(ids, sequence_length=4, batch_size=4, seed=seed)
        return [[int(b[0]["token_ids"][0, 0]) for b in batches(ds)] for _ in range(2)]

    a, b, c = first_tokens(1), first_tokens(1), first_tokens(2)
    assert a == b
    assert a != c
    assert a[0] != a[1]  # a new order every epoch


def test_lm_too_short_stream_is_an_error():
    with pytest.raises(InputError, match="cannot fill one window"):
        lm_dataset(np.arange(5), sequence_length=8, batch_size=1)


def test_seq2seq_teacher_forcing_and_masks():
    ds = seq2seq_dataset(
        SOURCES,
        TARGETS,
        2,
        start_id=2,
        end_id=3,
        max_source_length=6,
        max_target_length=5,
        shuffle=False,
    )
    (x, y, w), *_ = batches(ds)
    assert set(x) == set(SEQ2SEQ_INPUTS)
    np.testing.assert_array_equal(x["encoder_token_ids"], [[5, 6, 7], [8, 0, 0]])
    np.testing.assert_array_equal(x["encoder_padding_mask"], [[1, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(x["decoder_token_ids"], [[2, 20, 21, 0], [2, 22, 23, 24]])
    np.testing.assert_array_equal(y, [[20, 21, 3, 0], [22, 23, 24, 3]])
    np.testing.assert_array_equal(w, x["decoder_padding_mask"])


def test_seq2seq_pad_to_max_gives_static_shapes():
    ds = seq2seq_dataset(
        SOURCES,
        TARGETS,
        2,
        start_id=2,
        end_id=3,
        max_source_length=6,
        max_target_length=5,
        shuffle=False,
        pad_to_max=True,
    )
    for x, y, w in batches(ds):
        assert x["encoder_token_ids"].shape[1] == 6
        assert x["decoder_token_ids"].shape[1] == y.shape[1] == w.shape[1] == 5


def test_seq2seq_bucketing_groups_similar_lengths():
    rng = np.random.default_rng(0)
    sources = [list(range(1, n + 1)) for n in rng.integers(1, 40, size=200)]
    targets = [[9]] * 200
    ds = seq2seq_dataset(
        sources,
        targets,
        8,
        start_id=2,
        end_id=3,
        max_source_length=40,
        max_target_length=4,
        bucket_boundaries=[10, 20, 30],
        seed=0,
    )
    seen = 0
    for x, _, _ in batches(ds):
        lengths = x["encoder_padding_mask"].sum(axis=1)
        buckets = np.digitize(lengths, [10, 20, 30])
        assert len(set(buckets)) == 1
        seen += len(lengths)
    assert seen == 200


def test_overflow_is_an_error_naming_the_line_unless_asked():
    kwargs = dict(start_id=2, end_id=3, max_source_length=4, max_target_length=5, shuffle=False)
    with pytest.raises(InputError, match=r"1 of 5 rows exceed .*first: line 13, source 5/4"):
        seq2seq_dataset(SOURCES, TARGETS, 2, lines=[10, 11, 13, 14, 15], **kwargs)
    dropped = batches(seq2seq_dataset(SOURCES, TARGETS, 8, overflow="drop", **kwargs))
    assert len(dropped[0][1]) == 4
    cut = batches(seq2seq_dataset(SOURCES, TARGETS, 8, overflow="truncate", **kwargs))
    assert cut[0][0]["encoder_token_ids"].shape == (5, 4)


def test_classification_batches():
    ds = classification_dataset(SOURCES, [0, 1, 1, 0, 1], 5, max_length=5, shuffle=False)
    ((x, y),) = batches(ds)
    np.testing.assert_array_equal(y, [0, 1, 1, 0, 1])
    np.testing.assert_array_equal(x["padding_mask"].sum(axis=1), [3, 1, 5, 2, 4])
    with pytest.raises(ValueError, match="5 texts but 2 labels"):
        classification_dataset(SOURCES, [0, 1], 2, max_length=5)


def test_dataset_feeds_model_fit():
    keras = pytest.importorskip("keras")
    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
    h = keras.layers.Embedding(30, 4)(inputs)
    h = keras.layers.GlobalAveragePooling1D()(h, mask=keras.ops.cast(mask, "bool"))
    model = keras.Model({"token_ids": inputs, "padding_mask": mask}, keras.layers.Dense(2)(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ds = classification_dataset(SOURCES, [0, 1, 1, 0, 1], 2, max_length=5, seed=0)
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_seq2seq_bucketing_follows_the_longer_side():
    # Short sources with long targets: bucketing on the source alone would mix target lengths.
    rng = np.random.default_rng(1)
    targets = [[9] * n for n in rng.integers(1, 39, size=200)]
    sources = [[5]] * 200
    ds = seq2seq_dataset(
        sources,
        targets,
        8,
        start_id=2,
        end_id=3,
        max_source_length=4,
        max_target_length=40,
        bucket_boundaries=bucket_boundaries(10, 40),
        seed=0,
    )
    padded = real = 0
    for x, _, _ in batches(ds):
        lengths = x["decoder_padding_mask"].sum(axis=1)
        assert len(set(np.digitize(lengths, [10, 20, 30, 40]))) == 1
        padded, real = padded + x["decoder_padding_mask"].size, real + lengths.sum()
    assert real == sum(len(t) + 1 for t in targets)
    assert padded < 1.3 * real  # one random mix pads each batch to its longest (about 1.8x here)


def test_prompt_response_rows_weigh_the_response_and_end_only():
    prompts, responses = [[5, 6, 7], [8]], [[9, 10], [11, 12, 13]]
    ds = prompt_response_dataset(prompts, responses, 2, end_id=3, max_length=8, shuffle=False)
    ((x, y, w),) = batches(ds)
    np.testing.assert_array_equal(x["token_ids"], [[5, 6, 7, 9, 10], [8, 11, 12, 13, 0]])
    np.testing.assert_array_equal(y, [[6, 7, 9, 10, 3], [11, 12, 13, 3, 0]])
    np.testing.assert_array_equal(w, [[0, 0, 1, 1, 1], [1, 1, 1, 1, 0]])
    np.testing.assert_array_equal(x["padding_mask"], [[1] * 5, [1, 1, 1, 1, 0]])


def test_prompt_response_overflow_keeps_the_prompt_and_names_the_line():
    prompts, responses = [[5, 6, 7], [8]], [[9, 10], [11]]
    kwargs = dict(end_id=3, max_length=3, shuffle=False)
    with pytest.raises(InputError, match=r"1 of 2 rows exceed .*first: line 4, row 5/3"):
        prompt_response_dataset(prompts, responses, 2, lines=[4, 9], **kwargs)
    ((x, y, w),) = batches(
        prompt_response_dataset(prompts, responses, 2, overflow="truncate", **kwargs)
    )
    np.testing.assert_array_equal(x["token_ids"][0], [5, 6, 7])
    np.testing.assert_array_equal(y[0], [6, 7, 9])
    np.testing.assert_array_equal(w[0], [0, 0, 1])
    ((x, y, w),) = batches(
        prompt_response_dataset(prompts, responses, 2, overflow="drop", **kwargs)
    )
    np.testing.assert_array_equal(y, [[11, 3]])


def test_classification_framing_counts_its_specials_and_keeps_the_end():
    from keras_lm.framing import Framing

    framing = Framing(max_length=4, start_id=8, end_id=9)
    with pytest.raises(InputError, match="text 5/4"):  # 3 ids + [CLS] + [SEP]
        classification_dataset([[5, 6], [5, 6, 7]], [0, 1], 2, max_length=4, framing=framing)
    ds = classification_dataset(
        [[5, 6], [5, 6, 7]],
        [0, 1],
        2,
        max_length=4,
        overflow="truncate",
        shuffle=False,
        framing=framing,
    )
    x, _ = next(iter(ds))
    assert x["token_ids"].numpy().tolist() == [[8, 5, 6, 9], [8, 5, 6, 9]]


def _random_pairs(n, seed=0):
    rng = np.random.default_rng(seed)
    src = [list(rng.integers(5, 50, rng.integers(1, 30))) for _ in range(n)]
    tgt = [list(rng.integers(5, 50, rng.integers(1, 30))) for _ in range(n)]
    return src, tgt


def test_repeated_bucketing_leaves_no_partial_batch():
    src, tgt = _random_pairs(100)
    kwargs = dict(start_id=1, end_id=2, max_source_length=32, max_target_length=32, seed=3)
    kwargs["bucket_boundaries"] = bucket_boundaries(4, 32)
    one_pass = batches(seq2seq_dataset(src, tgt, 8, **kwargs))
    assert any(len(b[1]) < 8 for b in one_pass)  # each bucket's remainder flushed at the end
    endless = batches(seq2seq_dataset(src, tgt, 8, repeat=True, **kwargs).take(60))
    assert [len(b[1]) for b in endless] == [8] * 60  # 4.8 passes, every batch full


def test_batch_tokens_sizes_each_bucket_by_its_length():
    src, tgt = _random_pairs(300, seed=1)
    batching = Batching(8, tuple(bucket_boundaries(4, 32)), batch_tokens=96, lengths=(32,))
    sizes = batching.batch_sizes()
    assert sizes[0] == 32 and sizes[-1] == 3  # 96 // 3 tokens, 96 // 32 tokens
    ds = seq2seq_dataset(
        src,
        tgt,
        8,
        start_id=1,
        end_id=2,
        max_source_length=32,
        max_target_length=32,
        bucket_boundaries=batching.boundaries,
        batch_tokens=96,
        repeat=True,
    )
    for features, labels, _ in batches(ds.take(40)):
        padded = max(features["encoder_token_ids"].shape[1], features["decoder_token_ids"].shape[1])
        assert len(labels) * padded <= 96
        assert len(labels) == sizes[np.searchsorted(batching.boundaries, padded, side="right")]


def test_mean_rows_counts_batches_per_bucket():
    batching = Batching(8, (4,), batch_tokens=24, lengths=(12,))
    assert batching.batch_sizes() == [8, 2]  # 24 // 3, 24 // 12
    # 8 short rows make 1 batch, 4 long rows 2 batches: 12 rows in 3 batches
    assert batching.mean_rows([2] * 8 + [10] * 4) == pytest.approx(4.0)
    assert Batching(8).mean_rows([3, 5]) == 8.0


def test_batch_tokens_without_buckets_is_refused():
    from keras_lm.errors import ConfigError
    from keras_lm.training.config import DataConfig

    with pytest.raises(ConfigError, match="bucket_width"):
        DataConfig(batch_tokens=512)
    with pytest.raises(ValueError, match="bucket"):
        seq2seq_dataset(
            [[5]],
            [[6]],
            2,
            start_id=1,
            end_id=2,
            max_source_length=4,
            max_target_length=4,
            batch_tokens=8,
        )
