"""TensorFlow's, absl's and their libraries' log lines kept off stderr unless `keras-lm --verbose`.

`quiet_native_logs()` runs at CLI start, before anything imports TensorFlow:
- `TF_CPP_MIN_LOG_LEVEL=3` (unless already set) hides TensorFlow's C++ INFO, WARNING and ERROR
  lines (`cuInit` on a CPU machine, oneDNN's `DT_BOOL`); worker subprocesses inherit it;
- the `tensorflow` and `absl` Python loggers show errors only;
- the first `import tensorflow` runs with file descriptor 2 sent to a temporary file: its
  shared libraries log (`I0000 ... port.cc] oneDNN custom operations are on`, `cudart_stub.cc]
  Could not find cuda drivers`, `All log messages before absl::InitializeLog()`) while they
  load, before any setting is read, through their own copy of absl. If the import fails,
  what was captured is written to stderr after all.

The CLI also shows other libraries' Python log records from ERROR up only (`main.ours_or_error`).

Not silenced, printed by C++ loggers that no variable, API or exported symbol reaches (only
sending file descriptor 2 elsewhere around each call would): LiteRT's `INFO: Created TensorFlow
Lite XNNPACK delegate for CPU.`, once per process when the first interpreter is built, and
TF Text's SentencePiece op's `normalizer.cc(51) LOG(INFO) precompiled_charsmap is empty`.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

QUIET_IMPORTS = ("tensorflow",)


def quiet_native_logs() -> None:
    """Silence TensorFlow's and absl's log lines for the rest of this process and its children."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if not any(isinstance(f, QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, QuietImport(QUIET_IMPORTS))


class QuietImport(importlib.abc.MetaPathFinder):
    """Runs the first import of each of `names` with native stderr captured (see the module)."""

    def __init__(self, names: tuple[str, ...]):
        self.names = set(names)

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.names:
            return None
        self.names.discard(fullname)  # the next finders find it; this one only wraps its loading
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec_module(module) -> None:
            with native_stderr_captured():
                exec_module(module)

        spec.loader.exec_module = quiet_exec_module  # this spec's loader only
        return spec


@contextlib.contextmanager
def native_stderr_captured() -> Iterator[None]:
    """File descriptor 2 into a temporary file for the block; replayed to stderr if it raises."""
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        _restore(saved)


def _restore(saved: int) -> None:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
