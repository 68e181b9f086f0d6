"""TensorFlow's and absl's log lines are off stderr unless `keras-lm --verbose`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from keras_lm.cli import main as cli_main
from keras_lm.cli.quiet import native_stderr_captured

NOISE = ("I0000", "W0000", "E0000", "absl::InitializeLog", "oneDNN", "cuda")


def test_importing_tensorflow_after_quiet_native_logs_prints_nothing():
    code = (
        "from keras_lm.cli.quiet import quiet_native_logs; quiet_native_logs()\n"
        "import tensorflow as tf; print(int(tf.constant(1) + 1))"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "2\n"
    assert not [line for line in done.stderr.splitlines() if any(n in line for n in NOISE)]


@pytest.mark.parametrize(("flags", "quieted"), [([], True), (["--verbose"], False)])
def test_the_cli_quiets_native_logs_unless_verbose(monkeypatch, tmp_path, flags, quieted):
    calls = []
    monkeypatch.setattr(cli_main, "quiet_native_logs", lambda: calls.append(1))
    assert cli_main.main([*flags, "demo", "--out", str(tmp_path)]) == 2  # it exists: refused
    assert bool(calls) == quieted


def test_what_a_failed_import_printed_natively_is_shown_after_all(capfd):
    with pytest.raises(ImportError), native_stderr_captured():
        os.write(2, b"native: why the import failed\n")
        raise ImportError("no module")
    assert capfd.readouterr().err == "native: why the import failed\n"
