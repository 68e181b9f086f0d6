"""`keras-lm serve` under load: locust (headless) at 1, 4, 16 and 64 users, batched against one at a time.

For each server mode (in-flight batching with `--max-batch 64`, then `--max-batch 1`: one
request decoded at a time, the others waiting), one server process is started and locust
runs against it at each user count for `duration` seconds (then lets the requests in
flight finish: rates are over the whole time). Every user streams greedy
requests back to back (`benchmarks/locust/serve_users.py`). Reported per row: requests/s,
tokens/s, p50/p99 time to first token and time per later token, errors, and the
batched/one-at-a-time tokens/s ratio per user count. `soak` seconds more at 16 users
sample the server's RSS (flat, or growing).

Locust runs from its own venv (`make loadtest-venv`), never keras_lm's dependencies.

    python -m benchmarks.serve_load export/shakespeare-small --locust .venv-locust/bin/locust

Example:
>>> ratio({"tokens_per_s": 300.0}, {"tokens_per_s": 100.0})
3.0
>>> percentile_row({"Name": "ttft", "50%": "12", "99%": "80"})
(12.0, 80.0)
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from keras_lm.config import Config
from keras_lm.config import at_least
from keras_lm.io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
USERS_FILE = Path(__file__).resolve().parent / "locust" / "serve_users.py"
# Short inputs of each task (the workload, not a quality check).
PROMPTS = ["ROMEO:", "JULIET:\nO ", "First Citizen:\n", "KING HENRY:\nWhat", "To be, or "]
SOURCES = ["Go.", "I am hungry.", "Where is the station?", "Thank you very much.", "It is raining."]


@dataclasses.dataclass(frozen=True)
class ServeLoadConfig(Config):
    """What `run_serve_load` measures.

    bundle: the export bundle served (ONNX).
    users: concurrent locust users per measurement.
    duration: seconds of load per measurement (after a 2 s ramp).
    max_tokens: tokens each request asks for.
    modes: server `--max-batch` values to compare (64: batched; 1: one at a time).
    soak: seconds at 16 users with the first mode, sampling the server's RSS (0: none).
    locust: the locust executable (`make loadtest-venv`).
    threads: the runtime's intra-op threads.
    prepare_thread: the server prefills/encodes on a second thread (`--no-prepare-thread`: not).
    engine_process: the server decodes in a process of its own (`--no-engine-process`: not).
    repeats: runs per mode and user count, the modes alternating; rows report the median.
    warmup: seconds of load on each server before any measurement (0: none).
    stream: users stream (SSE, TTFT measured) or take whole answers.
    out: folder for serve_load.json and serve_load.md.
    """

    RANGES = {
        "duration": at_least(5),
        "max_tokens": at_least(1),
        "soak": at_least(0),
        "repeats": at_least(1),
        "warmup": at_least(0),
    }

    bundle: str = "export/shakespeare-small"
    users: tuple[int, ...] = (1, 4, 16, 64)
    duration: int = 30
    max_tokens: int = 64
    modes: tuple[int, ...] = (64, 1)
    soak: int = 0
    locust: str = ".venv-locust/bin/locust"
    threads: int = 1  # the other core serves HTTP and runs locust
    prepare_thread: bool = True  # the server's `--no-prepare-thread` when False
    engine_process: bool = True  # the server's `--no-engine-process` when False
    repeats: int = 1
    warmup: int = 5  # seconds of 4 users per server before measuring (its first runs read low)
    stream: bool = True  # False: whole answers (no TTFT), so tokens/s is the model's, not SSE's
    out: str = "reports/bench"


def ratio(batched: dict, alone: dict) -> float:
    """Batched tokens/s over one-at-a-time tokens/s."""
    return round(batched["tokens_per_s"] / max(alone["tokens_per_s"], 1e-9), 2)


def median_row(rows: list[dict]) -> dict:
    """The run of median tokens/s (of an even count, the lower middle one).

    >>> median_row([{"tokens_per_s": 3}, {"tokens_per_s": 1}, {"tokens_per_s": 2}])
    {'tokens_per_s': 2}
    """
    return sorted(rows, key=lambda row: row["tokens_per_s"])[(len(rows) - 1) // 2]


def repeat_ratios(report: dict, first, second) -> list[list[float]]:
    """Per user count, each repeat's tokens/s ratio of mode `first` over `second` (same repeat)."""
    runs = report.get("runs") or {}
    a, b = runs.get(first) or [], runs.get(second) or []
    return [
        [round(x / max(y, 1e-9), 2) for x, y in zip(xs, ys, strict=True)]
        for xs, ys in zip(a, b, strict=True)
    ]


