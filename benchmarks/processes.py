"""Child processes of the benchmarks: one measurement per process, its peak memory its own.

A worker module of this package runs as `python -m benchmarks.<module>`; the checkout
root goes on its PYTHONPATH, so it imports from any current directory.

Example:
>>> python_module("benchmarks.train_speed", "--steps", "5")[1:]
['-m', 'benchmarks.train_speed', '--steps', '5']
>>> str(ROOT) in child_env(None)["PYTHONPATH"].split(os.pathsep)
True
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from keras_lm.bench.memory import wait_with_peak
from keras_lm.errors import InputError

ROOT = Path(__file__).resolve().parents[1]  # the checkout: benchmarks/ and keras_lm/ side by side


def python_module(module: str, *args: str) -> list[str]:
    """The command that runs `module` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def child_env(extra: dict[str, str] | None) -> dict[str, str]:
    """This process's environment plus `extra`, with the checkout first on PYTHONPATH."""
    env = {**os.environ, **(extra or {})}
    paths = [str(ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def run_measured(
    command: list[str], extra_env: dict[str, str] | None = None, tree: bool = False
) -> dict:
    """Run `command`; its stdout and its own peak RSS (its `VmHWM`: wait4's ru_maxrss holds ours).

    `tree`: the peak of it and its descendants together (`wait_with_peak`)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            command, stdout=out, stderr=err, text=True, env=child_env(extra_env)
        )
        peak = wait_with_peak(proc, tree=tree)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{err.read()[-3000:]}")
        return {"stdout": out.read(), "peak_rss_mb": peak}


def torch_ref_folder(torch_ref: str | None) -> Path | None:
    """The torch_ref checkout as a Path (None: no PyTorch rows); an InputError if it is absent.

    >>> torch_ref_folder(None) is None
    True
    """
    if torch_ref is None:
        return None
    folder = Path(torch_ref)
    if not (folder / "train.py").is_file():
        raise InputError(str(folder), "not a torch_ref folder (no train.py)")
    return folder
