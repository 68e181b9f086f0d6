"""In-flight batching: every request being decoded is one row of the decode graph's batch.

One decode thread owns the model. Between two decode steps it takes the requests that
arrived (up to `max_batch` rows in all), prefills them together (an LM: and chooses their
first tokens; a seq2seq model only encodes them, their start token goes into the next step)
and *joins* their rows to the running batch (`stepper.join`); then one `step`
decodes a token for every row at once, whatever its position, and the rows that ended
(end token, stop string, `max_tokens`, the context's end, or a client that went away)
*leave* (`stepper.keep`). So throughput grows with the number of requests in flight, and
a request's greedy tokens are the same alone or batched: every row has its own positions
and cache slots (`keras_lm.inference.steppers`).

With graphs that run concurrently (`apart=True`: ONNX Runtime sessions), a second
thread prefills or encodes the arriving requests while the decode thread steps, and the
decode thread only joins their prepared rows: the runtimes release the GIL, so on two
cores a batch no longer waits for each newcomer's prompt. `max_batch` counts these rows
too (a request holds a row from its preparation to its end).

Each request is a `Job`; its tokens come back as `Event`s through `job.emit`, called on
the decode thread (the app hands them to its event loop). `max_batch=1` decodes one
request at a time, the others waiting: the baseline of `benchmarks/serve_load.py`.

Example, with fake graphs whose next token is always the previous one + 1:
>>> from keras_lm.inference.steppers import RecurrentLMStepper
>>> from keras_lm.inference.text_model import TextModel
>>> from keras_lm.tokenizers.char import CharTokenizer
>>> tok = CharTokenizer.train(["abcdefgh"])
>>> class Graphs:
...     def run(self, name, token_ids, past_h, past_c):
...         logits = np.eye(tok.vocab_size)[(token_ids + 1) % tok.vocab_size]
...         return {"logits": logits, "h": past_h, "c": past_c}
>>> model = TextModel(RecurrentLMStepper(Graphs(), (1, 2)), tok, "lm")
>>> batcher, events = Batcher(model, max_batch=4), []
>>> job = Job(tok.encode("a"), SamplingConfig(max_new_tokens=3), TextStream(tok), events.append)
>>> batcher.run_once([job]); batcher.run_once()
>>> "".join(e.text for e in events), events[-1].finish, batcher.jobs
('bcd', 'length', [])
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from keras_lm.inference.decoding import left_pad
from keras_lm.inference.decoding import right_pad
from keras_lm.inference.decoding import without
from keras_lm.inference.rows import fill_from_tail
from keras_lm.inference.sampling import SamplingConfig
from keras_lm.inference.sampling import choose_tokens
from keras_lm.inference.text_model import banned_ids
from keras_lm.serving.text import TextStream

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Event:
    """A decoded token's text (`token` None: no token), and why decoding ended (None: it goes on)."""

    text: str
    token: int | None = None
    finish: str | None = None  # "stop", "length" or "error"


@dataclasses.dataclass(eq=False)
class Job:
    """One request: its prompt (or source) ids, how to decode, and where its events go."""

    ids: list[int]
    sampling: SamplingConfig
    stream: TextStream
    emit: Callable[[Event], None]
    cancelled: bool = False  # set by the app when the client goes away
    submitted: float = dataclasses.field(default_factory=time.perf_counter)
    tokens: int = 0
    limit: int = 0
    last: float = 0.0
    rng: np.random.Generator | None = None
    done: bool = False
    key: int = -1  # its id between the server and an engine process (`keras_lm.serving.engine`)


@dataclasses.dataclass
class Prepared:
    """Jobs prefilled or encoded together: their state, first tokens in and logits out (or None)."""

    jobs: list[Job]
    state: dict
    first: np.ndarray  # each row's token for the next step: the start id, or its first choice
    logits: np.ndarray | None = None  # a prefill's: the first tokens are chosen on joining


