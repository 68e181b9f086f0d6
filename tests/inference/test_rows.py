"""Pooled rows (`join_pooled`): a batch's arrays are the first rows of a pool that grows."""

import numpy as np

from keras_lm.inference.rows import join_pooled


def test_a_join_copies_only_new_rows_and_the_batch_is_a_view_of_the_pool():
    pool = join_pooled(None, None, {"cache": np.full((2, 3), 1.0)})
    assert len(pool["cache"]) >= 4  # spare rows: the next joins copy only their own
    batch = {"cache": pool["cache"][:2]}
    batch["cache"][0, 0] = 7.0  # a step writes the batch in place ...
    grown = join_pooled(pool, batch, {"cache": np.full((1, 3), 2.0)})
    assert grown is pool  # ... and a join that fits keeps the pool
    np.testing.assert_array_equal(grown["cache"][:3], [[7, 1, 1], [1, 1, 1], [2, 2, 2]])


def test_a_pool_grows_by_doubling_and_keeps_the_running_rows():
    pool = join_pooled(None, None, {"cache": np.arange(4.0).reshape(4, 1)})
    first = len(pool["cache"])
    grown = join_pooled(pool, {"cache": pool["cache"][:4]}, {"cache": np.full((first, 1), 9.0)})
    assert len(grown["cache"]) == 2 * (4 + first)
    np.testing.assert_array_equal(grown["cache"][:4, 0], [0, 1, 2, 3])
    assert (grown["cache"][4 : 4 + first] == 9).all()


def test_a_wider_source_widens_the_pool_and_narrower_rows_are_zero_padded():
    mask = {"mask": np.ones((1, 2), np.int32)}
    pool = join_pooled(None, None, mask)
    pool = join_pooled(pool, {"mask": pool["mask"][:1]}, {"mask": np.ones((1, 4), np.int32)})
    pool = join_pooled(pool, {"mask": pool["mask"][:2]}, {"mask": np.ones((1, 1), np.int32)})
    assert pool["mask"].dtype == np.int32
    np.testing.assert_array_equal(pool["mask"][:3], [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])


def test_a_reused_row_is_cleared_where_the_new_row_is_narrower():
    pool = join_pooled(None, None, {"mask": np.ones((2, 3), np.int32)})
    # row 1 left (the batch kept row 0); a one-token source takes its place
    pool = join_pooled(pool, {"mask": pool["mask"][:1]}, {"mask": np.ones((1, 1), np.int32)})
    np.testing.assert_array_equal(pool["mask"][1], [1, 0, 0])
