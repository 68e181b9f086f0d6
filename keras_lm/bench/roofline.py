"""The bound each engine's decode speed is judged against: FLOPs per token over a measured GEMM rate.

`flops_per_token` counts the multiply-adds of one cached decode step of a
`transformer_lm` (projections, MLP, attention over the cached positions, the tied
head); `gemm_rate` times float32 matrix products with numpy's BLAS on this machine,
at the thread count the worker was started with (`OMP_NUM_THREADS`). Their quotient
is the tokens/s a decoder would reach if every FLOP ran at GEMM speed: an engine at
10% of it spends 90% of its time elsewhere (per-op overhead, copies, small kernels).

Run as `python -m keras_lm.bench.roofline` (one JSON line), in a fresh process per
thread count, so that BLAS starts with that many threads.

Example:
>>> model = {"num_layers": 6, "hidden_dim": 192, "intermediate_dim": 768}
>>> round(flops_per_token(model, vocab=65, position=64) / 1e6, 2)
5.63
>>> flops_per_token({"num_layers": 2}, vocab=65, position=1) is None
True
"""

from __future__ import annotations

import json
import time

import numpy as np


def flops_per_token(model: dict, vocab: int, position: int) -> float | None:
    """FLOPs (2 per multiply-add) of one cached decode step at `position`; None if unknown.

    `model` is a `transformer_lm` config dict (`num_layers`, `hidden_dim`,
    `intermediate_dim`, 4 x hidden when absent).
    """
    layers, width = model.get("num_layers"), model.get("hidden_dim")
    if not layers or not width:
        return None
    inner = model.get("intermediate_dim") or 4 * width
    per_layer = 4 * width * width + 2 * width * inner + 2 * width * (position + 1)
    return 2.0 * (layers * per_layer + width * vocab)


def gemm_rate(size: int = 256, seconds: float = 0.5) -> float:
    """Float32 FLOP/s of `size`-cubed matrix products with numpy's BLAS (best of a few rounds)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size)).astype(np.float32) for _ in range(2))
    a @ b  # warm up
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        best = max(best, 10 * 2 * size**3 / (time.perf_counter() - start))
    return best


def main() -> int:
    print(json.dumps({"gemm_flops_per_s": gemm_rate()}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
