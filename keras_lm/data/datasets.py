"""`load(name)`: a registered or embedded data set as train/valid/test corpora, plus how it was split.

Where a data set is looked for, in order: `data_dir`, `$KERAS_LM_DATA`, then the
download cache (`$KERAS_LM_CACHE` or ~/.cache/keras_lm/datasets). In each, the
layout is `<dir>/<name>/<split file>`, as in ../shared/data. When none has it, the
canonical file is downloaded (sha256-checked) into the cache and split there,
seeded, once. Offline, the error says which file to put where.

Example:
>>> ds = load("stdlib-sigs")
>>> ds.kind, sorted(ds.splits), ds.info.method
('parallel', ['test', 'train', 'valid'], 'grouped_random')
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from keras_lm.data import embedded
from keras_lm.data import preparation
from keras_lm.data.cleaning import CleaningConfig
from keras_lm.data.corpus import Corpus
from keras_lm.data.corpus import CorpusKind
from keras_lm.data.readers import Errors
from keras_lm.data.readers import read_corpus
from keras_lm.data.registry import REGISTRY
from keras_lm.data.registry import DatasetSpec
from keras_lm.data.sentence_split import sentences_apart
from keras_lm.data.splits import SplitInfo
from keras_lm.data.splits import grouped_split
from keras_lm.errors import DatasetNotFoundError
from keras_lm.io import cache_dir
from keras_lm.io import data_dir_candidates
from keras_lm.io import sha256_file

DEFAULT_SEED = 1337

EMBEDDED: dict[str, Callable[[], Corpus]] = {
    "stdlib-docs": embedded.stdlib_docs_corpus,
    "stdlib-sig2text": embedded.stdlib_sig2text_corpus,
    "stdlib-sigs": embedded.stdlib_sigs_corpus,
    "stdlib-kinds": embedded.stdlib_kinds_corpus,
}
# A summary mapped to a signature, or a signature to its description, is not a translation: length
# ratios and identical sides ("f()" -> "f takes nothing" is short beside a long one) are expected.
EMBEDDED_CLEANING = {
    "stdlib-sig2text": ("length_ratio=false", "identical_pair=false"),
    "stdlib-sigs": ("length_ratio=false", "identical_pair=false"),
}
EMBEDDED_DESCRIPTIONS = {
    "stdlib-docs": "Docstrings of Python's standard library (text; built at run time, no download)",
    "stdlib-sig2text": "Function signature -> its description in words (parallel; built in)",
    "stdlib-sigs": "Function summary -> signature pairs from the standard library (parallel; built in)",
    "stdlib-kinds": "Docstring summary -> module/class/function (labelled; built in)",
}


@dataclasses.dataclass(frozen=True)
class DatasetSplits:
    """A data set's splits (`train`, and `valid`/`test` where present) and their `SplitInfo`."""

    name: str
    kind: CorpusKind
    splits: dict[str, Corpus]
    info: SplitInfo

    def __getitem__(self, split: str) -> Corpus:
        try:
            return self.splits[split]
        except KeyError:
            raise KeyError(
                f"{self.name} has no {split!r} split; it has {sorted(self.splits)}"
            ) from None


def available() -> list[str]:
    """Every name `load` accepts: the registry and the embedded corpora."""
    return sorted([*REGISTRY, *EMBEDDED])


def load(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    seed: int = DEFAULT_SEED,
    errors: Errors = "strict",
    kind: CorpusKind | None = None,
    **reader_options,
) -> DatasetSplits:
    """Load a data set by name (see `available()`), or a corpus file by path (as its only split, train).

    For a path, `kind` (else guessed from the file) and `reader_options` (e.g. `labels`) go to the reader.
    """
    if name in EMBEDDED:
        return _load_embedded(name, seed)
    if name not in REGISTRY:
        if Path(name).is_file():
            corpus = read_corpus(name, kind, errors=errors, **reader_options)
            info = SplitInfo(
                sizes={"train": len(corpus)}, sources={Path(name).name: sha256_file(name)}
            )
            return DatasetSplits(Path(name).stem, corpus.kind, {"train": corpus}, info)
        raise DatasetNotFoundError(
            f"{name!r} is neither a file nor a known data set ({', '.join(available())})"
        )
    spec = REGISTRY[name]
    folder = find_local(spec, data_dir)
    if folder is None:
        if not download and not _download_in_cache(spec):
            raise DatasetNotFoundError(_not_found_message(spec, data_dir))
        try:
            folder = preparation.prepare(spec, cache_dir() / spec.name, seed)
        except DatasetNotFoundError as err:
            raise DatasetNotFoundError(f"{_not_found_message(spec, data_dir)}\n{err}") from None
    return _read_local(spec, folder, errors, seed)


