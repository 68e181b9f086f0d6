"""`EngineProcess`: the in-flight batcher in a process of its own, beside the HTTP server's.

In one process the decode thread and the event loop take turns on the GIL: each decode
step waits for the loop's Python (parsing requests, writing events) and the loop waits
for the step's, so on two cores the server used about one. Here the batcher (its decode
and prepare threads, `keras_lm.serving.batcher`) runs in a child process that loads the
bundle itself, and the server process keeps only its event loop: as vLLM splits its API
server from its engine core. One pipe carries both ways:

    server -> engine   ("submit", id, ids, sampling, stops), ("cancel", id), None (stop)
    engine -> server   ("ready",) or ("failed", message) once; then ("events", events,
                       steps, rows, batch_rows): every event posted since the last message
                       (id, text, token, finish, tokens), with the decode steps and rows
                       run since, and the batch's rows now

The engine sends a message as soon as one is due and its sender thread is free, so one
step's events travel together. The server reads them on its event loop
(`loop.add_reader`), times each token for the metrics and hands it to its request; if
the engine dies, every request in flight gets an `error` event and `alive` turns False
(`/health` answers 503). The engine exits when its pipe closes (the server has gone).

Example:
>>> from keras_lm.serving.config import ServeConfig
>>> engine = EngineProcess(ServeConfig(bundle="export/shakespeare-small"))
>>> engine.start()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import multiprocessing
import signal
import threading
import time

from keras_lm.serving.batcher import Batcher
from keras_lm.serving.batcher import Event
from keras_lm.serving.batcher import Job
from keras_lm.serving.batcher import batcher_for
from keras_lm.serving.config import ServeConfig
from keras_lm.serving.text import TextStream

log = logging.getLogger(__name__)

READY_SECONDS = 300  # the engine's first message: it loads the bundle (and its runtime) first


class EngineProcess:
    """The server's side of the engine: `start`, `submit` jobs, `cancel` them, `stop`.

    `submit` and `cancel` are called on the event loop, and jobs' events are emitted
    there (`on_loop`): a job's `emit` may put to an asyncio queue directly.
    """

    on_loop = True

    def __init__(self, config: ServeConfig, metrics=None):
        self.config, self.metrics = config, metrics
        self.jobs: dict[int, Job] = {}
        self.ids = itertools.count()
        self.alive = False
        self.process = self.conn = self.loop = None

    def start(self) -> None:
        """Start the engine and wait until it has loaded the bundle (on the event loop's thread)."""
        context = multiprocessing.get_context("spawn")  # no fork of a process with runtime threads
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=run_engine, args=(self.config, child), name="keras-lm-engine", daemon=True
        )
        self.process.start()
        child.close()
        if not self.conn.poll(READY_SECONDS):
            self.stop()
            raise RuntimeError(f"the engine did not load {self.config.bundle} in {READY_SECONDS} s")
        try:
            first = self.conn.recv()
        except EOFError:
            self.process.join(5)
            first = ("failed", f"it exited with code {self.process.exitcode}")
        if first[0] != "ready":
            self.stop()
            raise RuntimeError(f"the engine failed to start: {first[1]}")
        self.alive = True
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.conn.fileno(), self._readable)

    def stop(self) -> None:
        if self.loop is not None:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.conn.fileno())
        self.alive = False
        if self.process is None:
            return
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()

    def submit(self, job: Job) -> None:
        if not self.alive:
            job.done = True
            job.emit(Event("the decoding engine is not running", finish="error"))
            return
        job.key = next(self.ids)
        self.jobs[job.key] = job
        try:
            self.conn.send(("submit", job.key, job.ids, job.sampling, job.stream.stops))
        except OSError:  # the engine has gone: this job and any in flight end with an error
            self._died()

    def cancel(self, job: Job) -> None:
        """The client has gone (or has its answer): its row leaves at the engine's next step."""
        job.cancelled = True
        if self.jobs.pop(job.key, None) is not None and self.alive:
            with contextlib.suppress(OSError):
                self.conn.send(("cancel", job.key))

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                message = self.conn.recv()
                self._deliver(*message[1:])
        except (EOFError, OSError):
            self._died()

    def _deliver(self, events: list, steps: int, rows: int, batch_rows: int) -> None:
        now = time.perf_counter()
        for job_id, text, token, finish, tokens in events:
            job = self.jobs.get(job_id)
            if job is None:  # cancelled: its client is gone
                continue
            if finish != "error":
                job.tokens = tokens
                if self.metrics is not None:
                    self.metrics.token(now - (job.last or job.submitted), first=tokens == 1)
                job.last = now
            if finish is not None:
                job.done = True
                del self.jobs[job_id]
            job.emit(Event(text, token, finish))
        if self.metrics is not None:
            self.metrics.step(rows, steps)
            self.metrics.batch(batch_rows)

    def _died(self) -> None:
        """The engine is gone: every request in flight ends with an error."""
        log.error("the decoding engine exited (code %s)", self.process.exitcode)
        self.loop.remove_reader(self.conn.fileno())
        self.alive = False
        jobs, self.jobs = self.jobs, {}
        for job in jobs.values():
            job.done = True
            job.emit(Event("the decoding engine exited", finish="error"))


