"""Rows that join and leave a running batch between decode steps (in-flight batching).

A stepper's state holds one row per sequence on every array's first axis. A server
(`keras_lm.serving.batcher`) decodes many requests as one batch: a new request is
prefilled alone and its state *joined* to the running one; a finished one leaves by
*keeping* the other rows. Every stepper has `join(state, other)` and `keep(state, rows)`;
these are the functions behind them.

Rows of different source lengths (a seq2seq encoder's output, its padding mask) are
zero-padded to the longest: a padded source position is masked out like any pad.

Example:
>>> import numpy as np
>>> a = {"mask": np.ones((1, 2), np.int32), "next": np.array([3])}
>>> b = {"mask": np.ones((1, 3), np.int32), "next": np.array([5])}
>>> joined = concat_states(a, b)
>>> joined["mask"].tolist(), joined["next"].tolist()
([[1, 1, 0], [1, 1, 1]], [3, 5])
>>> keep_rows(joined, [1])["next"].tolist()
[5]
"""

from __future__ import annotations

import numpy as np


def concat_states(a, b):
    """`a`'s rows then `b`'s: arrays stacked on axis 0 (other axes zero-padded to the larger)."""
    if a is None:
        return b
    if isinstance(a, dict):
        return {key: concat_states(a[key], b[key]) for key in a}
    if isinstance(a, np.ndarray):
        return np.concatenate(_padded(a, b))
    return None  # bookkeeping that belongs to one batch (a lent buffer's owner)


def _padded(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if a.shape[1:] == b.shape[1:]:
        return a, b
    widest = [max(x, y) for x, y in zip(a.shape[1:], b.shape[1:], strict=True)]

    def pad(x):
        return np.pad(x, [(0, 0), *[(0, w - s) for w, s in zip(widest, x.shape[1:], strict=True)]])

    return pad(a), pad(b)


def keep_rows(state, rows):
    """Only `rows` of `state` (a copy), in that order."""
    if isinstance(state, dict):
        return {key: keep_rows(value, rows) for key, value in state.items()}
    if isinstance(state, np.ndarray):
        return state[np.asarray(rows, np.int64)]
    return None


def join_pooled(pool: dict | None, current: dict | None, other: dict) -> dict:
    """A pool of arrays whose first rows are `current`'s (None: none) and then `other`'s.

    A pool keeps spare rows (grown by doubling), so a batch's arrays are views of its
    first rows: a step writes them in place, and a join copies only the new rows (and the
    pool when it grows). `current` must be the first rows of `pool` when `pool` is given.
    An array narrower than the pool on another axis (a shorter source) is zero-padded,
    and a wider one widens the pool.

    >>> pool = join_pooled(None, None, {"mask": np.ones((1, 2), np.int32)})
    >>> pool = join_pooled(pool, {"mask": pool["mask"][:1]}, {"mask": np.ones((1, 3), np.int32)})
    >>> pool["mask"][:2].tolist()
    [[1, 1, 0], [1, 1, 1]]
    """
    size = 0 if current is None else len(next(iter(current.values())))
    rows = size + len(next(iter(other.values())))
    if pool is None or rows > len(next(iter(pool.values()))) or _wider(other, pool):
        grown = {}
        for key, value in other.items():
            shape = value.shape[1:]
            if current is not None:
                shape = tuple(max(a, b) for a, b in zip(shape, current[key].shape[1:], strict=True))
            grown[key] = np.zeros((max(4, 2 * rows), *shape), value.dtype)
            if size:
                _write(grown[key], 0, current[key])
        pool = grown
    for key, value in other.items():
        _write(pool[key], size, value)
    return pool


def _wider(arrays: dict, pool: dict) -> bool:
    return any(
        a > b
        for k, v in arrays.items()
        for a, b in zip(v.shape[1:], pool[k].shape[1:], strict=True)
    )


def _write(array: np.ndarray, start: int, rows: np.ndarray) -> None:
    """`rows` into `array[start:]`, zero-padded on the other axes where narrower."""
    target = array[start : start + len(rows)]
    if rows.shape[1:] == target.shape[1:]:
        target[...] = rows
        return
    target[...] = 0
    target[(slice(None), *(slice(0, n) for n in rows.shape[1:]))] = rows


def move_rows(arrays: list[np.ndarray], rows: list[int]) -> None:
    """Make row i of each array its row `rows[i]`, in place (the caller then keeps `[:len(rows)]`).

    Each row must stay (`rows[i] == i`) or come from past the kept rows (`rows[i] >=
    len(rows)`), as `fill_from_tail` gives: then no source is overwritten before it is read.

    >>> x = np.arange(4)
    >>> move_rows([x], [0, 3, 2]); x[:3].tolist()
    [0, 3, 2]
    """
    for i, row in enumerate(rows):
        if row == i:
            continue
        if row < len(rows):
            raise ValueError(f"row {i} cannot come from kept row {row}")
        for array in arrays:
            array[i] = array[row]


def fill_from_tail(alive: list[bool]) -> list[int]:
    """The rows to keep of a batch whose `alive` rows go on: each hole filled from the end.

    Only as many rows move as leave, so a KV cache is copied one row per finished request.

    >>> fill_from_tail([True, False, True, True, False])
    [0, 3, 2]
    """
    kept = sum(alive)
    tail = [row for row in range(kept, len(alive)) if alive[row]]
    return [row if alive[row] else tail.pop() for row in range(kept)]
