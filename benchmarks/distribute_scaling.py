"""Data-parallel scaling on one machine: 2 workers x 1 thread against 1 process x 2 threads.

    python -m benchmarks.distribute_scaling --config shakespeare-small --steps 60

Three runs of the same config, side by side in one invocation, each its own process(es),
pinned to CPUs so a "thread" is a core:
    one-2t   1 process, 2 intra-op threads, the global batch
    mw-2x1t  2 `multiworker` workers on 127.0.0.1, 1 thread and 1 core each, half the batch each
    one-1t   1 process, 1 thread, half the batch: one worker's compute without collectives
Step time is the median of the steps after the first epoch (tracing and warm-up excluded).
The share of a distributed step spent outside the worker's own compute (all-reduce, and
waiting for the other worker) is 1 - step(one-1t) / step(mw-2x1t).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.processes import child_env
from benchmarks.processes import python_module
from keras_lm.training.cluster import free_ports


def worker(args) -> None:
    """One training process: step times to `args.out` (JSON)."""
    import keras

    from keras_lm.training.distribute import DistributeConfig
    from keras_lm.training.fit import train
    from keras_lm.training.presets import load_config

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.start = [], None

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    timer = StepTimer()
    config = load_config(args.config, args.set)
    distribute = DistributeConfig(
        strategy="multiworker" if args.workers else "none",
        workers=tuple(args.workers.split(",")) if args.workers else (),
        task_index=args.task_index,
    )
    result = train(config, args.run_dir, verbose=0, callbacks=[timer], distribute=distribute)
    Path(args.out).write_text(json.dumps({"times": timer.times, "steps": result.steps}))


def _launch(args, name: str, run_dir: Path, cpu: int, threads: int, sets: list[str], extra=()):
    out = run_dir.with_suffix(f".{name}.json")
    command = python_module("benchmarks.distribute_scaling", "--worker", "--config", args.config)
    for item in sets:
        command += ["--set", item]
    command += ["--run-dir", str(run_dir), "--out", str(out), *extra]
    env = child_env({"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": "1"})
    cpus = {cpu} if threads == 1 else set(range(threads))
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
    )
    return proc, out


def _finish(runs) -> list[dict]:
    results = []
    for proc, out in runs:
        _, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(f"a benchmark process failed:\n{err[-3000:]}")
        results.append(json.loads(out.read_text()))
    return results


def measure(args) -> dict:
    """The three runs, one after another; median step seconds and tokens/s of each."""
    from keras_lm.training.presets import load_config

    config = load_config(args.config, args.set)
    batch, length = config.loop.batch_size, config.loop.sequence_length
    epoch = max(args.steps // 3, 1)
    base = [*args.set, f"loop.max_steps={args.steps}", f"loop.steps_per_epoch={epoch}"]
    half = [*base, f"loop.batch_size={batch // 2}"]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="keras_lm_scaling_") as work:
        work = Path(work)
        (one2,) = _finish([_launch(args, "one2", work / "one2", 0, 2, base)])
        ports = free_ports(2)
        workers = ",".join(f"127.0.0.1:{p}" for p in ports)
        pair = [
            _launch(
                args,
                f"mw{i}",
                work / "mw",
                i,
                1,
                base,
                ("--workers", workers, "--task-index", str(i)),
            )
            for i in range(2)
        ]
        mw = _finish(pair)
        (one1,) = _finish([_launch(args, "one1", work / "one1", 0, 1, half)])
    for name, result, rows_per_step in (
        ("1 process x 2 threads", one2, batch),
        ("2 workers x 1 thread", mw[0], batch),
        ("1 process x 1 thread, half batch (one worker's compute)", one1, batch // 2),
    ):
        step = statistics.median(result["times"][epoch:])
        rows[name] = {"step_ms": 1000 * step, "tokens_per_s": rows_per_step * length / step}
    compute = rows["1 process x 1 thread, half batch (one worker's compute)"]["step_ms"]
    distributed = rows["2 workers x 1 thread"]["step_ms"]
    return {
        "config": args.config,
        "global_batch": batch,
        "sequence_length": length,
        "rows": rows,
        "outside_compute_share": 1 - compute / distributed,
        "speedup_vs_one_process": rows["1 process x 2 threads"]["step_ms"] / distributed,
    }


def report(result: dict, command: str) -> str:
    lines = [
        f"`{command}`",
        "",
        f"{result['config']}, global batch {result['global_batch']} x {result['sequence_length']}"
        " tokens, median step after the first epoch:",
        "",
        "| run | step (ms) | tokens/s |",
        "|---|---|---|",
    ]
    for name, row in result["rows"].items():
        lines.append(f"| {name} | {row['step_ms']:.1f} | {row['tokens_per_s']:,.0f} |")
    lines += [
        "",
        f"2 workers against 1 process x 2 threads: {result['speedup_vs_one_process']:.2f}x; "
        f"share of a distributed step outside the worker's own compute (all-reduce and "
        f"waiting): {100 * result['outside_compute_share']:.0f}%.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="shakespeare-small")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", help="write the JSON result here (also the report beside it)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    parser.add_argument("--workers", help=argparse.SUPPRESS)
    parser.add_argument("--task-index", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    command = "python -m benchmarks.distribute_scaling " + " ".join(argv or sys.argv[1:])
    result = measure(args)
    text = report(result, command)
    print(text)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        Path(args.out).with_suffix(".md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