class Outbox:
    """The engine's side of the pipe: events out, batched; also the batcher's `metrics`.

    Events are posted on the engine's threads and sent by a thread of its own, all those
    posted while it sent the last message in the next: one step's rows travel together.
    """

    def __init__(self, conn):
        self.conn = conn
        self.events: list = []
        self.steps = self.rows = self.batch_rows = 0
        self.batch_changed = False  # a batch that emptied after its last events still says so
        self.changed = threading.Condition()
        self.closed = False

    def post(self, job: Job, event: Event) -> None:
        with self.changed:
            self.events.append((job.key, event.text, event.token, event.finish, job.tokens))
            self.changed.notify()

    def token(self, seconds: float, first: bool) -> None:
        """The server times tokens as they reach it."""

    def step(self, rows: int, steps: int = 1) -> None:
        with self.changed:
            self.steps, self.rows = self.steps + steps, self.rows + rows

    def batch(self, rows: int) -> None:
        with self.changed:
            if rows != self.batch_rows:
                self.batch_rows, self.batch_changed = rows, True
                self.changed.notify()

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify()

    def send_loop(self) -> None:
        while True:
            with self.changed:
                while not self.events and not self.batch_changed and not self.closed:
                    self.changed.wait()
                if self.closed:
                    return
                message = ("events", self.events, self.steps, self.rows, self.batch_rows)
                self.events, self.steps, self.rows, self.batch_changed = [], 0, 0, False
            try:
                self.conn.send(message)
            except OSError:  # the server has gone
                return


def run_engine(config: ServeConfig, conn) -> None:
    """The engine process: load the bundle, then run the batcher on what the pipe brings."""
    from keras_lm.runtime.bundle import load_bundle

    for name in ("SIGINT", "SIGTERM"):  # the server stops this (or its pipe closes), not a signal
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        model = load_bundle(config.bundle, config.backend, config.quantization, config.num_threads)
    except Exception as err:  # the server reports it and exits
        conn.send(("failed", f"{type(err).__name__}: {err}"))
        return
    outbox = Outbox(conn)
    batcher = batcher_for(model, config, outbox)
    sender = threading.Thread(target=outbox.send_loop, name="keras-lm-send", daemon=True)
    sender.start()
    batcher.start()
    conn.send(("ready",))
    try:
        receive(conn, batcher, model.tokenizer, outbox)
    finally:
        batcher.stop()
        outbox.close()


def receive(conn, batcher: Batcher, tokenizer, outbox: Outbox) -> None:
    """Submit and cancel jobs as the server asks, until it says stop or its pipe closes."""
    jobs: dict[int, Job] = {}  # in flight; a finished job leaves on its last event

    def emit(job: Job, event: Event) -> None:
        if event.finish is not None:
            jobs.pop(job.key, None)
        outbox.post(job, event)

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        if message[0] == "cancel":
            job = jobs.pop(message[1], None)
            if job is not None:
                job.cancelled = True
            continue
        _, key, ids, sampling, stops = message
        job = Job(ids, sampling, TextStream(tokenizer, stops), emit=None, key=key)
        job.emit = functools.partial(emit, job)
        jobs[key] = job
        batcher.submit(job)
