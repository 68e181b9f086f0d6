"""What the server refuses: bodies over a size, requests past a number in flight, a wrong API key.

Every refusal is a JSON error (`error_body`) naming what was wrong: 413 for a body too
large, 503 with `Retry-After` past `max_in_flight`, 401 without the key.

Example:
>>> gate = Admission(max_in_flight=1)
>>> gate.enter(); gate.full
True
>>> key_matches("Bearer s3cret", b"s3cret"), key_matches("Bearer guess", b"s3cret")
(True, False)
"""

from __future__ import annotations

import hmac
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from keras_lm.errors import InputError


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None) -> dict:
    """The JSON of every error, as OpenAI's API shapes it."""
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


class Busy(Exception):
    """More requests in flight than the server admits."""


class Admission:
    """Counts requests in flight (admitted, decoding or waiting for a row); refuses past the cap."""

    def __init__(self, max_in_flight: int):
        self.max_in_flight, self.count = max_in_flight, 0

    @property
    def full(self) -> bool:
        return self.count >= self.max_in_flight

    def enter(self) -> None:
        """Admit one request, or raise `Busy` (the app answers 503 with Retry-After)."""
        if self.full:
            raise Busy(f"{self.count} requests in flight, the server takes {self.max_in_flight}")
        self.count += 1

    def leave(self) -> None:
        self.count -= 1


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` is refused with 413, by Content-Length or as it arrives."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            response = JSONResponse(error_body(self._message(int(length)), param="body"), 413)
            return await response(scope, receive, send)
        seen = 0

        async def capped():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # a chunked body without Content-Length
                raise HTTPException(413, self._message(seen))
            return message

        return await self.app(scope, capped, send)

    def _message(self, size: int) -> str:
        return f"the body is {size} bytes; the server takes at most {self.max_bytes} (--max-body-bytes)"


def read_api_key(path: str | Path) -> bytes:
    """The key in the first line of `path`; `InputError` naming the file if it has none."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(str(path), f"cannot read the API key file: {err}") from err
    key = lines[0].strip() if lines else ""
    if not key:
        raise InputError(str(path), "the API key file's first line is empty")
    return key.encode("utf-8")


def key_matches(authorization: str | None, key: bytes) -> bool:
    """Whether an `Authorization: Bearer KEY` header carries `key`, compared in constant time."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), key)
