"""Run the signatures of a `.tflite` file with LiteRT on CPU: numpy in, a dict of named numpy out.

This module imports only numpy and `ai_edge_litert` (never tensorflow or keras, nor any
keras_lm module that does), so it runs where only the [runtime] extra is installed. One
`.tflite` file holds every graph of a bundle (`prefill`, `decode`, `encode`, `classify`
...) as a signature; each is run through its own signature runner.

Dynamic axes (recorded as -1, shown here as None) take the shape of each call: the
signature runner resizes its inputs and reallocates before every invoke. Fixed axes are
checked here first, because LiteRT would silently resize them too, so a mistake names the
input, the shape it wants and the shape it got:

(see `keras_lm.runtime.feeds`).

Example (needs an exported file, so not run here):
>>> graphs = LiteRTGraphs("export/tiny/model.tflite", num_threads=2)  # doctest: +SKIP
>>> graphs.names  # doctest: +SKIP
['decode', 'prefill']
>>> graphs.inputs("decode")  # doctest: +SKIP
{'past_cache': ((None, 2, 2, 16, 2, 8), 'float32'), 'positions': ((None, 1), 'int32'), ...}
>>> graphs.run("prefill", token_ids=ids, padding_mask=mask)["logits"].shape  # doctest: +SKIP
(1, 7, 40)
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

import numpy as np

from keras_lm.errors import InputError
from keras_lm.runtime.feeds import Shape
from keras_lm.runtime.feeds import check_feed

# What reading a damaged flatbuffer raises: offsets past the end (struct.error, IndexError),
# numbers out of their type's range (TypeError, OverflowError), bad strings (UnicodeDecodeError,
# a ValueError), an absent string read as None (AttributeError).
FLATBUFFER_ERRORS = (
    struct.error,
    IndexError,
    TypeError,
    ValueError,
    OverflowError,
    AttributeError,
    RecursionError,
)


def not_a_flatbuffer(path: Path, err: Exception) -> InputError:
    """The one-line error for a `.tflite` file whose flatbuffer cannot be read."""
    return InputError(str(path), f"not a valid TFLite flatbuffer ({err})")


def _custom_ops(path: Path) -> list[str]:
    """The custom (and Flex) op codes a `.tflite` file declares; LiteRT's resolver has none."""
    if path.stat().st_size < 8:
        raise InputError(str(path), "not a TFLite flatbuffer (too short)")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as content:
        if content[4:8] != b"TFL3":
            raise InputError(str(path), "not a TFLite flatbuffer (no TFL3 identifier)")
        try:
            return _read_custom_ops(content)
        except FLATBUFFER_ERRORS as err:
            raise not_a_flatbuffer(path, err) from err


