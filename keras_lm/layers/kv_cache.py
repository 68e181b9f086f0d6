"""Fixed-size key/value cache helpers: which slot each new token writes, which slots it sees.

A Transformer decoder exported with a cache keeps one slot per position of the
context (`C` slots) and takes the cache as an input. A new token at position `p`
writes its key and value into slot `p` and attends to slots `0..p`. The write is a
one-hot blend (`cache * (1 - w) + onehot^T @ new`) rather than a scatter or
`slice_update`: it lowers to builtin ops in both TFLite and ONNX and keeps every
shape static. Padding tokens (mask 0) write nowhere, so left-padded prompts (whose
first real token has position 0) never put pads into the cache.

Example:
>>> import numpy as np
>>> from keras import ops
>>> from keras_lm.layers.kv_cache import slot_writes
>>> from keras_lm.layers.kv_cache import visible_slots
>>> from keras_lm.layers.kv_cache import write_slots
>>> positions = np.array([[0, 0, 1]], "int32")  # (B, T): one pad, then two real tokens
>>> writes = slot_writes(positions, np.array([[0, 1, 1]], "int32"), 3)  # (B, T, C)
>>> ops.convert_to_numpy(writes).tolist()
[[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]
>>> ops.convert_to_numpy(visible_slots(positions, 3))[0, 2].tolist()
[True, True, False]
>>> new = np.arange(3, dtype="float32").reshape(1, 3, 1, 1) + 1.0  # (B, T, H, Dh)
>>> cache = write_slots(np.zeros((1, 3, 1, 1), "float32"), new, writes)  # (B, C, H, Dh)
>>> ops.convert_to_numpy(cache)[0, :, 0, 0].tolist()
[2.0, 3.0, 0.0]
"""

from __future__ import annotations

from keras import ops


def slot_writes(positions, padding_mask, slots: int):
    """`(B, T, C)` one-hot of each real new token's cache slot (pads write nowhere).

    Args:
        positions: int `(B, T)`. The position (= cache slot) of each new token.
        padding_mask: int or bool `(B, T)`. 1/True for real tokens.
        slots: int. The cache length `C`.

    Returns:
        float32 `(B, T, C)`: row `t` is one-hot at `positions[:, t]`, all zero for pads.

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_lm.layers.kv_cache import slot_writes
    >>> w = slot_writes(np.array([[2]], "int32"), np.array([[1]], "int32"), 4)
    >>> ops.convert_to_numpy(w).tolist()
    [[[0.0, 0.0, 1.0, 0.0]]]
    """
    onehot = ops.expand_dims(positions, -1) == ops.reshape(
        ops.arange(slots, dtype=positions.dtype), (1, 1, -1)
    )  # (B, T, C)
    real = ops.expand_dims(ops.cast(padding_mask, "bool"), -1)  # (B, T, 1)
    return ops.cast(ops.logical_and(onehot, real), "float32")


def visible_slots(positions, slots: int):
    """`(B, T, C)` bool: the token at position p sees cache slots 0..p (causal, no padding inside).

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_lm.layers.kv_cache import visible_slots
    >>> ops.convert_to_numpy(visible_slots(np.array([[1]], "int32"), 3)).tolist()
    [[[True, True, False]]]
    """
    keys = ops.reshape(ops.arange(slots, dtype=positions.dtype), (1, 1, -1))  # (1, 1, C)
    return keys <= ops.expand_dims(positions, -1)


def write_slots(cache, new, writes):
    """`cache` `(B, C, H, Dh)` with `new` `(B, T, H, Dh)` written at the one-hot `writes` `(B, T, C)`.

    Slots that no new token writes keep their old contents.

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_lm.layers.kv_cache import write_slots
    >>> cache = np.full((1, 2, 1, 1), 7.0, "float32")  # (B, C, H, Dh)
    >>> new = np.ones((1, 1, 1, 1), "float32")  # (B, T, H, Dh)
    >>> out = write_slots(cache, new, np.array([[[0.0, 1.0]]], "float32"))
    >>> ops.convert_to_numpy(out)[0, :, 0, 0].tolist()
    [7.0, 1.0]
    """
    writes = ops.cast(writes, cache.dtype)
    keep = 1.0 - ops.max(writes, axis=1)  # (B, C)
    placed = ops.einsum("btc,bthd->bchd", writes, new)  # (B, C, H, Dh)
    return cache * ops.reshape(keep, (ops.shape(keep)[0], -1, 1, 1)) + placed
