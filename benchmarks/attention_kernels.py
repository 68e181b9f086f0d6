"""One decode step's attention on CPU: over every cache slot, against only each row's filled ones.

A runtime-cache decode graph (export/README.md) attends over its whole `(B, H, C, Dh)`
cache with MatMul, an additive mask and Softmax: at batch 16 it reads all `C` slots of
every row whatever each has filled, and the step is memory-bound. ONNX Runtime's
`GroupQueryAttention` (com.microsoft) reads only each row's first `seqlens_k + 1` slots
and writes the new key and value into the same buffer (past and present bound to one
array with IO binding), as onnxruntime-genai's decoders do. This times both, one layer
at a time, on the same random cache, after checking both against numpy's attention.

    python -m benchmarks.attention_kernels --batch 16 --heads 6 --head-dim 32 --slots 128

Example:
>>> rng = np.random.default_rng(0)
>>> case = Case.random(rng, batch=2, heads=1, head_dim=4, slots=8, filled=(2, 5))
>>> reference(case).shape
(2, 1, 4)
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time

import numpy as np

IR_VERSION = 9  # what onnxruntime 1.2x loads; onnx's helper writes a newer one by default


@dataclasses.dataclass
class Case:
    """One step's inputs: a query, key and value per row, and a cache with each row's `lengths` filled."""

    q: np.ndarray  # (B, 1, H * Dh), as k and v
    k: np.ndarray
    v: np.ndarray
    past_key: np.ndarray  # (B, H, C, Dh), as past_value
    past_value: np.ndarray
    lengths: np.ndarray  # (B,) slots filled before this step: the new key goes to slot lengths[b]

    @classmethod
    def random(cls, rng, batch, heads, head_dim, slots, filled) -> Case:
        def normal(*shape):
            return rng.normal(size=shape).astype(np.float32)

        wide = heads * head_dim
        lengths = rng.integers(filled[0], filled[1] + 1, size=batch).astype(np.int32)
        cache = [normal(batch, heads, slots, head_dim) for _ in range(2)]
        return cls(
            normal(batch, 1, wide), normal(batch, 1, wide), normal(batch, 1, wide), *cache, lengths
        )

    @property
    def heads(self) -> int:
        return self.past_key.shape[1]


def reference(case: Case) -> np.ndarray:
    """numpy: each row attends over its filled slots and the new key, (B, 1, H * Dh)."""
    batch, heads, _, dim = case.past_key.shape
    out = np.zeros((batch, 1, heads * dim), np.float32)
    for b in range(batch):
        n = int(case.lengths[b])
        q = case.q[b, 0].reshape(heads, dim)
        keys = np.concatenate([case.past_key[b, :, :n], case.k[b, 0].reshape(heads, 1, dim)], 1)
        values = np.concatenate([case.past_value[b, :, :n], case.v[b, 0].reshape(heads, 1, dim)], 1)
        scores = np.einsum("hd,hsd->hs", q, keys) / np.sqrt(dim)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        out[b, 0] = np.einsum("hs,hsd->hd", weights, values).reshape(-1)
    return out


def _model(nodes, inputs, outputs, opsets):
    from onnx import helper

    graph = helper.make_graph(nodes, "attention", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    model.ir_version = IR_VERSION
    return model.SerializeToString()


def gqa_model(heads: int, head_dim: int, slots: int) -> bytes:
    """GroupQueryAttention with one cache for past and present."""
    from onnx import TensorProto as T
    from onnx import helper

    wide = heads * head_dim

    def tensor(name, dtype, shape):
        return helper.make_tensor_value_info(name, dtype, shape)

    cache = ["B", heads, slots, head_dim]
    inputs = [tensor(n, T.FLOAT, ["B", 1, wide]) for n in ("q", "k", "v")]
    inputs += [tensor("past_key", T.FLOAT, cache), tensor("past_value", T.FLOAT, cache)]
    inputs += [tensor("seqlens_k", T.INT32, ["B"]), tensor("total_length", T.INT32, [])]
    outputs = [tensor("out", T.FLOAT, ["B", 1, wide])]
    outputs += [tensor("present_key", T.FLOAT, cache), tensor("present_value", T.FLOAT, cache)]
    node = helper.make_node(
        "GroupQueryAttention",
        [i.name for i in inputs],
        [o.name for o in outputs],
        domain="com.microsoft",
        num_heads=heads,
        kv_num_heads=heads,
    )
    return _model([node], inputs, outputs, [("", 17), ("com.microsoft", 1)])


def full_model(heads: int, head_dim: int, slots: int) -> bytes:
    """The runtime-cache graphs' attention: every slot, masked past each row's position."""
    from onnx import TensorProto as T
    from onnx import helper

    def tensor(name, shape):
        return helper.make_tensor_value_info(name, T.FLOAT, shape)

    cache = ["B", heads, slots, head_dim]
    inputs = [tensor("q", ["B", heads, 1, head_dim]), tensor("past_key", cache)]
    inputs += [tensor("past_value", cache), tensor("bias", ["B", 1, 1, slots])]
    scale = helper.make_tensor("scale", T.FLOAT, [], [1 / np.sqrt(head_dim)])
    nodes = [
        helper.make_node("Constant", [], ["s"], value=scale),
        helper.make_node("Transpose", ["past_key"], ["kt"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["q", "kt"], ["raw"]),
        helper.make_node("Mul", ["raw", "s"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["weights"], axis=-1),
        helper.make_node("MatMul", ["weights", "past_value"], ["out"]),
    ]
    return _model(nodes, inputs, [tensor("out", ["B", heads, 1, head_dim])], [("", 17)])


def gqa_runner(case: Case, threads: int):
    """A call of GroupQueryAttention that writes the new key/value into `case`'s cache in place."""
    import onnxruntime as ort

    batch, heads, slots, dim = case.past_key.shape
    session = ort.InferenceSession(gqa_model(heads, dim, slots), _options(threads))
    binding = session.io_binding()
    total = np.asarray(int(case.lengths.max()) + 1, np.int32)
    feeds = {
        "q": case.q,
        "k": case.k,
        "v": case.v,
        "seqlens_k": case.lengths,
        "total_length": total,
    }
    for name in ("past_key", "past_value"):
        feeds[name] = getattr(case, name)
    for name, value in feeds.items():
        binding.bind_cpu_input(name, value)
    binding.bind_output("out", "cpu")
    for name, cache in (("present_key", case.past_key), ("present_value", case.past_value)):
        binding.bind_output(name, "cpu", 0, np.float32, list(cache.shape), cache.ctypes.data)

    def run() -> np.ndarray:
        session.run_with_iobinding(binding)
        return binding.get_outputs()[0].numpy()

    return run