class Batcher:
    """The decode thread: `submit` jobs, `start` and `stop` it (`run_once` is one turn, for tests).

    `apart`: prepare (prefill, encode) arriving jobs on a thread of their own; only for
    graphs that may run two calls at once.
    """

    def __init__(self, model, max_batch: int, metrics=None, apart: bool = False):
        self.stepper, self.task, self.max_batch, self.metrics = (
            model.stepper,
            model.task,
            max_batch,
            metrics,
        )
        specials = model.tokenizer.specials
        self.start_id, self.end_id = specials.start_id, specials.end_id
        self.banned = banned_ids(specials, special_tokens=False)
        self.inbox: queue.Queue[Job | None] = queue.Queue()
        self.jobs: list[Job] = []
        self.state: dict | None = None
        self.last = np.zeros((0,), np.int32)  # each row's latest token
        self._stopping = False
        self._threads = [threading.Thread(target=self._loop, name="keras-lm-decode", daemon=True)]
        self.apart = apart
        self.ready: queue.Queue[Prepared | None] = queue.Queue()  # prepared, not yet joined
        self._rows = threading.BoundedSemaphore(max_batch)  # rows held, from preparation on
        if apart:
            self._threads.append(
                threading.Thread(target=self._prepare_loop, name="keras-lm-prepare", daemon=True)
            )

    on_loop = False  # jobs' events are emitted on the decode (or prepare) thread

    def submit(self, job: Job) -> None:
        self.inbox.put(job)

    def cancel(self, job: Job) -> None:
        """The client has gone (or has its answer): its row leaves at the next step."""
        job.cancelled = True

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping = True
        self.inbox.put(None)
        self.ready.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopping:
            new, groups = [], []
            try:
                if self.apart:
                    groups = self._prepared()
                    self.run_once(prepared=groups)
                else:
                    new = self._arrivals()
                    self.run_once(new)
            except Exception as err:  # a failing graph ends the batch's requests, not the server
                log.exception("decode step failed")
                joined = {id(job) for job in self.jobs}
                arriving = [*new, *(job for group in groups for job in group.jobs)]
                self._fail([*self.jobs, *(j for j in arriving if id(j) not in joined)], err)
                self.jobs, self.state, self.last = [], None, self.last[:0]

    def _fail(self, jobs: list[Job], err: Exception) -> None:
        for job in jobs:
            job.emit(Event(f"decoding failed: {err}", finish="error"))
            if self.apart:
                self._rows.release()

    def _arrivals(self) -> list[Job]:
        """The jobs that can join now; waits for one when nothing is decoding."""
        room = self.max_batch - len(self.jobs)
        return [job for job in self._drain(self.inbox, room) if not job.cancelled]

    def _prepared(self) -> list[Prepared]:
        """The prepared groups waiting to join; waits for one when nothing is decoding."""
        return self._drain(self.ready)

    def _drain(self, source: queue.Queue, room: int | None = None) -> list:
        """What `source` holds now (at most `room`); waits a moment for one when nothing is
        decoding. None (stop) ends it."""
        items: list = []
        while room is None or len(items) < room:
            wait = not self.jobs and not items
            try:
                item = source.get(block=wait, timeout=0.1 if wait else None)
            except queue.Empty:
                break
            if item is None:
                break
            items.append(item)
        return items

    def _prepare_loop(self) -> None:
        """The preparing thread: take what arrived (each job holding a row) and prepare it."""
        while not self._stopping:
            job = self.inbox.get()
            if job is None:
                break
            new = [job]
            while not self._rows.acquire(timeout=0.1):  # the batch is full: wait for a row
                if self._stopping:
                    return
            while self._rows.acquire(blocking=False):
                try:
                    job = self.inbox.get_nowait()
                except queue.Empty:
                    job = None
                if job is None:  # nothing more (or stop): give the row back
                    self._rows.release()
                    break
                new.append(job)
            for _ in range(sum(j.cancelled for j in new)):
                self._rows.release()
            new = [j for j in new if not j.cancelled]
            try:
                if new:
                    self.ready.put(self._prepare(new))
            except Exception as err:  # a prompt that fails to prefill ends its own requests
                log.exception("prefill failed")
                self._fail(new, err)

    def run_once(self, new: list[Job] = (), prepared: list[Prepared] = ()) -> None:
        """Drop cancelled rows, join `new` ones (prepared here) or `prepared` groups, then
        decode one token per row."""
        self._leave()
        if new:
            self._join(self._prepare(list(new)))
        for group in prepared:
            self._join(group)
        if self.jobs:
            if self.metrics is not None:
                self.metrics.step(len(self.jobs))
            logits, self.state = self.stepper.step(self.last, self.state)
            self._take(logits)
        if self.metrics is not None:
            self.metrics.batch(len(self.jobs))

    def _prepare(self, new: list[Job]) -> Prepared:
        """Prefill `new` together (an LM), or encode them (seq2seq: their first token comes
        from the batch's next step, not a step of their own)."""
        if self.task == "seq2seq":
            state = self.stepper.encode(*right_pad([j.ids for j in new]))
            return Prepared(new, state, np.full(len(new), self.start_id, np.int32))
        ids, mask = left_pad([j.ids for j in new])
        if getattr(self.stepper, "sized", False):  # a cache of the slots these rows can reach
            reach = max(len(j.ids) + j.sampling.max_new_tokens - 1 for j in new)
            logits, state = self.stepper.prefill(ids, mask, reach=reach)
        else:
            logits, state = self.stepper.prefill(ids, mask)
        return Prepared(new, state, np.zeros(len(new), np.int32), logits)

    def _join(self, group: Prepared) -> None:
        for job in group.jobs:
            job.limit = min(job.sampling.max_new_tokens, self._room(job))
            job.rng = np.random.default_rng(job.sampling.seed)
        self.state = self.stepper.join(self.state, group.state)
        self.jobs += group.jobs
        self.last = np.concatenate([self.last, group.first])
        if group.logits is not None:
            self._take(group.logits, first=len(self.jobs) - len(group.jobs))

    def _room(self, job: Job) -> int:
        """The most tokens a row can take: to the end of the context (LMs) or the target's length."""
        if self.task == "seq2seq":
            return self.stepper.max_target_length - 1
        context = getattr(self.stepper, "context", None)
        return context - len(job.ids) + 1 if context else job.sampling.max_new_tokens

    def _take(self, logits: np.ndarray, first: int = 0) -> None:
        """Choose, record and send the next token of rows `first:`; then the ended rows leave."""
        logits = without(np.asarray(logits), self.banned)
        greedy = np.argmax(logits, axis=-1)
        for i, job in enumerate(self.jobs[first:]):
            row = first + i
            if job.sampling.strategy == "greedy":
                token = int(greedy[i])
            else:
                token = int(choose_tokens(logits[i : i + 1], job.sampling, job.rng)[0])
            self.last[row] = token
            self._send(job, token)
        self._leave()

    def _send(self, job: Job, token: int) -> None:
        job.tokens += 1
        now = time.perf_counter()
        if self.metrics is not None:
            self.metrics.token(now - (job.last or job.submitted), first=job.tokens == 1)
        job.last = now
        if token == self.end_id:
            job.done = True
            job.emit(Event(job.stream.rest(), None, "stop"))
            return
        piece = job.stream.push(token)
        if job.stream.stopped or job.tokens >= job.limit:
            job.done = True
            reason = "stop" if job.stream.stopped else "length"
            job.emit(Event(piece + job.stream.rest(), token, reason))
        else:
            job.emit(Event(piece, token))

    def _leave(self) -> None:
        """The rows of ended or cancelled requests leave the batch."""
        alive = [not (job.done or job.cancelled) for job in self.jobs]
        if all(alive):
            return
        rows = fill_from_tail(alive)
        if self.apart:
            for _ in range(len(alive) - len(rows)):
                self._rows.release()
        self.state = self.stepper.keep(self.state, rows) if rows else None
        self.jobs = [self.jobs[r] for r in rows]
        self.last = self.last[rows]


def batcher_for(model, config, metrics=None) -> Batcher:
    """The batcher a `ServeConfig` asks for: a prepare thread where the graphs may run two
    calls at once (ONNX Runtime) and `config.prepare_thread` allows one."""
    concurrent = getattr(getattr(model, "graphs", None), "concurrent", False)
    return Batcher(model, config.max_batch, metrics, apart=config.prepare_thread and concurrent)
