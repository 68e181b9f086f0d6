"""Convert the export graphs to ONNX (one file per graph) and quantize them for CPU servers.

Each named `tf.function` of `keras_lm.export.signatures.export_graphs` becomes
`<name>.onnx` through `tf2onnx.convert.from_function` (tf2onnx's `from_keras` breaks
on Keras 3, so the Keras model itself is never traced here). The ONNX graph keeps the
function's names: its inputs are the input signature's names in order, its outputs the
keys of the returned dict, and every axis that is None in the signature stays dynamic
(named `<tensor>_<axis>`, e.g. `token_ids_0` for the batch).

What tf2onnx 1.17 does not do on this stack are done here:

* TensorFlow >= 2.16 writes exact GELU (Keras' default `gelu`) as `0.5 x erfc(-x/sqrt 2)`
  and tf2onnx has no `Erfc` handler; it becomes `1 - Erf(x)` (a builtin since opset 9).
* tf2onnx writes each layer norm as 13 nodes; they become one `LayerNormalization`
  (`keras_lm.export.onnx_fusions`), which ONNX Runtime runs as one kernel; and it writes
  the exact GELU's `x / sqrt 2` as a multiplication, which ORT's GELU fusion misses, so it
  is written back as the division.
* tf2onnx leaves an op it cannot map in the graph and carries on; here that, a checker
  failure or a renamed input/output is an `ExportError` naming the graph, and no file is
  written for any graph.

Example (a model is needed, so not run here):
>>> from keras_lm.models.transformer_lm.model import build_transformer_lm  # doctest: +SKIP
>>> from keras_lm.export.signatures import export_graphs  # doctest: +SKIP
>>> model = build_transformer_lm(TransformerLMConfig.tiny())  # doctest: +SKIP
>>> paths = convert_onnx(export_graphs(model), "export/tiny/onnx")  # doctest: +SKIP
>>> sorted(p.name for p in paths.values())  # doctest: +SKIP
['decode.onnx', 'prefill.onnx']
>>> int8 = quantize_onnx_dynamic(paths["decode"], "export/tiny/onnx/decode.int8.onnx")  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import contextlib
import gc
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

from keras_lm.export.errors import ExportError
from keras_lm.export.onnx_fusions import fuse_layer_norms
from keras_lm.export.onnx_fusions import gelu_scales_as_division
from keras_lm.io import atomic_write

MIN_OPSET = 17
# A single ONNX protobuf cannot exceed 2 GiB; larger models would need external data files.
_PROTOBUF_LIMIT = 2**31 - 1


def _erfc_handler(ctx, node, name, args):
    """tf2onnx (old-style) handler for TF `Erfc`: `node` arrives retyped as `Erf`; add `1 - .`."""
    from tf2onnx import utils

    erf_out = node.output[0]
    dtype = ctx.get_dtype(erf_out)
    one = ctx.make_const(
        utils.make_name(f"{node.name}_one"), np.ones((), utils.map_onnx_to_numpy_type(dtype))
    )
    sub = ctx.insert_new_node_on_output(
        "Sub", erf_out, name=utils.make_name(f"{node.name}_erfc"), inputs=[one.output[0], erf_out]
    )
    ctx.set_dtype(sub.output[0], dtype)
    ctx.copy_shape(erf_out, sub.output[0])


# {TF op: (handler, [ONNX op the node is retyped to first])}: tf2onnx's `custom_op_handlers`.
_CUSTOM_HANDLERS = {"Erfc": (_erfc_handler, ["Erf"])}


@contextlib.contextmanager
def _quiet_logger(name: str):
    """Keep a converter's per-node progress logging (INFO/WARNING) out of the export's output.

    tf2onnx 1.17 with TF 2.21, onnx 1.23 and protobuf emits no Python warnings (checked on
    import and on every family's graphs), so none are filtered: a new one should surface.
    """
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# Weights above which tf2onnx's optimizer passes are each preceded by a collection.
COLLECT_ABOVE_BYTES = 64 * 2**20


def _weight_bytes(fn) -> int:
    """Bytes of the variables `fn` captures: the constants tf2onnx will freeze."""
    variables = fn.get_concrete_function().variables
    return sum(v.shape.num_elements() * v.dtype.size for v in variables)


@contextlib.contextmanager
def _collect_between_optimizers(enabled: bool = True):
    """Run the garbage collector before each of tf2onnx's graph optimizers.

    tf2onnx's `optimize_graph` deep-copies the whole graph, constants included, before
    every optimizer pass (to roll a failed pass back) and the discarded copies are
    reference cycles, which Python's collector, counting objects and not bytes, frees
    late: a 2-layer, 768-wide decode graph with GPT-2's vocabulary peaked at 17.2 GB,
    6.2 GB with this. tf2onnx has no option for it, so its `optimize_graph` is wrapped
    while a conversion runs and restored after. A collection costs a few tenths of a
    second in a TensorFlow process, so small graphs (`enabled` False) go without.
    """
    if not enabled:
        yield
        return
    from tf2onnx import optimizer

    original = optimizer.optimize_graph

    def collecting(factory):
        def make():
            gc.collect()
            return factory()

        return make

    def optimize_graph(graph, catch_errors=True, optimizers=None):
        passes = optimizers if optimizers is not None else optimizer._get_optimizers()
        wrapped = {name: collecting(factory) for name, factory in passes.items()}
        return original(graph, catch_errors, optimizers=wrapped)

    optimizer.optimize_graph = optimize_graph
    try:
        yield
    finally:
        optimizer.optimize_graph = original
        gc.collect()


def _output_names(fn) -> list[str]:
    concrete = fn.get_concrete_function()
    outputs = concrete.structured_outputs
    if not isinstance(outputs, dict):
        raise TypeError(f"returns {type(outputs).__name__}, expected a dict of named outputs")
    return list(outputs)


def _name_dynamic_axes(proto: onnx.ModelProto) -> None:
    """Rename tf2onnx's `unk__123` dynamic dims of the graph's inputs/outputs to `<tensor>_<axis>`."""
    for value in [*proto.graph.input, *proto.graph.output]:
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if not dim.HasField("dim_value"):
                dim.dim_param = f"{value.name}_{axis}"


def _all_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node of `graph`, then (depth first) of the subgraphs of `Loop`/`If`/`Scan` nodes."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attr.g)
            for sub in attr.graphs:
                yield from _all_nodes(sub)


def _unknown_ops(proto: onnx.ModelProto) -> list[str]:
    """Op types (with domain) that no registered ONNX schema defines, subgraphs included."""
    versions = {o.domain: o.version for o in proto.opset_import}
    found = set()
    for node in _all_nodes(proto.graph):
        domain = node.domain or ""
        try:
            onnx.defs.get_schema(node.op_type, versions.get(domain, 1), domain)
        except onnx.defs.SchemaError:
            found.add(f"{domain + '.' if domain else ''}{node.op_type}")
    return sorted(found)


def to_onnx_proto(name: str, fn, opset: int = MIN_OPSET) -> onnx.ModelProto:
    """One `tf.function` (with an input signature, returning a dict) as a checked `ModelProto`.

    Raises `ExportError` naming `name` on any converter failure, an op the converter
    could not map, a checker failure, or input/output names that differ from `fn`'s.
    """
    if opset < MIN_OPSET:
        raise ExportError(f"onnx graph {name!r}: opset {opset} < {MIN_OPSET} is not supported")
    signature = getattr(fn, "input_signature", None)
    if not signature:
        raise ExportError(f"onnx graph {name!r}: the tf.function has no input signature")
    input_names = [spec.name for spec in signature]
    try:
        output_names = _output_names(fn)
        large = _weight_bytes(fn) > COLLECT_ABOVE_BYTES
        with _quiet_logger("tf2onnx"), _collect_between_optimizers(large):
            import tf2onnx

            proto, _ = tf2onnx.convert.from_function(
                fn,
                input_signature=signature,
                opset=opset,
                custom_op_handlers=dict(_CUSTOM_HANDLERS),
            )
    except Exception as err:  # tf2onnx raises bare Exceptions, ValueErrors, AssertionErrors ...
        raise ExportError(
            f"onnx graph {name!r}: tf2onnx failed: {type(err).__name__}: {err}"
        ) from err
    unknown = _unknown_ops(proto)
    if unknown:
        raise ExportError(
            f"onnx graph {name!r}: ops the converter could not map to ONNX: {', '.join(unknown)}"
        )
    got_inputs = [v.name for v in proto.graph.input]
    got_outputs = sorted(v.name for v in proto.graph.output)
    if got_inputs != input_names or got_outputs != sorted(output_names):
        raise ExportError(
            f"onnx graph {name!r}: names changed in conversion: inputs {got_inputs} (expected "
            f"{input_names}), outputs {got_outputs} (expected {sorted(output_names)})"
        )
    proto.graph.name = name
    fuse_layer_norms(proto)
    gelu_scales_as_division(proto)
    _name_dynamic_axes(proto)
    if proto.ByteSize() > _PROTOBUF_LIMIT:
        raise ExportError(
            f"onnx graph {name!r}: {proto.ByteSize()} bytes is over protobuf's 2 GiB limit"
        )
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as err:  # ValidationError, or InferenceError from the full check
        raise ExportError(f"onnx graph {name!r}: onnx.checker: {err}") from err
    return proto


def convert_onnx(
    graphs: dict, out_dir: str | os.PathLike, opset: int = MIN_OPSET
) -> dict[str, Path]:
    """Write each named `tf.function` of `graphs` as `out_dir/<name>.onnx`; returns name -> path.

    Every graph is converted and checked before any file is written, and each file is
    written atomically, so an `ExportError` leaves no new `.onnx` file behind.
    """
    protos = {name: to_onnx_proto(name, fn, opset) for name, fn in graphs.items()}
    out_dir = Path(out_dir)
    paths = {}
    for name, proto in protos.items():
        path = out_dir / f"{name}.onnx"
        with atomic_write(path, "wb") as f:
            f.write(proto.SerializeToString())
        paths[name] = path
    return paths


def _gemm_to_matmul(proto: onnx.ModelProto) -> int:
    """Rewrite `Gemm(A, W[, C])` with a constant `W` as `MatMul(A, W) + C`; returns how many.

    tf2onnx fuses 2-D `MatMul + BiasAdd` into `Gemm`, which ORT's dynamic quantization
    does not cover (only `MatMul`): without this, Dense layers on `(B*T, D)` stay float32.
    Only plain Gemms (alpha = 1, beta = 1 or no C, A not transposed) are rewritten.
    """
    from onnx import helper
    from onnx import numpy_helper

    graph = proto.graph
    weights = {init.name: init for init in graph.initializer}
    uses = collections.Counter(i for node in _all_nodes(graph) for i in node.input)
    nodes, rewritten = [], 0
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        has_bias = len(node.input) > 2 and bool(node.input[2])
        plain = attrs.get("alpha", 1.0) == 1.0 and (not has_bias or attrs.get("beta", 1.0) == 1.0)
        if (
            node.op_type != "Gemm"
            or not plain
            or attrs.get("transA", 0)
            or node.input[1] not in weights
        ):
            nodes.append(node)
            continue
        weight = node.input[1]
        if attrs.get("transB", 0):
            value = numpy_helper.to_array(weights[weight]).T
            if uses[weight] == 1:
                graph.initializer.remove(weights[weight])
            else:
                weight = f"{weight}__transposed_{node.name}"
            graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value), weight))
        product = f"{node.output[0]}__matmul" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], weight], [product], node.name))
        if has_bias:
            nodes.append(
                helper.make_node(
                    "Add", [product, node.input[2]], [node.output[0]], f"{node.name}_bias"
                )
            )
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return rewritten


def quantize_onnx_dynamic(path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """ONNX Runtime dynamic int8 quantization of `path` (weights int8 once, activations per call).

    Weights are `QInt8`: dynamic activations are always uint8, so matrix products run
    ORT's U8S8 kernels, x86-64's fast int8 path (`VPMADDUBSW` on AVX2/AVX-512, `VPDPBUSD`
    on VNNI), while U8U8 (`QUInt8` weights) takes a slower widening path. Measured on a
    Xeon with AVX-512 VNNI, 1 thread, a 2-layer 256-wide LM prefilling 4 x 64 tokens:
    QInt8 9.5 ms, QUInt8 14.0 ms, float32 13.5 ms (one-token decode steps: all ~2.2 ms).
    Constant-weight `Gemm`s are first rewritten as `MatMul + Add` (dynamic mode quantizes
    only `MatMul`), and only MatMuls with a constant weight are quantized (ORT's default),
    so attention's activation-by-activation products stay float32. Scales are per output
    channel (one per weight column), as TFLite's dynamic-range int8. Written atomically.
    """
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic

    def quantize(proto: onnx.ModelProto, tmp: str) -> None:
        _gemm_to_matmul(proto)
        # 7-bit weights: ORT's u8s8 kernels saturate on AVX2 CPUs without VNNI (near-tie logits flip).
        quantize_dynamic(
            proto, tmp, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True
        )

    return _quantize_atomically(path, out_path, "int8", quantize)


WEIGHT_ONLY_BLOCK = 32  # weights per scale: the block size ORT's int4 LLM recipes use


def quantize_onnx_weight_only(
    path: str | os.PathLike, out_path: str | os.PathLike, bits: int = 8
) -> Path:
    """Block-wise weight-only quantization: every constant-weight MatMul becomes `MatMulNBits`.

    ORT's weight-only op (the one onnxruntime-genai's LLMs run): `bits`-bit weights (8 or
    4), symmetric, one float scale per 32 weights of a column, so a column's outliers
    cost only their block. `accuracy_level` 4 lets ORT multiply with int8 activations,
    quantized per block as each call runs: on a 2-core EPYC, `small`'s decode step took
    0.26 ms (int8 weights) against 0.41 ms for dynamic int8 and 0.57 ms for float32,
    while float compute on the same weights (`accuracy_level` 0) took 7.1 ms. Written
    atomically; `ExportError` on failure.
    """
    if bits not in (4, 8):
        raise ExportError(f"onnx weight-only quantization: bits must be 4 or 8, got {bits}")

    def quantize(proto: onnx.ModelProto, tmp: str) -> None:
        module = _import_nbits_quantizer()
        _gemm_to_matmul(proto)
        config = module.DefaultWeightOnlyQuantConfig(
            block_size=WEIGHT_ONLY_BLOCK, is_symmetric=True, bits=bits, accuracy_level=4
        )
        quantizer = module.MatMulNBitsQuantizer(proto, algo_config=config)
        with _quiet_logger(module.__name__):
            quantizer.process()
        quantizer.model.save_model_to_file(tmp, False)

    return _quantize_atomically(path, out_path, f"int{bits} weight-only", quantize)


def _import_nbits_quantizer():
    """ORT's `matmul_nbits_quantizer`, imported without the root-logger set-up it does on import."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:  # the module calls logging.basicConfig(level=INFO): every library's INFO would print
        from onnxruntime.quantization import matmul_nbits_quantizer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return matmul_nbits_quantizer


def _quantize_atomically(path, out_path, label: str, quantize) -> Path:
    """`quantize(proto, tmp)` writes the quantized `path` to a temporary file, checked, then
    renamed to `out_path`; any failure is an `ExportError` and leaves nothing behind."""
    path, out_path = Path(path), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    try:
        try:
            quantize(onnx.load(str(path)), tmp)
            onnx.checker.check_model(tmp)
        except Exception as err:
            raise ExportError(f"onnx {label} quantization of {path}: {err}") from err
        os.replace(tmp, out_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return out_path


def graph_ops(path: str | os.PathLike | onnx.ModelProto) -> dict[str, int]:
    """Op-type histogram of an ONNX model's main graph (and its subgraphs), most frequent first.

    >>> from onnx import TensorProto, helper
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    >>> nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Relu", ["r"], ["s"]),
    ...          helper.make_node("Neg", ["s"], ["y"])]
    >>> graph_ops(helper.make_model(helper.make_graph(nodes, "g", [x], [y])))
    {'Relu': 2, 'Neg': 1}
    """
    proto = path if isinstance(path, onnx.ModelProto) else onnx.load(str(path))
    counts = collections.Counter(node.op_type for node in _all_nodes(proto.graph))
    return dict(counts.most_common())
