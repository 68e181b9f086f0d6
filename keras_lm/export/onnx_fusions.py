"""Graph rewrites on tf2onnx's output that make the exported decoders cheaper to run.

Decoding one token is dominated by per-node overhead, not arithmetic: the `small` GPT's
decode graph had 764 nodes for 2.7M multiply-adds. tf2onnx writes each Keras
`LayerNormalization` as the 13 nodes of `tf.nn.moments` + `batch_normalization`
(GlobalAveragePool, Neg, Sub, Mul, GlobalAveragePool, Add, Sqrt, Reciprocal, Mul, Mul,
Mul, Add, Add). ONNX has had one `LayerNormalization` op since opset 17, ONNX Runtime
runs it as one fused kernel, and neither tf2onnx 1.17 nor ORT's own optimizer
recognises this pattern (ORT's transformer optimizer needs PyTorch installed), so the
rewrite is done here. Every exported graph is still verified against Keras afterwards.

Example, on a hand-written graph of the pattern:
>>> proto = _moments_graph(width=4)
>>> fuse_layer_norms(proto), [n.op_type for n in proto.graph.node]
(1, ['LayerNormalization'])
"""

from __future__ import annotations

import collections

import numpy as np
import onnx
from onnx import helper
from onnx import numpy_helper


def _ranks(proto: onnx.ModelProto) -> dict[str, int]:
    """Tensor name -> rank, where ONNX shape inference knows it."""
    inferred = onnx.shape_inference.infer_shapes(proto)
    infos = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    return {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in infos
        if v.type.tensor_type.HasField("shape")
    }


class _Graph:
    """Producer/consumer lookups over one graph's nodes."""

    def __init__(self, graph: onnx.GraphProto, ranks: dict[str, int]):
        self.ranks = ranks
        self.consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.outputs = {o.name for o in graph.output}
        self.users = collections.defaultdict(list)
        for node in graph.node:
            for name in dict.fromkeys(node.input):  # Mul(d, d) uses d once
                self.users[name].append(node)

    def only(self, name: str, op: str):
        """The single consumer of `name` if it is an `op`, else None."""
        users = self.users.get(name, [])
        return users[0] if len(users) == 1 and users[0].op_type == op else None

    def other(self, node, name: str) -> str:
        """`node`'s input that is not `name` (for two-input nodes)."""
        return next(i for i in node.input if i != name)


MEANS = ("GlobalAveragePool", "ReduceMean")


def _last_axis_mean(g: _Graph, node, x: str) -> bool:
    """Whether `node` averages `x` over its last axis, keeping it: tf2onnx writes the moments of a
    (B, T, D) tensor as GlobalAveragePool and of a (B, D) one as ReduceMean."""
    rank = g.ranks.get(x)
    if node.op_type == "GlobalAveragePool":
        return rank == 3
    if node.op_type != "ReduceMean" or rank is None or len(node.input) > 1:
        return False
    attributes = {a.name: a for a in node.attribute}
    axes = list(attributes["axes"].ints) if "axes" in attributes else []
    keep = attributes["keepdims"].i if "keepdims" in attributes else 1
    return keep == 1 and axes in ([-1], [rank - 1])


def _match(g: _Graph, mean) -> tuple[list, str, str, str, float] | None:
    """(nodes, x, gamma, beta, epsilon) of the moments pattern starting at `mean`, or None."""
    x = mean.input[0]
    if not _last_axis_mean(g, mean, x):
        return None
    users = {u.op_type: u for u in g.users.get(mean.output[0], [])}
    neg, sub = users.get("Neg"), users.get("Sub")
    if len(users) != 2 or not neg or not sub or list(sub.input) != [x, mean.output[0]]:
        return None
    square = g.only(sub.output[0], "Mul")
    if not square or list(square.input) != [sub.output[0]] * 2:
        return None
    var = g.only(square.output[0], mean.op_type)
    if not var or not _last_axis_mean(g, var, square.output[0]):
        return None
    add_eps = g.only(var.output[0], "Add")
    sqrt = add_eps and g.only(add_eps.output[0], "Sqrt")
    recip = sqrt and g.only(sqrt.output[0], "Reciprocal")
    scale = recip and g.only(recip.output[0], "Mul")
    if not scale:
        return None
    eps, gamma = g.other(add_eps, var.output[0]), g.other(scale, recip.output[0])
    scaled = {u.output[0]: u for u in g.users[scale.output[0]] if u.op_type == "Mul"}
    mul_x = next((u for u in scaled.values() if x in u.input), None)
    mul_neg = next((u for u in scaled.values() if neg.output[0] in u.input), None)
    if len(g.users[scale.output[0]]) != 2 or not mul_x or not mul_neg:
        return None
    add_beta = g.only(mul_neg.output[0], "Add")
    final = add_beta and g.only(add_beta.output[0], "Add")
    if not final or mul_x.output[0] not in final.input:
        return None
    beta = g.other(add_beta, mul_neg.output[0])
    nodes = [mean, neg, sub, square, var, add_eps, sqrt, recip, scale, mul_x, mul_neg, add_beta]
    if any(name not in g.consts for name in (eps, gamma, beta)):
        return None
    if {o for n in nodes for o in n.output} & g.outputs:
        return None
    return [*nodes, final], x, gamma, beta, float(g.consts[eps].reshape(-1)[0])


