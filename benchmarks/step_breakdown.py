"""Where a training step's time goes: Keras `fit` against a bare `tf.function` step and the forward pass.

The same model, batch and optimizer as `keras-lm train`; random ids of the
config's shape, so no data set is needed. Used to tell framework overhead from
compute when keras_lm is slower than the PyTorch reference. `run_step(StepConfig(...))`
is `keras-lm bench step`: one table row per variant, with `ops` the profiles too.

Example:
>>> _median_ms([0.001, 0.003, 0.002])
2.0
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable

from benchmarks.train_speed import step_timer
from keras_lm.config import Config


def step_breakdown(
    name: str, overrides: list[str], vocab_size: int = 70, repeats: int = 60, ops: bool = False
) -> dict:
    """Median milliseconds of a step inside `model.fit`, a bare train step, forward+backward, forward.

    With `ops`, also an op-level profile of the bare step (see `op_profile`).
    """
    import numpy as np
    import tensorflow as tf

    from keras_lm.models.registry import build_model
    from keras_lm.training.compile import compile_model
    from keras_lm.training.presets import load_config

    config = load_config(name, overrides)
    loop = config.loop
    model = build_model(config.family, config.model_config(vocab_size=vocab_size))
    compile_model(model, config)
    model.optimizer.build(model.trainable_variables)
    ids = tf.constant(
        np.random.default_rng(0).integers(
            5, vocab_size, (loop.batch_size, loop.sequence_length + 1)
        ),
        tf.int32,
    )
    features = {"token_ids": ids[:, :-1], "padding_mask": tf.ones_like(ids[:, :-1])}
    labels = ids[:, 1:]

    @tf.function(jit_compile=loop.jit_compile)
    def train_step():
        with tf.GradientTape() as tape:
            loss = model.loss(labels, model(features, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply(grads, model.trainable_variables)
        return loss

    @tf.function(jit_compile=loop.jit_compile)
    def gradients():
        with tf.GradientTape() as tape:
            loss = model.loss(labels, model(features, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        return tf.add_n([tf.reduce_sum(g) for g in grads])

    @tf.function(jit_compile=loop.jit_compile)
    def forward():
        return model(features, training=False)

    dataset = tf.data.Dataset.from_tensors((features, labels)).repeat()
    timer = step_timer()
    model.fit(
        dataset, steps_per_epoch=repeats + 10, epochs=1, verbose=0, shuffle=False, callbacks=[timer]
    )
    fit_ms = _median_ms(timer.times[10:])
    row = {
        "config": name,
        "overrides": overrides,
        "bare_step_ms": _time(train_step, repeats),
        "gradients_ms": _time(gradients, repeats),
        "forward_ms": _time(forward, repeats),
        "fit_step_ms": fit_ms,
    }
    if ops:
        row["ops"] = op_profile(train_step, steps=20)
    return row


@dataclasses.dataclass(frozen=True)
class StepConfig(Config):
    """What `run_step` times; the fields of `keras-lm bench step`'s options.

    config: a shipped config name or file.
    variants: extra variants to time, each "KEY=VALUE[,KEY=VALUE]".
    ops: also profile the bare step and report CPU time by op kind.
    """

    config: str = "shakespeare-baby"
    variants: tuple[str, ...] = ()
    ops: bool = False


def run_step(
    config: StepConfig, command: str = "", progress: Callable[[str], None] | None = None
) -> str:
    """The step breakdown of the config and each variant, as Markdown (nothing is written).

    >>> print(run_step(StepConfig(variants=("loop.jit_compile=true",))))  # doctest: +SKIP
    """
    lines = [
        f"Command: `{command}`",
        "",
        "| config | variant | fit step ms | bare step ms | forward+backward ms | forward ms |",
        "|---|---|---|---|---|---|",
    ]
    profiles = []
    for variant in ("", *config.variants):
        if progress:
            progress(f"timing {config.config} {variant}")
        row = step_breakdown(config.config, [v for v in variant.split(",") if v], ops=config.ops)
        lines.append(
            f"| {config.config} | {variant or '-'} | {row['fit_step_ms']} | {row['bare_step_ms']} "
            f"| {row['gradients_ms']} | {row['forward_ms']} |"
        )
        if config.ops:
            profiles.append((variant or "-", row["ops"]))
    for variant, ops in profiles:
        lines += [
            "",
            f"CPU time by op kind, bare step, variant {variant} (summed over threads):",
            "",
        ]
        lines += ["| op kind | ms per step | share |", "|---|---|---|"]
        lines += [f"| {kind} | {ms} | {share:.0%} |" for kind, ms, share in ops]
    return "\n".join(lines)


def op_profile(step, steps: int = 20) -> list[tuple[str, float, float]]:
    """Profile `steps` calls of `step`; return (op kind, CPU ms per step, share) rows, largest first.

    Op kinds are grouped: matmul (oneDNN MatMul/BatchMatMul/Einsum), elementwise
    (everything unfused: Mul, Add, Select, Erfc, ...), reductions, optimizer
    variable updates; with `jit_compile` the whole step is one compiled function
    that TensorFlow's profiler does not break down.
    """
    import glob
    import json
    import tempfile

    import tensorflow as tf

    # TensorFlow ships no public reader for its profiler's xplane files; this is the one
    # TensorBoard's profile plugin calls.
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin

    with tempfile.TemporaryDirectory() as logdir:
        for _ in range(3):
            step().numpy()
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            step().numpy()
        tf.profiler.experimental.stop()
        path = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0]
        data, _ = _pywrap_profiler_plugin.xspace_to_tools_data([path], "framework_op_stats", {})
    table = json.loads(data)[0]
    totals: dict[str, float] = {}
    for row in table["rows"]:
        op_type, self_us = row["c"][2]["v"], row["c"][7]["v"]
        if op_type != "IDLE":
            kind = op_kind(op_type)
            totals[kind] = totals.get(kind, 0.0) + self_us
    whole = sum(totals.values()) or 1.0
    rows = [(k, round(v / steps / 1000, 2), round(v / whole, 3)) for k, v in totals.items()]
    return sorted(rows, key=lambda r: -r[1])


def op_kind(op_type: str) -> str:
    """Group a TensorFlow op type into the kind `op_profile` reports.

    >>> op_kind("_MklBatchMatMulV2"), op_kind("Mul"), op_kind("AssignSubVariableOp")
    ('matmul', 'elementwise', 'variable update')
    """
    if any(k in op_type for k in ("MatMul", "Einsum", "Conv")):
        return "matmul"
    if op_type.startswith(("_Xla", "Xla", "__inference")) or "Cluster" in op_type:
        return "xla-compiled (not broken down)"
    if "Variable" in op_type or op_type.startswith(("Assign", "ReadVariable")):
        return "variable update"
    if op_type in ("Sum", "Mean", "Max", "Min", "Prod", "BiasAddGrad", "UnsortedSegmentSum"):
        return "reduction"
    if op_type in ("GatherV2", "ResourceGather", "Transpose", "Reshape", "ConcatV2", "Pack"):
        return "gather/shape"
    if "Softmax" in op_type:
        return "softmax"
    return "elementwise"


def _time(fn, repeats: int, burn_in: int = 10) -> float:
    for _ in range(burn_in):
        fn().numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn().numpy()
        times.append(time.perf_counter() - start)
    return _median_ms(times)


def _median_ms(times: list[float]) -> float:
    return round(statistics.median(times) * 1000, 2)