def _read_custom_ops(content: bytes | mmap.mmap) -> list[str]:
    """`_custom_ops` of a flatbuffer's bytes; a damaged one raises one of `FLATBUFFER_ERRORS`."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content, 0)
    found = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == schema.BuiltinOperator.CUSTOM:
            found.append((code.CustomCode() or b"<unnamed>").decode())
    return found


def _details(details: dict) -> dict[str, tuple[Shape, str]]:
    """Signature tensor details -> name -> (shape with None for dynamic axes, dtype name)."""
    found = {}
    for key, detail in details.items():
        signature = detail.get("shape_signature")
        if signature is None or len(signature) == 0:
            signature = detail["shape"]
        shape = tuple(int(d) if d >= 0 else None for d in signature)
        found[key] = (shape, np.dtype(detail["dtype"]).name)
    return found


class LiteRTGraphs:
    """Every signature of one `.tflite` file, each run by its own LiteRT signature runner.

    Args:
        path: the `.tflite` file (as `keras_lm.export.tflite.convert_tflite` writes it).
        num_threads: int | None. CPU threads of the interpreter (None: LiteRT's default,
            which is 1 in the Python package).
        xnnpack: bool. Let LiteRT apply its default XNNPACK delegate (the fast CPU kernels);
            False runs its builtin kernels only.

    Not thread-safe: one call at a time per instance (the runners share one interpreter).
    """

    concurrent = False  # see `OnnxGraphs.concurrent`

    def __init__(
        self, path: str | os.PathLike, num_threads: int | None = None, xnnpack: bool = True
    ):
        from ai_edge_litert.interpreter import Interpreter
        from ai_edge_litert.interpreter import OpResolverType

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(str(self.path), "TFLite file not found")
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise InputError(
                str(self.path), f"num_threads must be an int >= 1, got {num_threads!r}"
            )
        custom = _custom_ops(self.path)
        if custom:
            raise InputError(
                str(self.path),
                f"uses ops LiteRT's builtin resolver cannot run: {', '.join(custom)} "
                "(Flex ops need the Select TF ops delegate); export it builtin-only",
            )
        resolver = (
            OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        try:
            self._interpreter = Interpreter(
                model_path=str(self.path),
                num_threads=num_threads,
                experimental_op_resolver_type=resolver,
            )
        except (RuntimeError, ValueError) as err:  # unresolved (Flex/custom) ops, bad file ...
            raise InputError(str(self.path), f"LiteRT cannot load this model: {err}") from err
        self._runners = {
            name: self._interpreter.get_signature_runner(name)
            for name in self._interpreter.get_signature_list()
        }
        self._inputs = {
            name: _details(runner.get_input_details()) for name, runner in self._runners.items()
        }
        self._outputs = {
            name: _details(runner.get_output_details()) for name, runner in self._runners.items()
        }
        self._views: dict[str, dict | None] = {}

    @property
    def names(self) -> list[str]:
        """The signature (graph) names, as recorded in the file."""
        return list(self._runners)

    def _graph(self, name: str) -> str:
        if name not in self._runners:
            raise InputError(name, f"no such graph in {self.path}; the graphs are {self.names}")
        return name

    def inputs(self, name: str) -> dict[str, tuple[Shape, str]]:
        """Graph `name`'s inputs: input name -> (shape, dtype); dynamic axes are None."""
        return dict(self._inputs[self._graph(name)])

    def outputs(self, name: str) -> dict[str, tuple[Shape, str]]:
        """Graph `name`'s outputs: output name -> (shape, dtype); dynamic axes are None."""
        return dict(self._outputs[self._graph(name)])

    def input_views(self, name: str) -> dict[str, np.ndarray] | None:
        """Writable views of graph `name`'s fixed-shape float inputs, in the interpreter's memory.

        An array written through a view and passed back to `run` is not copied in: a
        decoder's KV cache can live there between steps. None for a graph with a
        dynamic axis. Views stay valid while the input shapes do (they never change here).
        """
        if name in self._views:
            return self._views[name]
        runner = self._runners[self._graph(name)]
        views = None
        if all(None not in shape for shape, _ in self._inputs[name].values()):
            # The signature runner's own wrapper and indices: the public API has no such view.
            wrapper, subgraph = runner._interpreter_wrapper, runner._subgraph_index
            wrapper.AllocateTensors(subgraph)
            views = {
                key: wrapper.tensor(self._interpreter, index, subgraph)
                for key, index in runner._inputs.items()
                if self._inputs[name][key][1] == "float32"
            }
        self._views[name] = views
        return views

    def _run_in_place(self, name: str, feed: dict) -> dict[str, np.ndarray]:
        """Invoke with the inputs that are views left where they are; set only the others."""
        runner, views = self._runners[name], self._views[name]
        wrapper, subgraph = runner._interpreter_wrapper, runner._subgraph_index
        for key, value in feed.items():
            if value is not views.get(key):
                wrapper.SetTensor(runner._inputs[key], value, subgraph)
        wrapper.Invoke(subgraph)
        return {key: wrapper.GetTensor(index, subgraph) for key, index in runner._outputs}

    def run(self, name: str, **inputs) -> dict[str, np.ndarray]:
        """Run graph `name` on its named inputs; returns every output (fresh arrays), by name."""
        feed = check_feed(name, self._inputs[self._graph(name)], inputs)
        views = self._views.get(name)
        if views and any(feed.get(key) is view for key, view in views.items()):
            return self._run_in_place(name, feed)
        try:
            results = self._runners[name](**feed)
        except (RuntimeError, ValueError) as err:  # e.g. dynamic axes that disagree
            shapes = {key: value.shape for key, value in feed.items()}
            raise InputError(name, f"LiteRT failed on inputs of shapes {shapes}: {err}") from err
        return results  # GetTensor returns fresh copies: nothing aliases the interpreter
