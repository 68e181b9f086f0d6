"""Run a converter in a child process: its memory is the child's, and a kill is named.

TFLite's converter and tf2onnx keep several copies of every weight that TensorFlow never
gives back, so each runs in a fresh interpreter (`keras_lm.export.tflite`,
`keras_lm.export.onnx_worker`); this is what both share.

Example:
>>> run_child(["true"], "a no-op").returncode
0
"""

from __future__ import annotations

import os
import subprocess

from keras_lm.export.errors import ExportError


def run_child(command: list[str], what: str, timeout: float | None = None):
    """`command`'s CompletedProcess; `ExportError` naming `what` on a timeout or a kill."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as err:
        raise ExportError(f"{what} timed out after {timeout} s") from err
    if result.returncode < 0:  # killed: by the kernel's OOM killer when it is SIGKILL
        why = " (out of memory?)" if result.returncode == -9 else ""
        raise ExportError(f"{what} was killed by signal {-result.returncode}{why}")
    return result
