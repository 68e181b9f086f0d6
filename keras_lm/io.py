"""Atomic file and directory writes, and where data sets are looked up.

Everything keras_lm writes goes through `atomic_write` or `atomic_dir`: the
content is written to a temporary sibling and renamed into place, so a crash
or an error never leaves a half-written file behind.

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
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

DATA_ENV = "KERAS_LM_DATA"
CACHE_ENV = "KERAS_LM_CACHE"


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it over `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
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
