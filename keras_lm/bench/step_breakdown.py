"""Where a training step's time goes: Keras `fit` against a bare `tf.function` step and the forward pass.

The same model, batch and optimizer as `keras-lm train`; random ids of the
config's shape, so no data set is needed. Used to tell framework overhead from
compute when keras_lm is slower than the PyTorch reference.

Example:
>>> _median_ms([0.001, 0.003, 0.002])
2.0
"""

from __future__ import annotations

import statistics
import time


def step_breakdown(
    name: str, overrides: list[str], vocab_size: int = 70, repeats: int = 60
) -> dict:
    """Median milliseconds of: a bare train step, a forward pass, and a step inside `model.fit`."""
    import numpy as np
    import tensorflow as tf

    from keras_lm.bench.train_speed import step_timer
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
    def forward():
        return model(features, training=False)

    dataset = tf.data.Dataset.from_tensors((features, labels)).repeat()
    timer = step_timer()
    model.fit(
        dataset, steps_per_epoch=repeats + 10, epochs=1, verbose=0, shuffle=False, callbacks=[timer]
    )
    fit_ms = _median_ms(timer.times[10:])
    return {
        "config": name,
        "overrides": overrides,
        "bare_step_ms": _time(train_step, repeats),
        "forward_ms": _time(forward, repeats),
        "fit_step_ms": fit_ms,
    }


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
