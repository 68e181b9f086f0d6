"""`build_app(config, model)`: the HTTP API of a loaded bundle, as a FastAPI app (no global state).

    POST /v1/completions   an LM's continuation of `prompt` (OpenAI's completions API)
    POST /v1/translate     a seq2seq model's translation of `text`
    POST /v1/classify      a classifier's label and probabilities per text
    GET  /health, /v1/models, /metrics (Prometheus text)

`"stream": true` answers with Server-Sent Events, one per decoded token, then `[DONE]`.
Generating requests go to the in-flight batcher (`keras_lm.serving.batcher`).

Example:
>>> from keras_lm.runtime.bundle import load_bundle
>>> config = ServeConfig(bundle="export/shakespeare-small")
>>> app = build_app(config, load_bundle(config.bundle))  # doctest: +SKIP
>>> import uvicorn; uvicorn.run(app, host=config.host, port=config.port)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

import anyio
from fastapi import Depends
from fastapi import FastAPI
from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.responses import Response

from keras_lm.errors import InputError
from keras_lm.inference.text_model import check_texts
from keras_lm.serving.batcher import Job
from keras_lm.serving.batcher import batcher_for
from keras_lm.serving.config import ServeConfig
from keras_lm.serving.engine import EngineProcess
from keras_lm.serving.limits import Admission
from keras_lm.serving.limits import BodyLimit
from keras_lm.serving.limits import error_body
from keras_lm.serving.limits import key_matches
from keras_lm.serving.limits import read_api_key
from keras_lm.serving.metrics import Metrics
from keras_lm.serving.metrics import RequestMetrics
from keras_lm.serving.responses import DONE
from keras_lm.serving.responses import EventStream
from keras_lm.serving.responses import completion_body
from keras_lm.serving.responses import handlers
from keras_lm.serving.responses import next_event
from keras_lm.serving.responses import sse
from keras_lm.serving.schemas import ClassifyRequest
from keras_lm.serving.schemas import CompletionRequest
from keras_lm.serving.schemas import Decoding
from keras_lm.serving.schemas import TranslateRequest
from keras_lm.serving.text import TextStream


class Mailbox:
    """Events from the decode thread to the event loop: one wake-up of the loop per batch.

    A decode step emits one event per row; waking the loop once per event
    (`call_soon_threadsafe` each) costs a self-pipe write and a loop turn per token, so
    events posted before the loop runs are delivered together.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop, self.pending, self.lock = loop, [], threading.Lock()

    def post(self, queue: asyncio.Queue, event) -> None:
        """Called on the decode thread: `event` goes to `queue` on the loop."""
        with self.lock:
            self.pending.append((queue, event))
            first = len(self.pending) == 1
        if first:
            with contextlib.suppress(RuntimeError):  # the loop closed: the server is shutting down
                self.loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, []
        for queue, event in pending:
            queue.put_nowait(event)


