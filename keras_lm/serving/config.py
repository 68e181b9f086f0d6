"""`ServeConfig`: how `keras-lm serve` runs a bundle (the command line's options, as a dataclass).

Example:
>>> ServeConfig(bundle="export/shakespeare-small").port
8000
>>> ServeConfig(bundle="b", max_batch=0)
Traceback (most recent call last):
...
keras_lm.errors.FieldError: max_batch: expected an integer >= 1, got 0
"""

from __future__ import annotations

import dataclasses

from keras_lm.config import Config
from keras_lm.config import Range
from keras_lm.config import at_least


@dataclasses.dataclass(frozen=True)
class ServeConfig(Config):
    """A served bundle and its limits.

    Args:
    bundle: str. The export bundle's folder.
    backend: "onnx" or "tflite".
    quantization: str. The bundle variant ("float32", "int8", ...).
    host: str. The address to bind; 127.0.0.1 (this machine only) unless told otherwise.
    port: int. The TCP port.
    max_batch: int. Requests decoded together, one row each of the decode graph's batch
        (1: one request at a time, the others wait).
    max_in_flight: int. Requests admitted (decoding or waiting); past it, 503 with Retry-After.
    max_tokens: int. The largest `max_tokens` a request may ask for.
    max_body_bytes: int. The largest request body; a larger one is refused with 413.
    num_threads: int | None. The runtime's intra-op threads (None: its default).
    api_key_file: str | None. A file whose first line is the API key clients send as
        `Authorization: Bearer KEY` (None: no key).
    retry_after: int. Seconds a refused client is told to wait (the Retry-After header).
    prepare_thread: bool. Prefill or encode arriving requests on a second thread while the
        batch decodes, where the backend's graphs can run two calls at once (ONNX Runtime);
        False: on the decode thread, between steps.
    engine_process: bool. Decode in a process of its own (`keras_lm.serving.engine`), so
        the HTTP server's event loop and the decode threads never wait for one GIL;
        False: decode threads in the server's process.
    """

    RANGES = {
        "port": Range(0, 65535),
        "max_batch": at_least(1),
        "max_in_flight": at_least(1),
        "max_tokens": at_least(1),
        "max_body_bytes": at_least(64),
        "num_threads": at_least(1),
        "retry_after": at_least(1),
    }

    bundle: str = ""
    backend: str = "onnx"
    quantization: str = "float32"
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 32
    max_in_flight: int = 128
    max_tokens: int = 512
    max_body_bytes: int = 65536  # 64 KiB: a prompt is at most a few thousand tokens
    num_threads: int | None = None
    api_key_file: str | None = None
    retry_after: int = 1
    prepare_thread: bool = True
    engine_process: bool = True
