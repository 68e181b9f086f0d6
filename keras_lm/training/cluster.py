"""Where the workers of a multi-worker run are: `TF_CONFIG`, read and checked, or written from
`--workers host:port,... --task-index I`. TensorFlow-free (the checks run before TF starts).

`TF_CONFIG` is TensorFlow's standard cluster description, one JSON object per process:
`{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": I}}`
(a `"chief"` list of one address may stand before the workers). Task 0 of the first list
is the chief: it alone writes the run directory.

Example:
>>> spec = ClusterSpec.from_workers(["127.0.0.1:2222", "127.0.0.1:2223"], 1)
>>> spec.num_workers, spec.index, spec.is_chief
(2, 1, False)
>>> ClusterSpec.from_tf_config('{"cluster": {"worker": ["a:1"]}, "task": {"index": 3}}')
Traceback (most recent call last):
...
keras_lm.errors.ConfigError: TF_CONFIG [task.type]: expected one of ['worker'], got None
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket

from keras_lm.errors import ConfigError

# host:port with a port in 1..65535; hosts are names, IPv4 or [IPv6].
_ADDRESS = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")
TASK_TYPES = ("chief", "worker")


def check_address(address: object, field: str) -> str:
    """`address` if it is `host:port` with a valid port, else a `ConfigError` naming `field`."""
    match = _ADDRESS.match(address) if isinstance(address, str) else None
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise ConfigError(f"TF_CONFIG [{field}]: expected host:port, got {address!r}")
    return address


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """The cluster's addresses by task type, and this process's task."""

    cluster: dict[str, tuple[str, ...]]
    task_type: str
    index: int

    @property
    def addresses(self) -> list[str]:
        """Every task's address, the chief first."""
        return [a for kind in TASK_TYPES for a in self.cluster.get(kind, ())]

    @property
    def num_workers(self) -> int:
        return len(self.addresses)

    @property
    def worker_index(self) -> int:
        """This task's rank, 0 for the chief."""
        return self.addresses.index(self.cluster[self.task_type][self.index])

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0

    def tf_config(self) -> str:
        """The `TF_CONFIG` JSON of this task."""
        return json.dumps(
            {
                "cluster": {k: list(v) for k, v in self.cluster.items()},
                "task": {"type": self.task_type, "index": self.index},
            }
        )

    @classmethod
    def from_workers(cls, workers: list[str] | tuple[str, ...], task_index: int | None):
        """`--workers a:1,b:2 --task-index I`: worker I of the listed workers."""
        addresses = tuple(check_address(w, f"cluster.worker[{i}]") for i, w in enumerate(workers))
        if not addresses:
            raise ConfigError("distribute.workers: expected at least one host:port")
        if len(set(addresses)) != len(addresses):
            raise ConfigError(f"distribute.workers: an address is listed twice in {addresses}")
        if task_index is None or not 0 <= task_index < len(addresses):
            raise ConfigError(
                f"distribute.task_index: expected 0..{len(addresses) - 1} with --workers, "
                f"got {task_index!r}"
            )
        return cls({"worker": addresses}, "worker", task_index)

    @classmethod
    def from_tf_config(cls, text: str | None) -> ClusterSpec:
        """Parse and check a `TF_CONFIG` value; every mistake names the field."""
        if not text:
            raise ConfigError(
                "TF_CONFIG is not set: multiworker needs it, or --workers and --task-index"
            )
        try:
            data = json.loads(text)
        except ValueError as err:
            raise ConfigError(f"TF_CONFIG: not valid JSON ({err})") from None
        if not isinstance(data, dict) or not isinstance(data.get("cluster"), dict):
            raise ConfigError('TF_CONFIG [cluster]: expected {"cluster": {"worker": [...]}, ...}')
        cluster = _cluster(data["cluster"])
        task = data.get("task")
        if not isinstance(task, dict):
            raise ConfigError('TF_CONFIG [task]: expected {"type": "worker", "index": I}')
        kinds = [k for k in TASK_TYPES if k in cluster]
        if task.get("type") not in kinds:
            raise ConfigError(
                f"TF_CONFIG [task.type]: expected one of {kinds}, got {task.get('type')!r}"
            )
        size = len(cluster[task["type"]])
        index = task.get("index")
        if type(index) is not int or not 0 <= index < size:
            raise ConfigError(f"TF_CONFIG [task.index]: expected 0..{size - 1}, got {index!r}")
        return cls(cluster, task["type"], index)


def _cluster(raw: dict) -> dict[str, tuple[str, ...]]:
    unknown = sorted(set(raw) - set(TASK_TYPES))
    if unknown:
        raise ConfigError(
            f"TF_CONFIG [cluster.{unknown[0]}]: keras_lm runs {list(TASK_TYPES)} tasks only "
            "(parameter servers and evaluators are not supported)"
        )
    cluster = {}
    for kind in TASK_TYPES:
        if kind not in raw:
            continue
        if not isinstance(raw[kind], list) or not raw[kind]:
            raise ConfigError(f"TF_CONFIG [cluster.{kind}]: expected a non-empty list of host:port")
        cluster[kind] = tuple(
            check_address(a, f"cluster.{kind}[{i}]") for i, a in enumerate(raw[kind])
        )
    if "worker" not in cluster:
        raise ConfigError("TF_CONFIG [cluster.worker]: expected a non-empty list of host:port")
    if len(cluster.get("chief", ())) > 1:
        raise ConfigError("TF_CONFIG [cluster.chief]: expected one address")
    addresses = [a for kind in TASK_TYPES for a in cluster.get(kind, ())]
    if len(set(addresses)) != len(addresses):
        raise ConfigError("TF_CONFIG [cluster]: an address is listed twice")
    return cluster


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` TCP ports free on `host` now, for a cluster of local workers (tests, benchmarks).

    >>> len(set(free_ports(2)))
    2
    """
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