class Server:
    """What the routes share: the model, its batcher, the limits and the metrics of one app."""

    def __init__(self, config: ServeConfig, model):
        self.config, self.model = config, model
        self.name = (
            getattr(getattr(model, "manifest", None), "name", "") or Path(config.bundle).name
        )
        self.metrics = Metrics()
        self.admission = Admission(config.max_in_flight)
        self.batcher, self.mailbox = None, None
        if model.task in ("lm", "seq2seq") and config.engine_process:
            self.batcher = EngineProcess(config, self.metrics)
        elif model.task in ("lm", "seq2seq"):
            self.batcher = batcher_for(model, config, self.metrics)
        self.classify_lock = threading.Lock()  # a LiteRT interpreter runs one call at a time
        self.key = read_api_key(config.api_key_file) if config.api_key_file else None

    def require(self, task: str, route: str) -> None:
        if self.model.task != task:
            raise HTTPException(
                404, f"a {self.model.family} model has no {route}; it answers {self.route()}"
            )

    def route(self) -> str:
        return {"lm": "/v1/completions", "seq2seq": "/v1/translate"}.get(
            self.model.task, "/v1/classify"
        )

    def prompt_ids(self, prompt: str) -> list[int]:
        """The prompt's ids (after the model's prompt head); 400 if empty or past the context."""
        ids = self.model.tokenizer.encode(prompt)
        if not ids:
            raise InputError("prompt", "the prompt encodes to no tokens")
        ids = [*self.model.prompt_head, *ids]
        context = getattr(self.model, "context", None)
        if context and len(ids) > context:
            raise InputError(
                "prompt", f"the prompt is {len(ids)} tokens; the model's context is {context}"
            )
        return ids

    def source_ids(self, text: str) -> list[int]:
        check_texts([text], "text")
        ids = self.model.tokenizer.encode(text)
        limit = self.model.max_source_length
        if limit and len(ids) > limit:
            raise InputError(
                "text", f"the text is {len(ids)} tokens; the model takes at most {limit}"
            )
        return ids

    async def decode(self, request: Request, ids: list[int], body: Decoding, kind: str):
        """Admit a generating request, hand it to the batcher, and answer whole or streamed."""
        if body.max_tokens > self.config.max_tokens:
            raise InputError(
                "max_tokens",
                f"max_tokens is {body.max_tokens}; the server allows at most {self.config.max_tokens}",
            )
        sampling = body.sampling(body.max_tokens)
        events: asyncio.Queue = asyncio.Queue()
        stream = TextStream(self.model.tokenizer, body.stops())
        job = Job(ids, sampling, stream, self._emitter(events))
        self.admission.enter()
        self.metrics.in_flight.inc()
        self.metrics.prompt_tokens.inc(len(ids))
        self.batcher.submit(job)
        if body.stream:
            return EventStream(self._events(job, events, kind), lambda: self._done(job))
        try:
            return await self._whole(request, job, events, kind)
        finally:
            self._done(job)

    def _emitter(self, events: asyncio.Queue):
        """Where a job's events go: straight to `events`, or through the loop's mailbox
        when the batcher emits on a thread of its own."""
        if self.batcher.on_loop:
            return events.put_nowait
        if self.mailbox is None:  # the app's one event loop, known once a request runs on it
            self.mailbox = Mailbox(asyncio.get_running_loop())
        mailbox = self.mailbox
        return lambda event: mailbox.post(events, event)

    async def _whole(self, request: Request, job: Job, events: asyncio.Queue, kind: str):
        """The answer in one JSON body, once the job's last event has come."""
        text, finish = [], None
        while finish is None:
            event = await next_event(events, request)
            if event is None:
                return Response(status_code=499)  # the client went away: nobody reads this
            text.append(event.text)
            finish = event.finish
        if finish == "error":
            return JSONResponse(error_body("".join(text), kind="server_error"), 500)
        usage = (len(job.ids), job.tokens)
        return completion_body(kind, self.name, "".join(text), finish, usage)

    async def _events(self, job: Job, events: asyncio.Queue, kind: str):
        head = completion_body(kind, self.name, "", None)  # one id and time for every chunk
        try:
            while True:
                event = await events.get()
                if event.finish == "error":
                    yield sse(error_body(event.text, kind="server_error"))
                    break
                choice = {"text": event.text, "index": 0, "finish_reason": event.finish}
                yield sse({**head, "choices": [{**choice, "logprobs": None}]})
                if event.finish:
                    break
            yield DONE
        finally:
            self._done(job)

    def _done(self, job: Job) -> None:
        """The request is answered or its client gone: its row leaves at the next step, if still there."""
        if job.cancelled:
            return
        self.batcher.cancel(job)
        self.admission.leave()
        self.metrics.in_flight.dec()


def build_app(config: ServeConfig, model) -> FastAPI:
    """The ASGI app serving `model` (a loaded bundle) by `config`."""
    server = Server(config, model)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if server.batcher is not None:
            server.batcher.start()
        yield
        if server.batcher is not None:
            server.batcher.stop()

    app = FastAPI(
        title="keras-lm", lifespan=lifespan, exception_handlers=handlers(config.retry_after)
    )
    app.state.server = server
    add_routes(app, server, _key_check(server))
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=server.metrics)
    return app


def _key_check(server: Server):
    async def check(request: Request) -> None:  # async: FastAPI runs a plain def on a worker thread
        if server.key is not None and not key_matches(
            request.headers.get("authorization"), server.key
        ):
            raise HTTPException(401, "missing or wrong API key (Authorization: Bearer KEY)")

    return Depends(check)


def add_routes(app: FastAPI, server: Server, key) -> None:
    """The API's routes; every one but /health needs the API key when there is one."""

    @app.get("/health")
    def health():
        body = {"status": "ok", "model": server.name, "task": server.model.task}
        if not getattr(server.batcher, "alive", True):
            return JSONResponse({**body, "status": "the decoding engine has exited"}, 503)
        return body

    @app.get("/v1/models", dependencies=[key])
    def models() -> dict:
        model = server.model
        card = {"id": server.name, "object": "model", "owned_by": "keras-lm", "task": model.task}
        card |= {"family": model.family, "backend": server.config.backend, "route": server.route()}
        card["context"] = getattr(model, "context", None)
        return {"object": "list", "data": [card]}

    @app.get("/metrics", dependencies=[key])
    def metrics() -> Response:
        return Response(server.metrics.exposition(), media_type="text/plain; version=0.0.4")

    @app.post("/v1/completions", dependencies=[key])
    async def completions(body: CompletionRequest, request: Request):
        server.require("lm", "/v1/completions")
        return await server.decode(request, server.prompt_ids(body.prompt), body, "text_completion")

    @app.post("/v1/translate", dependencies=[key])
    async def translate(body: TranslateRequest, request: Request):
        server.require("seq2seq", "/v1/translate")
        return await server.decode(request, server.source_ids(body.text), body, "translation")

    @app.post("/v1/classify", dependencies=[key])
    async def classify(body: ClassifyRequest) -> dict:
        server.require("classify", "/v1/classify")
        texts = [body.text] if isinstance(body.text, str) else body.text
        check_texts(texts, "text")

        def run() -> list[dict]:
            with server.classify_lock:
                return server.model.classify(texts)

        results = await anyio.to_thread.run_sync(run)
        return {"object": "classification", "model": server.name, "data": results}
