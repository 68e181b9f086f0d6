"""Check a graph's named inputs before a runtime sees them: names, dtype, rank, fixed axes.

Shared by the ONNX Runtime and LiteRT runners, so a mistake reads the same on both: it
names the graph, the input, what was expected and what came. numpy only.

>>> check_input("encode", "encoder_token_ids", np.zeros((1, 5), "int32"), (1, 8), "int32")
Traceback (most recent call last):
...
keras_lm.errors.InputError: encode [encoder_token_ids]: expected shape (1, 8), got (1, 5) (axis 1 is fixed at 8)
"""

from __future__ import annotations

import functools

import numpy as np

from keras_lm.errors import InputError

Shape = tuple  # each axis an int, or None / a str for a dynamic one


def _pretty(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def check_feed(
    graph: str, expected: dict[str, tuple[Shape, str]], inputs: dict
) -> dict[str, np.ndarray]:
    """`inputs` checked against `expected` (name -> (shape, dtype)), as contiguous arrays."""
    unknown = sorted(set(inputs) - set(expected))
    if unknown:
        raise InputError(
            graph, f"unknown input(s) {unknown}; expected {list(expected)}", field=unknown[0]
        )
    missing = [key for key in expected if key not in inputs]
    if missing:
        raise InputError(
            graph, f"missing input(s) {missing}; expected {list(expected)}", field=missing[0]
        )
    return {
        key: check_input(graph, key, inputs[key], shape, dtype)
        for key, (shape, dtype) in expected.items()
    }


@functools.cache
def _dtype(name: str) -> np.dtype:
    return np.dtype(name)


def _ready(value, shape: Shape, dtype: str) -> bool:
    """Whether `value` is already a C-contiguous array of `dtype` that fits `shape`."""
    # `dtype.name` builds a string per call (a sixth of a decode step's Python): compare dtypes.
    if type(value) is not np.ndarray or value.dtype != _dtype(dtype) or len(shape) != value.ndim:
        return False
    if not value.flags.c_contiguous:
        return False
    return all(not isinstance(w, int) or w == g for w, g in zip(shape, value.shape, strict=True))


def check_input(graph: str, name: str, value, shape: Shape, dtype: str) -> np.ndarray:
    """`value` as a C-contiguous array of `dtype`; `InputError` for a wrong rank, axis or kind.

    Python ints/floats/lists are accepted where they convert exactly (a list of ids for
    int32); a numpy array of another dtype is not cast silently.
    """
    if _ready(value, shape, dtype):  # the decode loop's case, checked in a few attribute reads
        return value
    array = np.asarray(value)
    if np.dtype(dtype).kind in "SO":  # a string tensor: bytes or str in
        if array.dtype.kind not in "SUO":
            raise InputError(graph, f"expected strings, got {array.dtype}", field=name)
    elif isinstance(value, np.ndarray | np.generic):
        if array.dtype != np.dtype(dtype):
            raise InputError(graph, f"expected dtype {dtype}, got {array.dtype}", field=name)
    else:
        converted = array.astype(dtype) if array.dtype.kind in "biuf" else None
        exact = converted is not None and (
            np.dtype(dtype).kind == "f" or np.array_equal(converted, array)
        )
        if not exact:
            raise InputError(
                graph, f"expected {dtype} values, got {array.dtype} that do not convert", field=name
            )
        array = converted
    if array.ndim != len(shape):
        raise InputError(
            graph,
            f"expected rank {len(shape)} (shape {_pretty(shape)}), got shape {array.shape}",
            field=name,
        )
    for axis, (want, got) in enumerate(zip(shape, array.shape, strict=True)):
        if isinstance(want, int) and want != got:
            raise InputError(
                graph,
                f"expected shape {_pretty(shape)}, got {array.shape} (axis {axis} is fixed at {want})",
                field=name,
            )
    return np.ascontiguousarray(array)
