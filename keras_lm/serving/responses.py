"""How the server answers: OpenAI-shaped JSON bodies, Server-Sent Events, and JSON errors.

Every error is `{"error": {"message", "type", "param", "code"}}`: invalid JSON is 400, a
field of the wrong type or an unknown one 422 (naming the field), a bad value that only
the model can judge (a prompt longer than its context) 400, a busy server 503 with
`Retry-After`.

Example:
>>> sse({"text": "a"})
'data: {"text": "a"}\\n\\n'
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.responses import StreamingResponse

from keras_lm.errors import KerasLMError
from keras_lm.serving.limits import Busy
from keras_lm.serving.limits import error_body

DONE = "data: [DONE]\n\n"


def sse(data: dict) -> str:
    """One Server-Sent Event carrying `data` as JSON."""
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def completion_body(kind: str, model: str, text: str, finish: str | None, usage=None) -> dict:
    """A completion (`kind` "text_completion") or a translation, whole or as one streamed chunk."""
    body = {
        "id": f"cmpl-{uuid.uuid4().hex[:24]}",
        "object": kind,
        "created": int(time.time()),
        "model": model,
        "choices": [{"text": text, "index": 0, "finish_reason": finish, "logprobs": None}],
    }
    if usage is not None:
        prompt, completion = usage
        body["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    return body


class EventStream(StreamingResponse):
    """`text/event-stream` whose body iterator is always closed, also when the client goes away."""

    def __init__(self, events, on_close):
        headers = {"Cache-Control": "no-cache"}
        super().__init__(events, media_type="text/event-stream", headers=headers)
        self.on_close = on_close

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()
            self.on_close()  # also when the stream never started


def validation_error(request, err: RequestValidationError) -> JSONResponse:
    """400 for a body that is not JSON, 422 naming the first field that is wrong or unknown."""
    errors = err.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        where = errors[0].get("ctx", {}).get("error", "")
        return JSONResponse(error_body(f"the body is not valid JSON: {where}", param="body"), 400)
    first = errors[0]
    if tuple(first.get("loc", ())) == ("body",):  # not a JSON object (or sent as another type)
        message = "the body must be a JSON object (Content-Type: application/json)"
        return JSONResponse(error_body(message, param="body"), 400)
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    message = first.get("msg", "invalid")
    if first.get("type") == "extra_forbidden":
        message = "unknown field"
    return JSONResponse(error_body(f"field {field}: {message}", param=field), 422)


def http_error(request, err: HTTPException) -> JSONResponse:
    return JSONResponse(error_body(str(err.detail)), err.status_code, headers=err.headers)


def input_error(request, err: KerasLMError) -> JSONResponse:
    param = getattr(err, "path", None)
    message = getattr(err, "message", str(err))
    return JSONResponse(error_body(message, param=param), 400)


def busy_error(retry_after: int):
    def handler(request, err: Busy) -> JSONResponse:
        body = error_body(f"server busy: {err}; retry later", kind="server_busy")
        return JSONResponse(body, 503, headers={"Retry-After": str(retry_after)})

    return handler


def handlers(retry_after: int) -> dict:
    """The app's exception handlers."""
    return {
        RequestValidationError: validation_error,
        HTTPException: http_error,
        KerasLMError: input_error,
        Busy: busy_error(retry_after),
    }


async def next_event(queue: asyncio.Queue, request, every: float = 1.0):
    """The next event of a request; None once its client has gone away (checked every `every` s)."""
    while True:
        try:
            return await asyncio.wait_for(queue.get(), every)
        except TimeoutError:
            if await request.is_disconnected():
                return None
