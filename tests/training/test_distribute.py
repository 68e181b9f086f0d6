"""tf.distribute through `keras-lm train`: per-replica batches, real worker processes, faults.

The process tests start `python -m keras_lm train` workers on 127.0.0.1 with free ports and
TensorFlow's own collectives; every one runs under a deadline and is killed by PID after it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from keras_lm.errors import ConfigError
from keras_lm.training.cluster import free_ports
from keras_lm.training.distribute import DistributeConfig

STEPS, EPOCH = 40, 10
DEADLINE = 300


def _command(run_dir: Path, *extra: str, sets: tuple[str, ...] = ()) -> list[str]:
    command = [sys.executable, "-m", "keras_lm", "train", "--config", "tiny-transformer-lm"]
    command += ["--quiet", "--run-dir", str(run_dir)]
    for item in (f"loop.max_steps={STEPS}", f"loop.steps_per_epoch={EPOCH}", *sets):
        command += ["--set", item]
    return command + list(extra)


def _start_workers(run_dir: Path, logs: Path, sets=(), timeout: float = 60) -> list:
    ports = free_ports(2)
    workers = ",".join(f"127.0.0.1:{p}" for p in ports)
    procs = []
    for index in range(2):
        log = open(logs / f"worker{index}.log", "a")  # noqa: SIM115 (closed by _stop)
        extra = ["--distribute", "multiworker", "--workers", workers, "--task-index", str(index)]
        extra += ["--timeout", str(timeout)]
        proc = subprocess.Popen(
            _command(run_dir, *extra, sets=sets[index] if sets else ()),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc.log = log
        procs.append(proc)
    return procs


def _stop(procs) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.log.close()


def _wait(procs, logs: Path, deadline: float = DEADLINE) -> list[int]:
    end = time.time() + deadline
    try:
        while time.time() < end and any(p.poll() is None for p in procs):
            time.sleep(0.2)
        running = [i for i, p in enumerate(procs) if p.poll() is None]
        assert not running, f"workers {running} still running after {deadline} s: " + _tail(logs)
        return [p.returncode for p in procs]
    finally:
        _stop(procs)


def _tail(logs: Path) -> str:
    return "\n".join(f"{p.name}: {p.read_text()[-1500:]}" for p in sorted(logs.glob("*.log")))


def _weights(run_dir: Path) -> list[np.ndarray]:
    import keras

    import keras_lm.layers  # noqa: F401  (registers the custom layers)
    import keras_lm.models.losses  # noqa: F401

    return keras.saving.load_model(run_dir / "model.keras", compile=False).get_weights()


def _relative_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    num = sum(float(np.sum((x - y) ** 2)) for x, y in zip(a, b, strict=True))
    return (num / sum(float(np.sum(y**2)) for y in b)) ** 0.5


def _losses(run_dir: Path) -> list[float]:
    import csv

    with open(run_dir / "logs" / "train.csv") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory) -> Path:
    """The reference: the same config in one process, batch 8 (the global batch)."""
    run_dir = tmp_path_factory.mktemp("one") / "run"
    result = subprocess.run(_command(run_dir), capture_output=True, text=True, timeout=DEADLINE)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


# -- per-replica batches ------------------------------------------------------------------------


@pytest.mark.parametrize(("workers", "local"), [(2, 1), (1, 2), (3, 2)])
def test_the_replicas_together_see_each_global_batch_once(workers, local):
    import tensorflow as tf

    from keras_lm.training.distribute import replica_batches

    rows = tf.data.Dataset.range(41)  # 41 rows: the last batch is short and uneven
    batches = rows.map(lambda i: ({"ids": i * 10}, i)).batch(8)
    single = [b[1].numpy().tolist() for b in batches]
    shares = [
        [b[1].numpy().tolist() for b in replica_batches(batches, workers, w, local)]
        for w in range(workers)
    ]
    for step, whole in enumerate(single):
        pieces = [shares[w][step * local + j] for w in range(workers) for j in range(local)]
        assert sum(pieces, []) == whole  # in order, no row twice, none left out
        assert max(map(len, pieces)) - min(map(len, pieces)) <= 1
    features = next(iter(replica_batches(batches, workers, 0, local)))[0]["ids"]
    assert features.numpy().tolist() == [10 * i for i in single[0][: len(features)]]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"strategy": "mirrored", "workers": ("a:1",)}, "need strategy multiworker"),
        ({"strategy": "multiworker", "cpu_replicas": 2}, "cpu_replicas needs strategy mirrored"),
        ({"strategy": "mirrored", "cpu_replicas": 0}, "cpu_replicas: expected an integer >= 1"),
        ({"strategy": "none", "tpu": "x"}, "tpu needs strategy tpu"),
        ({"timeout_s": 0}, "timeout_s: expected a number > 0"),
    ],
)
def test_bad_distribute_configs_name_the_field(fields, message):
    with pytest.raises(ConfigError, match=message):
        DistributeConfig(**fields)


def test_a_global_batch_that_does_not_divide_is_refused():
    from keras_lm.training.distribute import Distribution

    class TwoReplicas:
        num_replicas_in_sync = 2

    with pytest.raises(ConfigError, match="loop.batch_size: 7 is the global batch"):
        Distribution(TwoReplicas(), "mirrored").check_batch(7)


# -- real processes -----------------------------------------------------------------------------


@pytest.mark.slow
def test_mirrored_over_two_cpus_trains_as_one_process(tmp_path, one_process_run):
    run_dir = tmp_path / "mirrored"
    extra = ["--distribute", "mirrored", "--cpu-replicas", "2"]
    result = subprocess.run(
        _command(run_dir, *extra), capture_output=True, text=True, timeout=DEADLINE
    )
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(_losses(run_dir), _losses(one_process_run), rtol=1e-5)
    assert _relative_difference(_weights(run_dir), _weights(one_process_run)) < 1e-5


@pytest.mark.slow
def test_two_workers_killed_mid_epoch_and_restarted_end_as_one_process(tmp_path, one_process_run):
    """2 workers x batch 4 = 1 process x batch 8: same losses and weights, after a SIGKILL."""
    run_dir, logs = tmp_path / "run", tmp_path
    procs = _start_workers(run_dir, logs, timeout=30)
    state = run_dir / "backup" / "backup.json"
    end = time.time() + DEADLINE
    try:
        while time.time() < end and all(p.poll() is None for p in procs):
            if state.is_file() and json.loads(state.read_text())["epoch"] >= 1:
                break
            time.sleep(0.05)
        assert all(p.poll() is None for p in procs), "ended before the kill: " + _tail(logs)
        os.kill(procs[1].pid, signal.SIGKILL)  # mid-epoch 2: worker 0 then waits in a collective
    finally:
        _stop(procs)  # the cluster is restarted whole, as a scheduler would
    assert not (run_dir / "metrics.json").exists()
    codes = _wait(_start_workers(run_dir, logs), logs)
    assert codes == [0, 0], _tail(logs)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps"] == STEPS
    np.testing.assert_allclose(_losses(run_dir), _losses(one_process_run), rtol=1e-5)
    assert _relative_difference(_weights(run_dir), _weights(one_process_run)) < 1e-5
    assert not run_dir.with_name("run.worker-1").exists()  # the worker's copy is gone


def test_an_unreachable_worker_is_a_one_line_error_not_a_hang(tmp_path):
    ports = free_ports(2)
    workers = ",".join(f"127.0.0.1:{p}" for p in ports)
    extra = ["--distribute", "multiworker", "--workers", workers, "--task-index", "0"]
    start = time.time()
    result = subprocess.run(
        _command(tmp_path / "run", *extra, "--timeout", "3"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]  # ended by the watchdog
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: worker 0: the cluster did not come together within 3 s")
    assert f"127.0.0.1:{ports[1]}" in last and "Traceback" not in result.stderr
    assert time.time() - start < 100
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.slow
def test_workers_started_with_different_configs_refuse_to_train(tmp_path):
    procs = _start_workers(
        tmp_path / "run",
        tmp_path,
        sets=[("optimizer.learning_rate=0.001",), ("optimizer.learning_rate=0.002",)],
    )
    assert _wait(procs, tmp_path, deadline=180) == [2, 2], _tail(tmp_path)
    for index in range(2):
        text = (tmp_path / f"worker{index}.log").read_text()
        assert "error: the workers were started with different configs" in text
    assert not (tmp_path / "run").exists()


FAMILY_SCRIPT = """
import json, sys
from pathlib import Path
from keras_lm.training.cluster import free_ports
from keras_lm.training.distribute import DistributeConfig
from keras_lm.training.fit import train
from keras_lm.training.presets import load_config

