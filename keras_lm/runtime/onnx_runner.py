"""Run a bundle's ONNX graphs with ONNX Runtime on CPU: numpy in, a dict of named numpy out.

This module imports only numpy and onnxruntime (never tensorflow or keras, nor any
keras_lm module that does), so it runs where only the [runtime] extra is installed.
One `InferenceSession` per graph (`prefill`, `decode`, `encode`, `classify` ...), with
every graph optimization on, `num_threads` intra-op threads and one inter-op thread
(the graphs are chains of small ops; parallel branches only add scheduling).

Inputs are checked before ORT sees them, so a mistake names the input:

>>> from keras_lm.runtime.feeds import check_input
>>> check_input("decode", "token_ids", [[1, 2]], ("token_ids_0",), "int32")
Traceback (most recent call last):
...
keras_lm.errors.InputError: decode [token_ids]: expected rank 1 (shape (token_ids_0,)), got shape (1, 2)

Example (needs exported files, so not run here):
>>> graphs = OnnxGraphs({"decode": "export/tiny/onnx/decode.onnx"})  # doctest: +SKIP
>>> graphs.inputs("decode")  # doctest: +SKIP
{'token_ids': (('token_ids_0',), 'int32'), 'past_h': (('past_h_0', 2, 16), 'float32'), ...}
>>> graphs.run("decode", token_ids=ids, past_h=h, past_c=c)["logits"].shape  # doctest: +SKIP
(1, 40)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_lm.errors import InputError
from keras_lm.runtime.feeds import Shape
from keras_lm.runtime.feeds import check_feed

# ONNX Runtime's tensor type strings -> numpy dtype names.
_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


def _dims(shape) -> Shape:
    return tuple(d if isinstance(d, int) else (d or None) for d in shape)


def _session(ort, path: Path, options):
    """An `InferenceSession` of `path`; a file ONNX Runtime cannot load is an `InputError` naming it."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    errors = (RuntimeError, *(v for v in vars(state).values() if _is_ort_error(v)))
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except errors as err:  # InvalidProtobuf, InvalidGraph, Fail ...
        raise InputError(
            str(path), f"ONNX Runtime cannot load this model ({_ort_reason(err):.300})"
        ) from err


def _is_ort_error(value) -> bool:
    """Whether `value` is one of the exception classes ORT's bindings raise."""
    return isinstance(value, type) and issubclass(value, Exception)


def _ort_reason(err: Exception) -> str:
    """ORT's message on one line, without its header or the path the error already names.

    >>> _ort_reason(RuntimeError("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from "
    ...     "/b/decode.onnx failed:Protobuf parsing failed."))
    'INVALID_PROTOBUF: Protobuf parsing failed.'
    """
    lines = str(err).strip().splitlines() or [type(err).__name__]
    parts = lines[0].split(" : ")
    if len(parts) >= 4:  # "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : message"
        code, message = parts[2], " : ".join(parts[3:])
    else:
        code, message = type(err).__name__, lines[0]
    if message.startswith("Load model from") and "failed:" in message:
        message = message.split("failed:", 1)[1]
    return f"{code}: {message.strip()}"


class OnnxGraphs:
    """One ONNX Runtime CPU session per named graph.

    `concurrent`: two graphs may run at once from two threads (ORT sessions are
    thread-safe and release the GIL), as `keras_lm.serving.batcher` prepares prompts.

    Args:
        paths: dict[str, Path]. Graph name -> `.onnx` file (as `convert_onnx` returns).
        num_threads: int | None. Intra-op threads per session (None: ORT's default, one
            per physical core).
    """

    concurrent = True

    def __init__(self, paths: dict[str, str | os.PathLike], num_threads: int | None = None):
        import onnxruntime as ort

        self._sessions = {}
        for name, path in paths.items():
            path = Path(path)
            if not path.is_file():
                raise InputError(str(path), f"ONNX file of graph {name!r} not found")
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.inter_op_num_threads = 1
            if num_threads is not None:
                options.intra_op_num_threads = int(num_threads)
            self._sessions[name] = _session(ort, path, options)
        self._inputs = {
            name: {
                i.name: (_dims(i.shape), _ORT_DTYPES.get(i.type, i.type))
                for i in session.get_inputs()
            }
            for name, session in self._sessions.items()
        }
        self._outputs = {
            name: {
                o.name: (_dims(o.shape), _ORT_DTYPES.get(o.type, o.type))
                for o in session.get_outputs()
            }
            for name, session in self._sessions.items()
        }

    @property
    def names(self) -> list[str]:
        """The graph names, in the order given."""
        return list(self._sessions)

    def _graph(self, name: str) -> str:
        if name not in self._sessions:
            raise InputError(name, f"no such graph; the graphs are {self.names}")
        return name

    def inputs(self, name: str) -> dict[str, tuple[Shape, str]]:
        """Graph `name`'s inputs in order: input name -> (shape, dtype); dynamic axes are str/None."""
        return dict(self._inputs[self._graph(name)])

    def outputs(self, name: str) -> dict[str, tuple[Shape, str]]:
        """Graph `name`'s outputs: output name -> (shape, dtype); dynamic axes are str/None."""
        return dict(self._outputs[self._graph(name)])

    def run(self, name: str, **inputs) -> dict[str, np.ndarray]:
        """Run graph `name` on its named inputs; returns every output, keyed by name."""
        feed = check_feed(name, self._inputs[self._graph(name)], inputs)
        names = list(self._outputs[name])
        values = self._sessions[name].run(names, feed)
        return dict(zip(names, values, strict=True))
