"""Atomic file and directory writes, and where data sets are looked up.

Everything keras_lm writes goes through `atomic_write` or `atomic_dir`: the
content is written to a temporary sibling and renamed into place, so a crash
or an error never leaves a half-written file behind. A temporary sibling is
named `.NAME.pidPID.XXXXXXXX.tmp` after the process that writes it: what a killed
process left is removed by the next write of the same name, or by
`remove_stale_temporaries` (`keras-lm export --clean`).

Example:
>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_write(d / "hello.txt") as f:
...     _ = f.write("hi")
>>> (d / "hello.txt").read_text()
'hi'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

DATA_ENV = "KERAS_LM_DATA"
CACHE_ENV = "KERAS_LM_CACHE"
# `.NAME.pidPID.XXXXXXXX.tmp` (mkstemp/mkdtemp's random part has no dot). Temporaries written
# before the PID was recorded lack `pidPID.`: unowned, they are removed only when asked (`--clean`).
_TEMPORARY = re.compile(r"^\.(?P<name>.+?)(?:\.pid(?P<pid>\d+))?\.[a-z0-9_]{8}\.tmp$")


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it over `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent)
    binary = "b" in mode
    try:
        with os.fdopen(
            fd, mode, encoding=None if binary else encoding, newline=None if binary else ""
        ) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes `path` when the block succeeds.

    With `overwrite=False` an existing `path` is an error (raised before any work);
    with `overwrite=True` it is replaced only after the new one is complete.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.name)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _prefix(path: Path) -> str:
    """The start of a temporary sibling's name: `.NAME.pidPID.`."""
    return f".{path.name}.pid{os.getpid()}."


def remove_stale_temporaries(
    folder: str | os.PathLike, name: str | None = None, unowned: bool = False
) -> list[Path]:
    """Delete the temporary siblings in `folder` whose writing process no longer exists.

    Only those of `name` when given (else of every name). `unowned=True` also deletes the
    temporaries that name no process (written before they did); a live process's are kept.

    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / ".bundle.pid999999999.abcd1234.tmp").mkdir()
    >>> [p.name for p in remove_stale_temporaries(d)]
    ['.bundle.pid999999999.abcd1234.tmp']
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        match = _TEMPORARY.match(path.name)
        if match is None or (name is not None and match["name"] != name):
            continue
        pid = match["pid"]
        if (pid is None and not unowned) or (pid is not None and _alive(int(pid))):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        removed.append(path)
    return removed


def final_name(path: str | os.PathLike) -> str:
    """The path a temporary sibling is written for (`out/.lm.pid7.abcd1234.tmp` -> `out/lm`);
    any other path as it is.

    >>> final_name("out/.lm.pid7.abcd1234.tmp"), final_name("out/lm.txt")
    ('out/lm', 'out/lm.txt')
    """
    match = _TEMPORARY.match(Path(path).name)
    return str(Path(path).with_name(match["name"])) if match else str(path)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (this process always does)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def new_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Create `path` and its missing parents; if the block fails, remove those left empty.

    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with contextlib.suppress(OSError), new_folder(d / "cache" / "spa-eng"):
    ...     raise OSError("the download failed")
    >>> list(d.iterdir())
    []
    """
    path = Path(path)
    created = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        for folder in created:
            with contextlib.suppress(OSError):  # not empty: something else was put there
                folder.rmdir()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically and return the path."""
    with atomic_write(path) as f:
        f.write(text)
    return Path(path)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def data_dir_candidates(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where data sets are looked for, in order: `data_dir`, `$KERAS_LM_DATA`, the download cache."""
    found: list[Path] = []
    if data_dir:
        found.append(Path(data_dir))
    if os.environ.get(DATA_ENV):
        found.append(Path(os.environ[DATA_ENV]))
    found.append(cache_dir())
    return found


def cache_dir() -> Path:
    """The download cache: `$KERAS_LM_CACHE`, else `~/.cache/keras_lm/datasets`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path.home() / ".cache" / "keras_lm" / "datasets"