out, mirrored = Path(sys.argv[1]), DistributeConfig(strategy="mirrored", cpu_replicas=2)
steps = ["loop.max_steps=2", "loop.steps_per_epoch=2", "loop.eval_steps=1"]
results = {}
for name in sys.argv[2:]:
    result = train(load_config(name, steps), out / name, verbose=0, distribute=mirrored)
    results[name] = result.steps
source = train(load_config("tiny-transformer-lm", steps), out / "source", verbose=0)
lora = load_config("tiny-transformer-lm", [*steps, f"finetune.from_run={source.run_dir}",
                                           "finetune.lora_rank=2"])
results["lora"] = train(lora, out / "lora", verbose=0, distribute=mirrored).steps
print(json.dumps(results))
"""


@pytest.mark.slow
def test_each_batch_kind_and_lora_finetuning_train_over_two_replicas(tmp_path):
    """Recurrent layers, bucketed seq2seq batches of varying size, classifier batches and LoRA
    adapters under `MirroredStrategy` (the transformer LM: the tests above; the other
    families share these batch kinds and layers)."""
    configs = ["tiny-lstm-lm", "tiny-transformer-seq2seq", "tiny-classifier"]
    result = subprocess.run(
        [sys.executable, "-c", FAMILY_SCRIPT, str(tmp_path), *configs],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    steps = json.loads(result.stdout.strip().splitlines()[-1])
    assert steps == {**dict.fromkeys(configs, 2), "lora": 2}
    for name in [*configs, "lora"]:
        assert (tmp_path / name / "model.keras").is_file()
