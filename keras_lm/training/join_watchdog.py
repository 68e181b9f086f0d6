"""Watch a worker joining its cluster: after `timeout` seconds without word, say which peers
are unreachable and end the worker.

TensorFlow's `MultiWorkerMirroredStrategy` waits for every peer inside one C++ call that
holds the GIL and ignores SIGTERM, so no thread or signal handler of the worker can give
up on it; this separate, standard-library-only process can. The worker closes our stdin
once it has joined (or failed on its own); otherwise we print one line and SIGKILL it.

    python -m keras_lm.training.join_watchdog PID TIMEOUT RANK HOST:PORT ...

Example:
>>> listening("127.0.0.1:1")
False
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys


def listening(address: str) -> bool:
    """Whether something accepts TCP connections at `address` (host:port)."""
    host, _, port = address.rpartition(":")
    with contextlib.suppress(OSError), socket.create_connection((host.strip("[]"), int(port)), 1):
        return True
    return False


def main(argv: list[str]) -> int:
    parent, timeout, rank, addresses = int(argv[0]), float(argv[1]), argv[2], argv[3:]
    joined, _, _ = select.select([sys.stdin], [], [], timeout)
    if joined:
        return 0
    down = [a for a in addresses if not listening(a)]
    sys.stderr.write(
        f"error: worker {rank}: the cluster did not come together within {timeout:g} s; not "
        f"reachable: {', '.join(down) or 'none (they never joined)'}. Start every worker "
        "listed, or raise --timeout\n"
    )
    sys.stderr.flush()
    with contextlib.suppress(ProcessLookupError):
        os.kill(parent, signal.SIGKILL)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
