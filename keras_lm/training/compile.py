"""Compile defaults: AdamW (no decay on biases and norms), warmup + cosine, clipping, smoothing, XLA.

Example:
>>> from keras_lm.training.config import OptimizerConfig
>>> schedule = learning_rate_schedule(OptimizerConfig(warmup_steps=10), total_steps=100)
>>> [round(float(schedule(step)), 6) for step in (0, 9, 10, 100)]
[9.1e-05, 0.000909, 0.001, 0.0001]
"""

from __future__ import annotations

import keras

from keras_lm.models.losses import SmoothedSparseCrossentropy
from keras_lm.training.config import OptimizerConfig
from keras_lm.training.config import TrainConfig

# Variables that AdamW does not decay (as in GPT-2/nanoGPT: only matrices decay).
NO_DECAY = ["bias", "gamma", "beta"]


def learning_rate_schedule(
    opt: OptimizerConfig, total_steps: int
) -> keras.optimizers.schedules.CosineDecay:
    """Linear warmup to `learning_rate` over `warmup_steps`, then cosine decay to `min_learning_rate`.

    Step `i < warmup_steps` gets `learning_rate * (i + 1) / (warmup_steps + 1)`, as torch_ref: the
    first step already moves the weights (from 0, the loss lagged one step behind torch_ref's).
    """
    warmup = min(opt.warmup_steps, max(total_steps - 1, 0))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=opt.learning_rate / (warmup + 1),
        warmup_target=opt.learning_rate,
        warmup_steps=warmup,
        decay_steps=max(total_steps - warmup, 1),
        alpha=opt.min_learning_rate / opt.learning_rate,
    )


@keras.saving.register_keras_serializable(package="keras_lm")
class ReplicatedAdamW(keras.optimizers.AdamW):
    """AdamW for runs over several replicas: gradients are summed across replicas before
    the global-norm clip, as one process clips the whole batch's gradient.

    Keras 3.15 clips each replica's share first and sums after (`_clip_gradients`, then
    `_backend_update_step`), which clips a different gradient than a one-process run.
    """

    def _clip_gradients(self, grads):
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            present = [g for g in grads if g is not None]
            summed = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, present))
            grads = [None if g is None else next(summed) for g in grads]
        return super()._clip_gradients(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return list(grads_and_vars)  # summed in `_clip_gradients`


def compile_model(model: keras.Model, config: TrainConfig, replicas: int = 1) -> None:
    """Compile `model` with the config's optimizer, loss and loop settings; `replicas` > 1
    (a `tf.distribute` run) takes `ReplicatedAdamW`."""
    opt = config.optimizer
    optimizer = (ReplicatedAdamW if replicas > 1 else keras.optimizers.AdamW)(
        learning_rate=learning_rate_schedule(opt, config.loop.max_steps),
        weight_decay=opt.weight_decay,
        beta_1=opt.beta_1,
        beta_2=opt.beta_2,
        epsilon=opt.epsilon,
        global_clipnorm=opt.clipnorm,  # the norm of all gradients together, as torch's clip_grad_norm_
    )
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    model.compile(
        optimizer=optimizer,
        loss=SmoothedSparseCrossentropy(opt.label_smoothing),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=_jit_compile(config),
        steps_per_execution=config.loop.steps_per_execution,
    )


def _jit_compile(config: TrainConfig) -> bool:
    """`loop.jit_compile`, always on under JAX: JAX has no graph mode, and without jit its train step
    runs op by op (2 s a step at shakespeare-baby, against 62 ms jitted)."""
    return config.loop.jit_compile or keras.backend.backend() == "jax"
