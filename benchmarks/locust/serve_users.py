"""Locust users for `benchmarks/serve_load.py`: streamed requests to a `keras-lm serve` server.

Runs in the locust venv (`make loadtest-venv`), not keras_lm's: it imports no keras_lm.
Each request streams (SSE) and reports three samples besides the request itself:
`ttft` (time to the first token, ms), `tpot` (mean time per later token, ms) and `tokens`
(its "response length" is the number of tokens). Set by the environment:
SERVE_ROUTE (/v1/completions or /v1/translate), SERVE_MAX_TOKENS, SERVE_TEXTS (JSON list),
SERVE_STREAM ("0": whole answers, only `tokens` reported).
"""

from __future__ import annotations

import itertools
import json
import os
import time

from locust import FastHttpUser
from locust import task

ROUTE = os.environ.get("SERVE_ROUTE", "/v1/completions")
MAX_TOKENS = int(os.environ.get("SERVE_MAX_TOKENS", "64"))
TEXTS = itertools.cycle(json.loads(os.environ.get("SERVE_TEXTS", '["ROMEO:"]')))
FIELD = "prompt" if ROUTE == "/v1/completions" else "text"
STREAM = os.environ.get("SERVE_STREAM", "1") == "1"


class StreamingUser(FastHttpUser):
    """One client: a streamed greedy request after another, with no pause.

    FastHttpUser (geventhttpclient) spends a fraction of HttpUser's (requests') CPU a request:
    the client shares the server's cores here, so its cost would be measured as the server's.
    """

    @task
    def request(self) -> None:
        if STREAM:
            self.stream()
            return
        body = {FIELD: next(TEXTS), "max_tokens": MAX_TOKENS, "temperature": 0}
        with self.client.post(ROUTE, json=body, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
                return
            tokens = response.json()["usage"]["completion_tokens"]
            response.success()
        fire = self.environment.events.request.fire
        fire(request_type="HTTP", name="tokens", response_time=0, response_length=tokens)

    def stream(self) -> None:
        body = {FIELD: next(TEXTS), "max_tokens": MAX_TOKENS, "temperature": 0, "stream": True}
        start = time.perf_counter()
        stamps = []
        with self.client.post(ROUTE, json=body, stream=True, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
                return
            for line in _lines(response):
                if not line.startswith(b"data: {"):
                    continue
                data = json.loads(line[len(b"data: ") :])
                if "error" in data:
                    response.failure(data["error"])
                    return
                choice = data["choices"][0]
                if choice["finish_reason"] != "stop" or choice["text"]:  # not the end token's event
                    stamps.append(time.perf_counter())
            response.success()
        self._samples(start, stamps)

    def _samples(self, start: float, stamps: list[float]) -> None:
        fire = self.environment.events.request.fire
        if not stamps:
            return
        fire(
            request_type="SSE",
            name="ttft",
            response_time=(stamps[0] - start) * 1000,
            response_length=0,
        )
        if len(stamps) > 1:
            tpot = (stamps[-1] - stamps[0]) / (len(stamps) - 1) * 1000
            fire(request_type="SSE", name="tpot", response_time=tpot, response_length=0)
        fire(request_type="SSE", name="tokens", response_time=0, response_length=len(stamps))


def _lines(response):
    """The body's lines as they arrive: geventhttpclient's public `readline` splits on CRLF only,
    and Server-Sent Events end lines with LF."""
    while line := response._response.readline(b"\n"):
        yield line
