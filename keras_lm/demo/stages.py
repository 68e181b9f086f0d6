"""What a rerun of the demo may skip: each finished stage's key, report lines and output files.

A stage's key hashes everything its outputs depend on: keras_lm's code and shipped configs,
the installed TensorFlow, Keras, keras-hub, LiteRT and ONNX Runtime versions, the stage's
own settings, and the data files or keys of the stages it reads. After each stage the demo
records `{key, lines, outputs, seconds}` in `stages.json` in its folder. `keras-lm demo
--resume` copies a stage's outputs from the last demo (or from the work a failed demo kept
in `.NAME.partial`, beside it) when its key is unchanged, and runs the stage otherwise.
Any change to keras_lm's code runs every stage again.

Example:
>>> key("train", {"steps": 10}) == key("train", {"steps": 10}) != key("train", {"steps": 11})
True
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from importlib import metadata
from pathlib import Path

from keras_lm.io import write_text_atomic

RECORD = "stages.json"
PACKAGES = ("tensorflow", "keras", "keras-hub", "ai-edge-litert", "onnxruntime", "tf2onnx")


def partial_folder(out: str | Path) -> Path:
    """Where a failed demo keeps its finished stages: `.NAME.partial` beside `out`."""
    out = Path(out)
    return out.with_name(f".{out.name}.partial")


@functools.cache
def environment_key() -> str:
    """A hash of keras_lm's files (code, configs, the embedded corpus) and the pinned packages."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    for package in PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} absent".encode())
    return digest.hexdigest()


def key(*parts) -> str:
    """The key of a stage whose outputs depend on `parts` (JSON-able) and the environment."""
    text = json.dumps([environment_key(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def files_key(paths: list[Path]) -> str:
    """A hash of the bytes of `paths` (the data files a stage reads)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


class Ledger:
    """The stages of the demo folder being written, and those of earlier folders it may reuse.

    Args:
        folder: Path. The folder being written (the demo's temporary folder).
        out: Path. Where it will be; recorded lines name this path.
        sources: list of Path. Earlier demo folders to reuse stages from (empty: run all).
    """

    def __init__(self, folder: Path, out: Path, sources: list[Path]):
        self.folder, self.out = folder, out
        self.records: dict[str, dict] = {}
        self.previous = [(s, read_records(s)) for s in sources]

    def find(self, name: str, stage_key: str) -> tuple[Path, dict] | None:
        """The earlier folder and record of stage `name` with this key, its outputs all there."""
        for source, records in self.previous:
            record = records.get(name)
            same = record and record["key"] == stage_key
            if same and all((source / p).exists() for p in record["outputs"]):
                return source, record
        return None

    def reuse(self, name: str, found: tuple[Path, dict]) -> list[str]:
        """Copy a found stage's outputs into the folder; its report lines."""
        source, record = found
        for relative in record["outputs"]:
            _copy(source / relative, self.folder / relative)
        self.records[name] = record
        self._write()
        return record["lines"]

    def record(
        self, name: str, stage_key: str, lines: list[str], outputs: list[str], seconds: float
    ) -> None:
        """Stage `name` finished: its lines (naming the final folder) and output paths."""
        here = str(self.folder)
        self.records[name] = {
            "key": stage_key,
            "lines": [line.replace(here, str(self.out)) for line in lines],
            "outputs": outputs,
            "seconds": round(seconds, 1),
        }
        self._write()

    def _write(self) -> None:
        write_text_atomic(self.folder / RECORD, json.dumps(self.records, indent=2) + "\n")


def read_records(folder: Path) -> dict[str, dict]:
    """The stage records of a demo folder (none if it has no readable `stages.json`)."""
    try:
        records = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return records if isinstance(records, dict) else {}


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)