def fuse_layer_norms(proto: onnx.ModelProto) -> int:
    """Replace every moments-style layer norm over the last axis by `LayerNormalization`.

    Only exact matches are rewritten: scale and shift constant and of the normalised
    width, no intermediate used elsewhere or as a graph output. Returns how many.
    """
    graph = proto.graph
    g = _Graph(graph, _ranks(proto))
    replaced: dict[int, onnx.NodeProto] = {}
    removed: set[int] = set()
    for mean in [n for n in graph.node if n.op_type in MEANS]:
        found = _match(g, mean)
        if not found:
            continue
        nodes, x, gamma, beta, eps = found
        scale, shift = g.consts[gamma].reshape(-1), g.consts[beta].reshape(-1)
        if scale.shape != shift.shape:
            continue
        final = nodes[-1]
        names = (f"{final.name}/layer_norm_scale", f"{final.name}/layer_norm_bias")
        for name, value in zip(names, (scale, shift), strict=True):
            graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), name))
        replaced[id(final)] = helper.make_node(
            "LayerNormalization",
            [x, *names],
            [final.output[0]],
            f"{final.name}/layer_norm",
            axis=-1,
            epsilon=eps,
        )
        removed.update(id(n) for n in nodes[:-1])
    kept = [replaced.get(id(n), n) for n in graph.node if id(n) not in removed]
    del graph.node[:]
    graph.node.extend(kept)
    _drop_unused_initializers(graph)
    return len(replaced)


INV_SQRT2 = 1 / np.sqrt(2.0)


def gelu_scales_as_division(proto: onnx.ModelProto) -> int:
    """Write each exact GELU's `Mul(x, 1/sqrt 2)` before `Erf` as `Div(x, sqrt 2)`; return how many.

    tf2onnx turns the division of `x * 0.5 * (1 + erf(x / sqrt 2))` into a multiplication,
    and ONNX Runtime's `GeluFusion` only recognises the division: with it, ORT runs each
    GELU as one kernel instead of five nodes. The file stays standard ONNX (opset 17).
    """
    graph = proto.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    users = collections.Counter(name for node in graph.node for name in node.input)
    producers = {o: node for node in graph.node for o in node.output}
    name = "gelu/sqrt2"
    changed = 0
    for erf in [n for n in graph.node if n.op_type == "Erf"]:
        scale = producers.get(erf.input[0])
        if scale is None or scale.op_type != "Mul" or users[scale.output[0]] != 1:
            continue
        constant = [i for i in scale.input if i in consts and consts[i].size == 1]
        if len(constant) != 1 or not np.isclose(float(consts[constant[0]]), INV_SQRT2, rtol=1e-6):
            continue
        x = next(i for i in scale.input if i != constant[0])
        scale.op_type = "Div"
        del scale.input[:]
        scale.input.extend([x, name])
        changed += 1
    if changed:
        graph.initializer.append(numpy_helper.from_array(np.array(np.sqrt(2.0), np.float32), name))
        _drop_unused_initializers(graph)
    return changed


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {i for node in graph.node for i in node.input} | {o.name for o in graph.output}
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:
        graph.initializer.remove(init)


def _moments_graph(width: int, rank: int = 3) -> onnx.ModelProto:
    """A graph of exactly tf2onnx's layer-norm pattern over `(1, 1, width)` (rank 3, for tests
    and docs) or `(1, width)` (rank 2: `ReduceMean` over the last axis instead of pooling)."""
    f = onnx.TensorProto.FLOAT
    consts = {
        "eps": np.array(1e-5, np.float32),
        "gamma": np.linspace(0.5, 1.5, width, dtype=np.float32),
        "beta": np.linspace(-1, 1, width, dtype=np.float32),
    }
    n = helper.make_node

    def mean(source: str, out: str):
        if rank == 3:
            return n("GlobalAveragePool", [source], [out])
        return n("ReduceMean", [source], [out], axes=[rank - 1], keepdims=1)

    nodes = [
        mean("x", "mean"),
        n("Neg", ["mean"], ["neg"]),
        n("Sub", ["x", "mean"], ["d"]),
        n("Mul", ["d", "d"], ["d2"]),
        mean("d2", "var"),
        n("Add", ["var", "eps"], ["ve"]),
        n("Sqrt", ["ve"], ["sd"]),
        n("Reciprocal", ["sd"], ["r"]),
        n("Mul", ["r", "gamma"], ["s"]),
        n("Mul", ["x", "s"], ["xs"]),
        n("Mul", ["neg", "s"], ["ms"]),
        n("Add", ["ms", "beta"], ["shift"]),
        n("Add", ["xs", "shift"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "moments",
        [helper.make_tensor_value_info("x", f, [1] * (rank - 1) + [width])],
        [helper.make_tensor_value_info("y", f, [1] * (rank - 1) + [width])],
        [numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
