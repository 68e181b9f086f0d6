"""Train past one machine: a `tf.distribute` strategy around `model.fit`, from `DistributeConfig`.

    none         one process, TensorFlow's default strategy (what `train` always did)
    mirrored     one process, one replica per GPU (or per logical CPU with `cpu_replicas`)
    multiworker  one process per host, `MultiWorkerMirroredStrategy` over gRPC collectives
    tpu          `TPUStrategy` on `tpu` (an address or name; argument-checked, untested here)

`loop.batch_size` is the global batch: each step trains on exactly the rows a one-process
step would, split evenly across the replicas (`replica_batches`), and the learning-rate
schedule counts global steps. The chief (worker 0) writes the run directory; every other
worker writes its own copy beside it, `RUN.worker-<rank>/` (its backups, for a restart),
and removes it when the run has finished.

Example (one process; the other strategies need TensorFlow's devices or a cluster):
>>> dist = make_distribution(DistributeConfig())  # doctest: +SKIP
>>> dist.replicas, dist.is_chief  # doctest: +SKIP
(1, True)
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from typing import Literal

from keras_lm.config import Config
from keras_lm.config import above
from keras_lm.config import at_least
from keras_lm.errors import ConfigError
from keras_lm.errors import KerasLMError
from keras_lm.training.cluster import ClusterSpec

log = logging.getLogger(__name__)
STRATEGIES = ("none", "mirrored", "multiworker", "tpu")


class DistributeError(KerasLMError):
    """The cluster cannot train together: a worker is unreachable, or the workers disagree."""


@dataclasses.dataclass(frozen=True)
class DistributeConfig(Config):
    """How `train` spreads a run over devices and machines (not part of the run's config).

    strategy: "none", "mirrored", "multiworker" or "tpu".
    workers: multiworker: every worker's host:port, the chief first (empty: read TF_CONFIG).
    task_index: multiworker with `workers`: this process's place in that list.
    cpu_replicas: mirrored on a machine without GPUs: split the CPU into this many logical
        devices, one replica each (to run data parallelism on one CPU, as the tests do).
    tpu: tpu: the TPU's name or grpc:// address ("" : the local TPU VM).
    timeout_s: seconds to wait for every worker to join, and for any one collective.
    """

    strategy: Literal["none", "mirrored", "multiworker", "tpu"] = "none"
    workers: tuple[str, ...] = ()
    task_index: int | None = None
    cpu_replicas: int | None = None
    tpu: str | None = None
    timeout_s: float = 120.0

    RANGES = {"task_index": at_least(0), "cpu_replicas": at_least(1), "timeout_s": above(0)}

    def __post_init__(self):
        super().__post_init__()  # the ranges
        if self.cpu_replicas is not None and self.strategy != "mirrored":
            raise ConfigError(
                f"distribute.cpu_replicas needs strategy mirrored, got {self.strategy}"
            )
        if (self.workers or self.task_index is not None) and self.strategy != "multiworker":
            raise ConfigError("distribute.workers and task_index need strategy multiworker")
        if self.tpu is not None and self.strategy != "tpu":
            raise ConfigError("distribute.tpu needs strategy tpu")


@dataclasses.dataclass
class Distribution:
    """A built strategy and this process's place in it."""

    strategy: Any  # a tf.distribute.Strategy
    kind: str = "none"
    rank: int = 0
    num_workers: int = 1
    chief_dir: Path | None = None  # the run directory, once `run_dir` has been asked

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def scope(self):
        """Build and compile the model inside this (variables become mirrored)."""
        return self.strategy.scope() if self.kind != "none" else contextlib.nullcontext()

    def run_dir(self, run_dir: Path) -> Path:
        """Where this process writes: the run for the chief, `RUN.worker-<rank>` otherwise
        (beside the run, which is built aside and renamed into place)."""
        self.chief_dir = run_dir
        return run_dir if self.is_chief else run_dir.with_name(f"{run_dir.name}.worker-{self.rank}")

    def backup_source(self, own: Path, read_backup) -> Path:
        """The backup to resume from: the chief's when this worker can read it (a shared file
        system), so that every worker restores the same epoch; else this worker's own."""
        if self.is_chief or self.chief_dir is None:
            return own
        chief = self.chief_dir / own.name
        return chief if read_backup(chief) is not None else own

    def finish(self, run_dir: Path) -> None:
        """After a finished run: a non-chief worker's folder is no longer needed."""
        if not self.is_chief:
            shutil.rmtree(run_dir, ignore_errors=True)

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.replicas:
            raise ConfigError(
                f"loop.batch_size: {batch_size} is the global batch and must divide evenly over "
                f"{self.replicas} replicas"
            )

    def dataset(self, dataset):
        """`dataset` (global batches) as this process's per-replica batches."""
        if dataset is None or self.kind == "none":
            return dataset
        return self.strategy.distribute_datasets_from_function(
            lambda context: replica_batches(
                dataset,
                context.num_input_pipelines,
                context.input_pipeline_id,
                self.replicas // context.num_input_pipelines,
            )
        )

    def prepare(self, model, element_spec) -> None:
        """Build the compiled `model`'s optimizer and metrics from `element_spec` (the train
        batches' spec) before `fit`, and keep `fit` from building them again.

        Keras' own build under a strategy draws a batch from a fresh iterator, which
        advances a reshuffling dataset's order by one pass: the distributed run would then
        train on other batches than the same run in one process.
        """
        if self.kind == "none":
            return
        import tensorflow as tf

        def zeros(spec):
            return tf.zeros([1 if d is None else d for d in spec.shape], spec.dtype)

        with self.strategy.scope():
            model._symbolic_build(data_batch=tf.nest.map_structure(zeros, element_spec))
        model._maybe_symbolic_build = _built
        if self.kind == "multiworker":
            _patch_multiworker_steps(model)

    def check_same_config(self, config: Config) -> None:
        """Every worker must train the same config: compare a hash of it across the cluster."""
        digest = hashlib.sha256(config.to_json().encode()).digest()
        # 24-bit pieces: exact in float32, the dtype every collective implementation takes.
        pieces = [int.from_bytes(digest[i : i + 3], "big") for i in range(0, 24, 3)]
        if not self.agree(pieces, settle=True):
            raise DistributeError(
                "the workers were started with different configs (their hashes differ); start "
                "every worker with the same --config and --set"
            )

    def check_agree(self, values: list[int], what: str) -> None:
        """A `DistributeError` unless every worker holds the same `values` (`what` they are)."""
        if not self.agree(values, settle=True):
            raise DistributeError(
                f"the workers disagree on {what}; on separate hosts, copy the chief's run "
                "folder to every worker before restarting"
            )

    def agree(self, values: list[int], settle: bool = False) -> bool:
        """Whether every worker passed the same small integers (below 2**24); a collective.

        `settle`: when they disagree (every worker is about to stop), one more collective
        first, so no worker exits while another still reads its part of the gather (which
        then fails with "Socket closed" instead of the verdict); that one's own error is moot.
        """
        if self.num_workers == 1:
            return True
        import numpy as np
        import tensorflow as tf

        def gather(row):
            return self.strategy.gather(
                self.strategy.run(lambda: tf.constant([row], tf.float32)), axis=0
            )

        table = np.asarray(gather([float(v) for v in values]))
        same = bool((table == table[0]).all())
        if settle and not same:
            with contextlib.suppress(Exception):  # a peer already gone: the verdict stands
                gather([0.0])
        return same


def replica_batches(dataset, workers: int, worker: int, local: int):
    """Worker `worker`'s share of each global batch, as `local` consecutive per-replica batches.

    Every worker reads the whole pipeline and keeps its rows (auto-sharding off), so global
    step k trains on exactly the rows of a one-process step k, whatever the file layout;
    the price is that each worker tokenizes every batch, small next to the model's work.
    Rows [n*k/P, n*(k+1)/P) of an n-row batch go to replica k of P = workers * local.
    """
    import tensorflow as tf

    parts = workers * local

    def pieces(*batch):
        batch = batch if len(batch) > 1 else batch[0]
        rows = tf.cast(tf.shape(tf.nest.flatten(batch)[0])[0], tf.int64)

        def piece(j):
            k = worker * local + j
            low, high = rows * k // parts, rows * (k + 1) // parts
            return tf.nest.map_structure(lambda t: t[low:high], batch)

        return tf.data.Dataset.range(local).map(piece)

    return dataset.flat_map(pieces)


def make_distribution(config: DistributeConfig | None = None) -> Distribution:
    """Build `config`'s strategy; a multi-worker one waits up to `timeout_s` for its peers."""
    config = config or DistributeConfig()
    import tensorflow as tf

    if config.strategy == "none":
        return Distribution(tf.distribute.get_strategy())
    if config.strategy == "mirrored":
        return Distribution(_mirrored(tf, config.cpu_replicas), "mirrored")
    if config.strategy == "tpu":
        return Distribution(_tpu(tf, config.tpu or ""), "tpu")
    spec = (
        ClusterSpec.from_workers(config.workers, config.task_index)
        if config.workers
        else ClusterSpec.from_tf_config(os.environ.get("TF_CONFIG"))
    )
    strategy = _connect(tf, spec, config.timeout_s)
    return Distribution(strategy, "multiworker", spec.worker_index, spec.num_workers)


def _mirrored(tf, cpu_replicas: int | None):
    if not cpu_replicas:
        return tf.distribute.MirroredStrategy()
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas
        )
    except RuntimeError:
        logical = len(tf.config.list_logical_devices("CPU"))
        if logical != cpu_replicas:
            raise ConfigError(
                f"distribute.cpu_replicas: TensorFlow already runs {logical} CPU device(s) in "
                "this process; set cpu_replicas before anything uses TensorFlow"
            ) from None
    devices = [f"/cpu:{i}" for i in range(cpu_replicas)]
    return tf.distribute.MirroredStrategy(
        devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
    )


