"""The server's Prometheus metrics, in a registry of its own (`GET /metrics`).

Example:
>>> metrics = Metrics()
>>> metrics.token(0.05, first=True)
>>> b"keras_lm_time_to_first_token_seconds_count 1.0" in metrics.exposition()
True
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import generate_latest

# Seconds: from a millisecond (a decode step of a tiny model) to a minute (a long completion).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """Requests, tokens and latencies of one app (thread-safe: the decode thread counts tokens)."""

    def __init__(self):
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "keras_lm_requests", "HTTP requests answered", ["route", "status"], registry=registry
        )
        self.request_seconds = Histogram(
            "keras_lm_request_seconds",
            "Time from a request's arrival to its last byte",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.prompt_tokens = Counter(
            "keras_lm_prompt_tokens", "Prompt (or source) tokens admitted", registry=registry
        )
        self.completion_tokens = Counter(
            "keras_lm_completion_tokens", "Tokens decoded", registry=registry
        )
        self.first_token_seconds = Histogram(
            "keras_lm_time_to_first_token_seconds",
            "Time from a request's admission to its first decoded token",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.token_seconds = Histogram(
            "keras_lm_time_per_output_token_seconds",
            "Time between two decoded tokens of one request",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "keras_lm_requests_in_flight", "Requests admitted and not answered", registry=registry
        )
        self.decode_steps = Counter(
            "keras_lm_decode_steps", "Decode steps run (one token for every row)", registry=registry
        )
        self.decode_rows = Counter(
            "keras_lm_decode_rows",
            "Rows decoded, summed over steps (over decode_steps: the mean batch)",
            registry=registry,
        )
        self.batch_rows = Gauge(
            "keras_lm_batch_rows", "Requests in the decode batch now", registry=registry
        )

    def token(self, seconds: float, first: bool) -> None:
        """A token decoded `seconds` after the request's admission (`first`) or its previous token."""
        self.completion_tokens.inc()
        (self.first_token_seconds if first else self.token_seconds).observe(seconds)

    def step(self, rows: int, steps: int = 1) -> None:
        """`steps` decode steps were run, of `rows` rows in all."""
        self.decode_steps.inc(steps)
        self.decode_rows.inc(rows)

    def batch(self, rows: int) -> None:
        """The decode batch has `rows` requests now."""
        self.batch_rows.set(rows)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware: counts each request by route and status, and times it to its last byte."""

    ROUTES = (
        "/v1/completions",
        "/v1/translate",
        "/v1/classify",
        "/v1/models",
        "/health",
        "/metrics",
    )

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"] if scope["path"] in self.ROUTES else "other"
        start, status = time.perf_counter(), 500

        async def timed(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(time.perf_counter() - start)