def default_cleaning(ds: DatasetSplits) -> CleaningConfig:
    """The cleaning rules for a data set: its kind's defaults with the data set's own overrides."""
    overrides = (
        REGISTRY[ds.name].cleaning if ds.name in REGISTRY else EMBEDDED_CLEANING.get(ds.name, ())
    )
    return CleaningConfig.for_kind(ds.kind).with_overrides(list(overrides))


def find_local(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first `<dir>/<name>/` among the candidate directories that holds the train file."""
    for base in data_dir_candidates(data_dir):
        folder = base / spec.name
        if (folder / spec.split_files["train"]).is_file():
            return folder
    return None


def _read_local(spec: DatasetSpec, folder: Path, errors: Errors, seed: int) -> DatasetSplits:
    splits, sources = {}, {}
    for split, filename in spec.split_files.items():
        path = folder / filename
        if path.is_file():
            splits[split] = read_corpus(path, spec.kind, errors=errors, **spec.reader_options)
            sources[f"{split}:{filename}"] = sha256_file(path)
    info_path = folder / "split.json"
    info = SplitInfo.load(info_path) if info_path.is_file() else SplitInfo(method="given")
    if spec.valid_sentences and "valid" in splits:
        splits, info = _sentences_apart(spec, splits, seed)
    sizes = {k: len(v) for k, v in splits.items()}
    info = dataclasses.replace(info, sizes=sizes, sources=sources)
    return DatasetSplits(spec.name, spec.kind, splits, info)


def _sentences_apart(
    spec: DatasetSpec, splits: dict[str, Corpus], seed: int
) -> tuple[dict[str, Corpus], SplitInfo]:
    """Pool train and valid, then hold out whole sentences (see `DatasetSpec.valid_sentences`)."""
    train, valid = splits["train"], splits["valid"]
    pool = train.replace(
        (*train.records, *valid.records), name=f"{train.name} + {Path(valid.name).name}"
    )
    parts, info = sentences_apart(pool, spec.valid_sentences, seed)
    return {**splits, **parts}, info


def _load_embedded(name: str, seed: int) -> DatasetSplits:
    corpus = EMBEDDED[name]()
    provenance = embedded.provenance(corpus)
    note = f"built from the Python {provenance['python']} standard library"
    if corpus.kind == "text":
        lines = corpus.records
        cut = {"train": int(0.9 * len(lines)), "valid": int(0.95 * len(lines))}
        parts = {
            "train": corpus.replace(lines[: cut["train"]]),
            "valid": corpus.replace(lines[cut["train"] : cut["valid"]]),
            "test": corpus.replace(lines[cut["valid"] :]),
        }
        info = SplitInfo(
            method="contiguous_lines_90_5_5", sizes={k: len(v) for k, v in parts.items()}
        )
    else:
        tenth = max(1, len(corpus) // 20)
        parts, info = grouped_split(corpus, {"valid": tenth, "test": tenth}, seed)
    info = dataclasses.replace(
        info, sources={"content_sha256": provenance["content_sha256"]}, note=note
    )
    return DatasetSplits(name, corpus.kind, parts, info)


def _download_in_cache(spec: DatasetSpec) -> bool:
    return spec.remote is not None and (cache_dir() / spec.name / spec.remote.filename).is_file()


def _not_found_message(spec: DatasetSpec, data_dir) -> str:
    tried = "\n".join(
        f"  {base / spec.name / spec.split_files['train']}"
        for base in data_dir_candidates(data_dir)
    )
    files = ", ".join(spec.split_files.values())
    lines = [
        f"data set {spec.name!r} not found. Looked for:",
        tried,
        f"Put its files ({files}; the train file is required) in <data_dir>/{spec.name}/ and pass "
        "--data-dir <data_dir> or set KERAS_LM_DATA=<data_dir>",
    ]
    if spec.remote is not None:
        lines.append(
            f"or, offline, download {spec.remote.url} elsewhere and put it at "
            f"{cache_dir() / spec.name / spec.remote.filename}"
        )
    return "\n".join(lines)


__all__ = ["DatasetSplits", "available", "default_cleaning", "find_local", "load"]
