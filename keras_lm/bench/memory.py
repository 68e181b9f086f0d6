"""Peak memory of a benchmark process, measured as its own (not its parent's).

`resource.getrusage(...).ru_maxrss` is wrong for a benchmark worker: Linux carries it
across `exec` from the forking parent, so a worker started by a parent holding
TensorFlow reports the parent's size (a parent holding 4 GB makes a bare `python -c`
report 3.8 GB). `VmHWM` in `/proc/<pid>/status` is the high-water mark of the
process's own address space and starts fresh at `exec`.

Example:
>>> peak = peak_rss_mb()
>>> 5 < peak < 100_000
True
>>> parse_vmhwm_kb("Name:\\tpython\\nVmHWM:\\t  13212 kB\\nVmRSS:\\t 1 kB\\n")
13212
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading


def parse_vmhwm_kb(status: str) -> int | None:
    """The `VmHWM` line of a `/proc/<pid>/status` text, in kB (None if absent)."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def _vmhwm_kb(pid: int | str = "self") -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            return parse_vmhwm_kb(f.read())
    except (OSError, ValueError):
        return None


def peak_rss_mb() -> float:
    """This process's peak resident set in MB: `VmHWM`, or `ru_maxrss` where /proc is absent."""
    kb = _vmhwm_kb()
    if kb is None:  # macOS and the BSDs: ru_maxrss, in bytes on macOS, not inherited over exec
        scale = 1024 if sys.platform == "darwin" else 1
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // scale
    return round(kb / 1024, 1)


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            lines = [line for line in f if line.startswith("VmRSS:")]
        return int(lines[0].split()[1]) if lines else 0
    except (OSError, ValueError, IndexError):
        return 0


def _descendants(pid: int) -> list[int]:
    """Every live process below `pid` (from each /proc/<n>/stat's parent field)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def wait_with_peak(
    proc: subprocess.Popen, interval_s: float = 0.05, tree: bool = False
) -> float | None:
    """Wait for `proc`; its own peak RSS in MB, read from its `VmHWM` while it runs.

    For children that cannot report their own peak (another project's script). `VmHWM`
    only grows, so the last reading is the peak up to `interval_s` before the exit. None
    where /proc is absent. `tree`: the peak of `proc`'s RSS plus its descendants' (a
    converter subprocess included), sampled every `interval_s`, or its own `VmHWM` if larger.
    """
    peak: list[int] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            kb = _vmhwm_kb(proc.pid)
            if kb is not None:
                peak.append(kb)
            if tree:
                peak.append(sum(_rss_kb(p) for p in [proc.pid, *_descendants(proc.pid)]))
            done.wait(interval_s)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        proc.wait()
    finally:
        done.set()
        watcher.join()
    return round(max(peak) / 1024, 1) if peak else None


if __name__ == "__main__":  # `python -m keras_lm.bench.memory`: this fresh process's own peak
    print(peak_rss_mb(), os.getpid())