def _tpu(tf, address: str):
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _connect(tf, spec: ClusterSpec, timeout_s: float):
    """`MultiWorkerMirroredStrategy` for `spec`, its collectives bounded by `timeout_s`.

    Joining cannot be interrupted from inside this process (see `join_watchdog`): a
    watchdog process ends it with one line naming the unreachable peers after `timeout_s`.
    """
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec({k: list(v) for k, v in spec.cluster.items()}),
        task_type=spec.task_type,
        task_id=spec.index,
        rpc_layer="grpc",
    )
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_s)
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "keras_lm.training.join_watchdog", str(os.getpid())]
        + [f"{timeout_s:g}", str(spec.worker_index), *spec.addresses],
        stdin=subprocess.PIPE,
    )
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=resolver, communication_options=options
        )
        strategy.gather(strategy.run(lambda: tf.zeros([1])), axis=0)  # every peer has joined
        return strategy
    except Exception as err:
        raise DistributeError(f"worker {spec.worker_index} cannot join: {err}") from None
    finally:
        watchdog.stdin.close()
        watchdog.wait()


def _built(iterator=None, data_batch=None) -> None:
    """`Distribution.prepare` has built the model: nothing to do at `fit` or `evaluate`."""


def _patch_multiworker_steps(model) -> None:
    """Keras 3.15 + `MultiWorkerMirroredStrategy` all-reduces each scalar metric of a step
    along an axis 0 it does not have (keras-team/keras#20585): give the metrics that axis.
    (Its symbolic build fails there too; `prepare` builds the model instead.)
    """
    import tensorflow as tf

    def with_axis(step):
        def wrapped(data):
            return {name: tf.reshape(value, [1]) for name, value in step(data).items()}

        return wrapped

    model.train_step = with_axis(model.train_step)
    model.test_step = with_axis(model.test_step)