def full_runner(case: Case, threads: int):
    """The masked attention over every slot (the new key/value written first, as the stepper does)."""
    import onnxruntime as ort

    batch, heads, slots, dim = case.past_key.shape
    session = ort.InferenceSession(full_model(heads, dim, slots), _options(threads))
    key, value = case.past_key.copy(), case.past_value.copy()
    rows = np.arange(batch)
    key[rows, :, case.lengths] = case.k[:, 0].reshape(batch, heads, dim)
    value[rows, :, case.lengths] = case.v[:, 0].reshape(batch, heads, dim)
    bias = np.where(np.arange(slots)[None] <= case.lengths[:, None], 0, -1e9).astype(np.float32)
    feeds = {"q": case.q.reshape(batch, heads, 1, dim), "past_key": key, "past_value": value}
    feeds["bias"] = bias[:, None, None, :]

    def run() -> np.ndarray:
        return session.run(None, feeds)[0].reshape(batch, 1, heads * dim)

    return run


def _options(threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return options


def microseconds(run, calls: int) -> float:
    for _ in range(max(3, calls // 10)):
        run()
    began = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - began) / calls * 1e6


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--head-dim", type=int, default=32)
    parser.add_argument("--slots", type=int, default=128, help="the cache's slots (the context)")
    parser.add_argument(
        "--filled", type=int, nargs=2, default=(6, 80), help="rows' filled slots: a range"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    if not 0 <= args.filled[0] <= args.filled[1] < args.slots:
        parser.error(
            f"--filled {args.filled[0]} {args.filled[1]}: expected 0 <= low <= high < --slots"
        )
    print(
        f"Command: python -m benchmarks.attention_kernels {shlex.join(argv or sys.argv[1:])}".rstrip()
    )
    case = Case.random(
        np.random.default_rng(0), args.batch, args.heads, args.head_dim, args.slots, args.filled
    )
    expected = reference(case)
    full = full_runner(case, args.threads)
    gqa = gqa_runner(
        dataclasses.replace(case, past_key=case.past_key.copy(), past_value=case.past_value.copy()),
        args.threads,
    )
    errors = {
        name: float(np.abs(run() - expected).max()) for name, run in (("full", full), ("gqa", gqa))
    }
    for name, error in errors.items():
        if error > 1e-4:
            raise SystemExit(f"{name} attention differs from numpy's by {error}")
    result = {"full_us": microseconds(full, args.calls), "gqa_us": microseconds(gqa, args.calls)}
    result |= {"max_abs_diff": errors, "speedup": result["full_us"] / result["gqa_us"]}
    print(
        f"batch {args.batch}, {args.heads} heads of {args.head_dim}, {args.slots} slots, rows "
        f"filled {args.filled[0]}-{args.filled[1]}, {args.threads} thread(s), one layer:\n"
        f"  every slot (MatMul, mask, Softmax, MatMul): {result['full_us']:.1f} us\n"
        f"  GroupQueryAttention, filled slots only:     {result['gqa_us']:.1f} us "
        f"({result['speedup']:.2f}x)\n  both match numpy within {max(errors.values()):.1e}"
    )
    return result


if __name__ == "__main__":
    main()
