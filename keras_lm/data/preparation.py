"""Turn a canonical download into the split files of a data directory, seeded and recorded.

Each registry `split_method` is one function here. The split files are written
before the train file, which is written last: a data set folder whose train file
exists is complete (see `datasets.find_local`).

Example:
>>> sorted(METHODS)
['contiguous_90_90', 'glue_train_holdout', 'pairs_grouped_by_source', 'wikitext_members']
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from keras_lm.data.corpus import Corpus
from keras_lm.data.download import fetch
from keras_lm.data.download import read_member
from keras_lm.data.readers import read_labelled
from keras_lm.data.readers import read_parallel
from keras_lm.data.registry import DatasetSpec
from keras_lm.data.splits import SplitInfo
from keras_lm.data.splits import contiguous_split
from keras_lm.data.splits import grouped_split
from keras_lm.data.writers import format_corpus
from keras_lm.io import new_folder
from keras_lm.io import sha256_file
from keras_lm.io import write_text_atomic

SPA_ENG_HOLDOUT = {"valid": 3000, "test": 3000}
SST2_VALID_ROWS = 2000


def prepare(spec: DatasetSpec, folder: Path, seed: int) -> Path:
    """Download `spec.remote` into `folder` (if needed), split it, write the split files; return `folder`.

    A failed download leaves no file and no folder behind (a cache folder it created is removed).
    """
    if spec.remote is None:
        raise ValueError(f"{spec.name} has no canonical download")
    with new_folder(folder):
        archive = fetch(spec.remote, folder)
    texts, info = METHODS[spec.split_method](spec, archive, seed)
    info = dataclasses.replace(info, sources={spec.remote.filename: sha256_file(archive)})
    for split in sorted(texts, key=lambda s: s == "train"):
        if split == "train":
            info.save(folder / "split.json")
        write_text_atomic(folder / spec.split_files[split], texts[split])
    return folder


def _tinyshakespeare(
    spec: DatasetSpec, archive: Path, seed: int
) -> tuple[dict[str, str], SplitInfo]:
    text = archive.read_text(encoding="utf-8")
    first = int(0.9 * len(text))
    pieces, info = contiguous_split(text[:first], {"train": 0.9, "valid": 1.0})
    pieces["test"] = text[first:]
    note = "train = first 90% of the first 90%, valid = the rest of that 90%, test = the last 10%"
    return pieces, dataclasses.replace(info, method=spec.split_method, note=note)


def _spa_eng(spec: DatasetSpec, archive: Path, seed: int) -> tuple[dict[str, str], SplitInfo]:
    member, sha = next(iter(spec.remote.members.items()))
    corpus = _parse(read_member(archive, member, sha), member, read_parallel)
    parts, info = grouped_split(corpus, SPA_ENG_HOLDOUT, seed)
    note = "held out by English sentence (case, punctuation and spacing ignored): no English side in two splits"
    return _serialise(parts), dataclasses.replace(info, method=spec.split_method, note=note)


def _sst2(spec: DatasetSpec, archive: Path, seed: int) -> tuple[dict[str, str], SplitInfo]:
    (train_member, train_sha), (dev_member, dev_sha) = spec.remote.members.items()
    labels = spec.reader_options.get("labels")
    train = _parse(
        read_member(archive, train_member, train_sha), train_member, read_labelled, labels=labels
    )
    dev = _parse(
        read_member(archive, dev_member, dev_sha), dev_member, read_labelled, labels=labels
    )
    parts, info = grouped_split(train, {"valid": SST2_VALID_ROWS}, seed, key=lambda r: r.text)
    parts["test"] = dev
    note = "valid: sentences held out of GLUE train; test: GLUE dev"
    return _serialise(parts), dataclasses.replace(info, method=spec.split_method, note=note)


def _wikitext(spec: DatasetSpec, archive: Path, seed: int) -> tuple[dict[str, str], SplitInfo]:
    texts = {}
    for (member, sha), split in zip(
        spec.remote.members.items(), ("train", "valid", "test"), strict=True
    ):
        texts[split] = read_member(archive, member, sha).decode("utf-8")
    sizes = {k: len(v) for k, v in texts.items()}
    return texts, SplitInfo(method=spec.split_method, sizes=sizes, note="the published splits")


METHODS = {
    "contiguous_90_90": _tinyshakespeare,
    "pairs_grouped_by_source": _spa_eng,
    "glue_train_holdout": _sst2,
    "wikitext_members": _wikitext,
}


def _parse(data: bytes, member: str, reader, **options) -> Corpus:
    """Run a file reader over bytes from an archive, through a temporary file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(member).name
        path.write_bytes(data)
        corpus = reader(path, **options)
    return dataclasses.replace(corpus, name=member)


def _serialise(parts: dict[str, Corpus]) -> dict[str, str]:
    return {split: format_corpus(corpus) for split, corpus in parts.items()}