def percentile_row(row: dict) -> tuple[float, float]:
    """(p50, p99) in ms of a locust stats row."""
    return float(row["50%"]), float(row["99%"])


@contextlib.contextmanager
def server(config: ServeLoadConfig, max_batch: int, log: Path):
    """`keras-lm serve` on a free port with `--max-batch max_batch`; yields (url, pid, task)."""
    from keras_lm.training.cluster import free_ports

    port = free_ports(1)[0]
    command = [sys.executable, "-m", "keras_lm", "serve", config.bundle, "--port", str(port)]
    command += ["--max-batch", str(max_batch), "--max-in-flight", "256"]
    command += ["--threads", str(config.threads)]
    command += [] if config.prepare_thread else ["--no-prepare-thread"]
    command += [] if config.engine_process else ["--no-engine-process"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        health = _wait_healthy(url, process)
        yield url, process.pid, health["task"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=1) as r:
            return json.loads(r.read())
        time.sleep(0.3)
    raise RuntimeError(f"the server did not answer /health in {timeout}s")


def run_locust(
    config: ServeLoadConfig, url: str, users: int, task: str, folder: Path, seconds: int = 0
) -> dict:
    """One headless locust run (`seconds`, else the config's duration); its figures from the stats CSV."""
    prefix = folder / f"u{users}"
    command = [config.locust, "-f", str(USERS_FILE), "--headless", "--host", url]
    command += ["-u", str(users), "-r", str(users), "-t", f"{(seconds or config.duration) + 2}s"]
    command += ["--csv", str(prefix), "--only-summary", "--stop-timeout", "30"]
    env = {
        **os.environ,
        "SERVE_ROUTE": "/v1/translate" if task == "seq2seq" else "/v1/completions",
        "SERVE_MAX_TOKENS": str(config.max_tokens),
        "SERVE_TEXTS": json.dumps(SOURCES if task == "seq2seq" else PROMPTS),
        "SERVE_STREAM": "1" if config.stream else "0",
    }
    started = time.perf_counter()
    subprocess.run(command, env=env, check=False, capture_output=True)
    elapsed = time.perf_counter() - started
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    return figures(rows, users, elapsed)  # all the work done over all the time it took


def figures(rows: dict, users: int, seconds: float) -> dict:
    """requests/s, tokens/s, TTFT and per-token p50/p99 (ms) and errors of one locust run."""
    total = rows["Aggregated"]
    request = next(r for n, r in rows.items() if n.startswith("/v1/"))
    tokens = rows.get("tokens", {"Request Count": 0, "Average Content Size": 0})
    token_count = float(tokens["Request Count"]) * float(tokens["Average Content Size"])
    ttft, tpot = (percentile_row(rows[n]) if n in rows else (None, None) for n in ("ttft", "tpot"))
    return {
        "users": users,
        "requests": int(request["Request Count"]),
        "requests_per_s": round(int(request["Request Count"]) / seconds, 2),
        "tokens_per_s": round(token_count / seconds, 1),
        "ttft_p50_ms": ttft[0],
        "ttft_p99_ms": ttft[1],
        "tpot_p50_ms": tpot[0],
        "tpot_p99_ms": tpot[1],
        "errors": int(total["Failure Count"]),
    }


def graph_ceiling(
    config: ServeLoadConfig, batches: tuple[int, ...], steps: int = 48, repeats: int = 3
) -> dict:
    """Decode tokens/s of the bundle's graphs alone (no server, no HTTP) at each batch size.

    The same stepper calls as the server's batcher (prefill or start, join, then `steps`
    decode steps of every row, after 3 unclocked ones; a cache sized to those steps where
    the server sizes one), timed in this process at
    `config.threads` threads; the best of `repeats`: what batching could give at most, to
    set the measured ratios against.
    """
    from keras_lm.runtime.bundle import load_bundle

    model = load_bundle(config.bundle, "onnx", "float32", num_threads=config.threads)
    rates = {}
    for batch in batches:
        rates[batch] = max(_decode_rate(model, batch, steps) for _ in range(repeats))
    return rates


def _decode_rate(model, batch: int, steps: int, warm: int = 3) -> float:
    import numpy as np

    from keras_lm.inference.decoding import left_pad
    from keras_lm.inference.decoding import right_pad

    stepper, prompts = model.stepper, [[5] * 6] * batch
    if model.task == "seq2seq":
        _, state = stepper.start(*right_pad(prompts), model.tokenizer.specials.start_id)
        steps = min(steps, stepper.max_target_length - 2 - warm)
    elif getattr(stepper, "sized", False):  # the cache the server sizes for these rows
        steps = min(steps, stepper.context - 7 - warm)
        _, state = stepper.prefill(*left_pad(prompts), reach=6 + warm + steps)
    else:
        _, state = stepper.prefill(*left_pad(prompts))
        steps = min(steps, (stepper.context or 10**6) - 7 - warm)
    state = stepper.join(None, state)
    tokens = np.full(batch, 5, np.int32)
    for _ in range(warm):
        _, state = stepper.step(tokens, state)
    began = time.perf_counter()
    for _ in range(steps):
        _, state = stepper.step(tokens, state)
    return round(batch * steps / (time.perf_counter() - began), 1)


def rss_mib(pid: int) -> float:
    """The resident set size now of a process and its children (the server's engine), in MiB (Linux)."""
    kib = 0
    for process in process_tree(pid):
        with contextlib.suppress(OSError):  # a child that exited since
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kib += int(line.split()[1])
    return round(kib / 1024, 1)


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux's /proc/PID/task/TID/children)."""
    tree, todo = [], [pid]
    while todo:
        process = todo.pop()
        tree.append(process)
        for task in Path(f"/proc/{process}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in (task / "children").read_text().split()]
    return tree


def soak(
    config: ServeLoadConfig, url: str, pid: int, task: str, folder: Path, every: float = 10
) -> dict:
    """16 users for `config.soak` seconds; the server's RSS every `every` s under load (the first
    sample idle), and once after (`rss_after_mib`: freed rows, not growth)."""
    soak_config = dataclasses.replace(config, duration=config.soak)
    samples, result = [rss_mib(pid)], {}
    worker = threading.Thread(
        target=lambda: result.update(run_locust(soak_config, url, 16, task, folder))
    )
    worker.start()
    while worker.is_alive():
        worker.join(timeout=every)
        if worker.is_alive():
            samples.append(rss_mib(pid))
    loaded = samples[1:] or samples
    warm = loaded[len(loaded) // 10 :] or loaded
    return {
        **result,
        "seconds": config.soak,
        "rss_mib": samples,
        "rss_after_mib": rss_mib(pid),
        "rss_growth_mib": round(warm[-1] - warm[0], 1),
    }


def run_serve_load(config: ServeLoadConfig, command: str = "") -> dict:
    """Every mode at every user count, side by side; writes serve_load.json and .md.

    One server per mode, all started first; each user count then runs against every mode
    in turn, so a drift in the machine's load touches both sides alike.
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"command": command, "bundle": config.bundle, "stream": config.stream}
    report["threads"] = config.threads
    report |= {"modes": {m: [] for m in config.modes}, "soak": None, "repeats": config.repeats}
    report["runs"] = {m: [] for m in config.modes}  # tokens/s of every repeat, per user count
    report["graph_tokens_per_s"] = graph_ceiling(config, tuple(sorted({1, *config.users})))
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        servers = {}
        for max_batch in config.modes:
            folder = Path(tmp) / f"batch{max_batch}"
            folder.mkdir()
            servers[max_batch] = (
                *stack.enter_context(server(config, max_batch, folder / "log")),
                folder,
            )
        for url, _, task, folder in servers.values() if config.warmup else ():
            run_locust(config, url, 4, task, folder, config.warmup)  # first calls, not measured
        for users in config.users:
            runs: dict[int, list[dict]] = {m: [] for m in servers}
            for _ in range(config.repeats):  # the modes alternate: A, B, A, B, ...
                for max_batch, (url, _, task, folder) in servers.items():
                    runs[max_batch].append(run_locust(config, url, users, task, folder))
                    report["task"] = task
            for max_batch, rows in runs.items():
                report["modes"][max_batch].append(median_row(rows))
                report["runs"][max_batch].append([r["tokens_per_s"] for r in rows])
        if config.soak:
            url, pid, task, folder = servers[config.modes[0]]
            report["soak"] = soak(config, url, pid, task, folder)
    write_text_atomic(out / "serve_load.json", json.dumps(report, indent=2))
    write_text_atomic(out / "serve_load.md", markdown(report))
    return report


def _spread(ratios: list[float]) -> str:
    return f" ({' / '.join(f'{r}x' for r in ratios)})" if len(ratios) > 1 else ""


def markdown(report: dict) -> str:
    """The report as a Markdown table, batched against one at a time."""
    modes = list(report["modes"])
    lines = [
        f"`keras-lm serve {report['bundle']}` ({report.get('task')}), locust headless, "
        f"{'streamed' if report['stream'] else 'whole (not streamed)'} greedy requests.\n\nCommand: `{report['command']}`\n",
        "| --max-batch | users | req/s | tokens/s | TTFT p50 / p99 ms | per-token p50 / p99 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in modes:
        for row in report["modes"][mode]:
            lines.append(
                f"| {mode} | {row['users']} | {row['requests_per_s']} | {row['tokens_per_s']} | "
                f"{row['ttft_p50_ms']} / {row['ttft_p99_ms']} | {row['tpot_p50_ms']} / "
                f"{row['tpot_p99_ms']} | {row['errors']} |"
            )
    if len(modes) == 2:
        pairs = zip(report["modes"][modes[0]], report["modes"][modes[1]], strict=True)
        spreads = repeat_ratios(report, *modes) or [[]] * len(report["modes"][modes[0]])
        ratios = ", ".join(
            f"{a['users']} users {ratio(a, b)}x" + _spread(spread)
            for (a, b), spread in zip(pairs, spreads, strict=True)
        )
        lines.append(f"\ntokens/s, --max-batch {modes[0]} over --max-batch {modes[1]}: {ratios}")
        if report.get("repeats", 1) > 1:
            lines.append(
                f"(each row: the median of {report['repeats']} runs, the modes alternating; "
                "in brackets, each repeat's own ratio)"
            )
    ceiling = report.get("graph_tokens_per_s")
    if ceiling:
        alone = ceiling.get(1) or ceiling.get("1")
        parts = ", ".join(
            f"batch {b} {v:,.0f} ({v / alone:.2f}x)" for b, v in ceiling.items() if alone
        )
        lines.append(
            f"\nThe decode graph alone (ONNX Runtime, no server, {report.get('threads', 1)} thread(s)), "
            f"tokens/s and the ratio to batch 1: {parts}"
        )
    if report["soak"]:
        s = report["soak"]
        lines.append(
            f"\nSoak: 16 users for {s['seconds']} s, {s['errors']} errors, server RSS "
            f"{s['rss_mib'][0]} -> {s['rss_mib'][-1]} MiB under load (growth after warm-up "
            f"{s['rss_growth_mib']} MiB), {s.get('rss_after_mib')} MiB after"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("--users", default="1,4,16,64")
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--modes", default="64,1", help="--max-batch values to compare")
    parser.add_argument("--soak", type=int, default=0, help="seconds at 16 users, RSS sampled")
    parser.add_argument("--locust", default=".venv-locust/bin/locust")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-stream", dest="stream", action="store_false")
    parser.add_argument("--no-prepare-thread", dest="prepare_thread", action="store_false")
    parser.add_argument("--no-engine-process", dest="engine_process", action="store_false")
    parser.add_argument("--repeats", type=int, default=1, help="runs per mode and user count")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of load before measuring")
    parser.add_argument("--out", default="reports/bench")
    args = parser.parse_args(argv)
    config = ServeLoadConfig(
        bundle=args.bundle,
        users=tuple(int(u) for u in args.users.split(",")),
        duration=args.duration,
        max_tokens=args.max_tokens,
        modes=tuple(int(m) for m in args.modes.split(",")),
        soak=args.soak,
        locust=args.locust,
        threads=args.threads,
        prepare_thread=args.prepare_thread,
        engine_process=args.engine_process,
        repeats=args.repeats,
        warmup=args.warmup,
        stream=args.stream,
        out=args.out,
    )
    command = shlex.join(["python", "-m", "benchmarks.serve_load", *(argv or sys.argv[1:])])
    report = run_serve_load(config, command)
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
