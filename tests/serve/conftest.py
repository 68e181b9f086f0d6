"""The real server in a subprocess (`keras-lm serve` on a free port), and httpx helpers."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    from keras_lm.training.cluster import free_ports

    return free_ports(1)[0]


@contextlib.contextmanager
def serving(bundle: Path, *options: str, log: Path):
    """`keras-lm serve BUNDLE OPTIONS` on a free port until the block ends; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "keras_lm", "serve", str(bundle), "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*command, *options], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the server did not answer /health in {timeout}s: {log.read_text()[-2000:]}")


def sse_events(response: httpx.Response) -> list:
    """The data of each Server-Sent Event of a streamed response (`[DONE]` as the string)."""
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def metric(url: str, name: str, headers: dict | None = None) -> float:
    """A metric's value from `/metrics` (the first sample named exactly `name`)."""
    return sample(httpx.get(f"{url}/metrics", headers=headers).text, name)


def sample(exposition: str, name: str) -> float:
    """The first sample named exactly `name` in Prometheus text."""
    for line in exposition.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise KeyError(name)


def wait_for(condition, timeout: float = 10, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not hold within {timeout}s")
        time.sleep(0.05)
