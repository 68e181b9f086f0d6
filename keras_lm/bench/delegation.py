"""What LiteRT's XNNPACK delegate took of a `.tflite` graph: partitions, ops and the share of FLOPs.

After `allocate_tensors()`, each XNNPACK partition is one `DELEGATE` node appended to
the subgraph; its inputs and outputs are the partition's boundary. Walking back from
a partition's outputs to its inputs finds the original nodes it replaced. An op left
outside costs a hand-off between the delegate and LiteRT's builtin kernels, so what
matters is the number of partitions and the FLOPs outside, not the op count: a
`LESS` on `C` slots costs nothing, an undelegated `BATCH_MATMUL` costs a layer.

FLOPs are counted per node from tensor shapes: `2 * M * N * K` for
`FULLY_CONNECTED` and `BATCH_MATMUL`, one per output element for every other op.
The Python interpreter only shows its first subgraph's nodes (`NodeName` takes no
subgraph index), so the graph inspected must be subgraph 0; the exporter orders the
signatures by name, which puts `decode` there for the decoder families.

Example (needs an exported file, so not run here):
>>> delegation("export/shakespeare-small/tflite/model.float32.tflite")  # doctest: +SKIP
{'signature': 'decode', 'nodes': 205, 'delegated_nodes': 187, 'partitions': 2, ...}
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

MATMULS = ("FULLY_CONNECTED", "BATCH_MATMUL")


def _node_flops(name: str, inputs: list, output: tuple, shapes) -> float:
    size = float(np.prod(output)) if output else 1.0
    if name == "FULLY_CONNECTED" and len(inputs) > 1 and inputs[1] >= 0:
        return 2.0 * size * shapes(inputs[1])[-1]  # weights (out, in)
    if name == "BATCH_MATMUL" and output:
        a = float(np.prod(shapes(inputs[0])))
        return 2.0 * size * a * output[-1] / size  # K = |a| * N / |out|
    return size


def delegation(path: str | Path, num_threads: int = 1) -> dict:
    """XNNPACK's share of the first subgraph of `path`: partitions, nodes, FLOPs, ops left out."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.interpreter import OpResolverType

    interpreter = Interpreter(
        model_path=str(path),
        num_threads=num_threads,
        experimental_op_resolver_type=OpResolverType.AUTO,
    )
    interpreter.allocate_tensors()  # the delegate replaces its partitions here
    wrapper = interpreter._interpreter  # the public API has no per-node view after delegation
    signature = next(
        (
            k
            for k in interpreter.get_signature_list()
            if wrapper.GetSubgraphIndexFromSignature(k) == 0
        ),
        None,
    )
    nodes = range(wrapper.NumNodes())
    names = [wrapper.NodeName(i) for i in nodes]
    producer = {}
    for i in nodes:
        if names[i] != "DELEGATE":
            producer.update({t: i for t in wrapper.NodeOutputs(i)})
    delegated, partitions = set(), 0
    for d in (i for i in nodes if names[i] == "DELEGATE"):
        partitions += 1
        boundary = set(wrapper.NodeInputs(d))
        stack = list(wrapper.NodeOutputs(d))
        while stack:
            node = producer.get(stack.pop())
            if node is None or node in delegated:
                continue
            delegated.add(node)
            stack += [t for t in wrapper.NodeInputs(node) if t >= 0 and t not in boundary]

    def shapes(t: int) -> tuple:
        return tuple(interpreter._get_tensor_details(t, 0)["shape"])

    flops, inside, left_out = 0.0, 0.0, collections.Counter()
    original = [i for i in nodes if names[i] != "DELEGATE"]
    for i in original:
        outputs = wrapper.NodeOutputs(i)
        cost = _node_flops(names[i], list(wrapper.NodeInputs(i)), shapes(outputs[0]), shapes)
        flops += cost
        if i in delegated:
            inside += cost
        else:
            left_out[names[i]] += 1
    return {
        "signature": signature,
        "threads": num_threads,
        "nodes": len(original),
        "delegated_nodes": len(delegated),
        "partitions": partitions,
        "flops": flops,
        "delegated_flops_share": inside / flops if flops else None,
        "matmul_nodes_left_out": sum(left_out[n] for n in MATMULS),
        "left_out": dict(sorted(left_out.items())),
    }
