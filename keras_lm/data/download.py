"""Fetch a canonical data set file into the cache, verify its sha256, extract archive members.

Example:
>>> import pathlib, tempfile
>>> src = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> _ = src.write_text("hello\\n")
>>> from keras_lm.data.registry import RemoteFile
>>> rf = RemoteFile(src.as_uri(), "a.txt", "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
>>> fetch(rf, pathlib.Path(tempfile.mkdtemp())).read_text()
'hello\\n'
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from keras_lm.data.registry import RemoteFile
from keras_lm.errors import DatasetNotFoundError
from keras_lm.errors import InputError
from keras_lm.io import atomic_write
from keras_lm.io import sha256_file


def fetch(remote: RemoteFile, folder: Path, timeout: float = 30.0) -> Path:
    """Return `folder/remote.filename`, downloading it first if it is not there.

    A download is checked against the sha256 before it is renamed into place, so a
    partial or different download leaves no file. A file already in place (downloaded
    earlier, or put there by hand on an offline machine) is checked too.
    """
    path = folder / remote.filename
    if not path.exists():
        _download(remote, path, timeout)
        return path
    if remote.sha256 and sha256_file(path) != remote.sha256:
        raise InputError(
            str(path),
            f"sha256 is {sha256_file(path)}, expected {remote.sha256} (a partial or different download; "
            "delete it and try again)",
        )
    return path


def read_member(archive: Path, member: str, sha256: str | None) -> bytes:
    """The bytes of one member of a zip archive, checked against `sha256` when known."""
    try:
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(member)
    except KeyError:
        raise InputError(str(archive), f"archive has no member {member!r}") from None
    except zipfile.BadZipFile as err:
        raise InputError(str(archive), f"not a zip archive: {err}") from None
    digest = hashlib.sha256(data).hexdigest()
    if sha256 and digest != sha256:
        raise InputError(f"{archive}!{member}", f"sha256 is {digest}, expected {sha256}")
    return data


def _download(remote: RemoteFile, path: Path, timeout: float) -> None:
    """Stream `remote.url` into `path` through a temporary file, kept only if its sha256 matches."""
    try:
        with (
            urllib.request.urlopen(remote.url, timeout=timeout) as response,
            atomic_write(path, "wb") as out,
        ):
            digest = hashlib.sha256()
            while block := response.read(1 << 20):
                digest.update(block)
                out.write(block)
            if remote.sha256 and digest.hexdigest() != remote.sha256:
                raise InputError(
                    str(path),
                    f"sha256 is {digest.hexdigest()}, expected {remote.sha256} (downloaded from "
                    f"{remote.url}: a different file; nothing was kept)",
                )
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise DatasetNotFoundError(
            f"could not download {remote.url} ({err}); on a machine without network, fetch that file "
            f"elsewhere and put it at {path}"
        ) from None
