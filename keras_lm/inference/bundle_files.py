"""A bundle's files on disk, checked against its manifest before any of them is opened.

`Manifest.read` checks what the manifest says (paths relative, normalised, without
`..`; every variant with listed files; sizes and digests well formed). This module
checks the disk against it, in this order, for each file a runtime loads:

1. listed: the file has a `files` entry (nothing unlisted is ever opened);
2. inside: its path, symlinks resolved, stays inside the bundle folder;
3. a regular file, of the size the entry records (before any byte is hashed);
4. its sha256 is the entry's.

A variant's folder (ONNX: one `.onnx` per graph) must hold its listed files and nothing
else. Every failure is an `InputError` naming the file. TensorFlow-free.

Example:
>>> import hashlib, tempfile
>>> from keras_lm.inference.manifest import Manifest
>>> bundle = Path(tempfile.mkdtemp())
>>> _ = (bundle / "model.tflite").write_bytes(b"weights")
>>> entry = {"sha256": hashlib.sha256(b"weights").hexdigest(), "bytes": 7}
>>> manifest = Manifest("m", "lstm_lm", "lm", files={"model.tflite": entry})
>>> checked_file(bundle, manifest, "model.tflite").name
'model.tflite'
>>> _ = (bundle / "model.tflite").write_bytes(b"WEIGHTS")
>>> checked_file(bundle, manifest, "model.tflite")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
keras_lm.errors.InputError: .../model.tflite: sha256 differs from the manifest: the file changed after export
"""

from __future__ import annotations

from pathlib import Path

from keras_lm.errors import InputError
from keras_lm.inference.manifest import Manifest
from keras_lm.inference.manifest import Variant
from keras_lm.io import sha256_file

CHANGED = "the file changed after export"


def inside(bundle: Path, rel: str) -> Path:
    """`bundle / rel` with symlinks resolved, if that stays inside `bundle`; an `InputError` otherwise."""
    try:
        root = Path(bundle).resolve()
        path = (root / rel).resolve()
    except (OSError, RuntimeError) as err:  # a symlink loop
        raise InputError(Path(bundle) / rel, f"cannot resolve the path ({err})") from err
    if not path.is_relative_to(root):
        raise InputError(
            Path(bundle) / rel,
            f"resolves to {path}, outside the bundle (a symlink?): "
            "expected every file inside the bundle folder",
        )
    return path


def checked_file(bundle: Path, manifest: Manifest, rel: str) -> Path:
    """The resolved path of `rel`, once it is listed, inside, of its size and of its sha256."""
    shown = Path(bundle) / rel
    entry = manifest.files.get(rel)
    if entry is None:
        raise InputError(
            shown,
            "not listed in manifest.json `files`: expected every file a runtime loads "
            "listed with its sha256",
        )
    path = inside(bundle, rel)
    if not path.is_file():
        raise InputError(shown, "listed in manifest.json but missing (expected a regular file)")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise InputError(
            shown, f"{size:,} bytes, but manifest.json records {entry['bytes']:,}: {CHANGED}"
        )
    if sha256_file(path) != entry["sha256"]:
        raise InputError(shown, f"sha256 differs from the manifest: {CHANGED}")
    return path


def variant_files(bundle: Path, manifest: Manifest, variant: Variant) -> list[Path]:
    """The variant's listed files, each checked, in path order; its folder holds no other file."""
    listed = manifest.files_of(variant)
    if not listed:
        raise InputError(
            Path(bundle) / variant.path,
            f"variant {variant.key} has no file listed in manifest.json `files`",
        )
    paths = [checked_file(bundle, manifest, rel) for rel in listed]
    _refuse_unlisted(bundle, variant, set(listed))
    return paths


def _refuse_unlisted(bundle: Path, variant: Variant, listed: set[str]) -> None:
    """An `InputError` for a file (or link) in the variant's folder that `files` does not list."""
    folder = inside(bundle, variant.path)
    if not folder.is_dir():
        return  # a file variant
    for path in sorted(folder.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        rel = f"{variant.path}/{path.relative_to(folder).as_posix()}"
        if rel not in listed:
            raise InputError(
                path,
                f"in the folder of variant {variant.key} but not listed in manifest.json "
                "`files`: expected the variant's listed files only",
            )
