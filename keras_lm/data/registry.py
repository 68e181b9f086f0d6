"""The standard data sets keras_lm knows by name: where they come from and how they lie on disk.

A `DatasetSpec` is data, not code: the canonical public download (URL, sha256,
the member files inside an archive), the corpus kind and reader options, and
the split files expected in a data directory (`<data_dir>/<name>/train.txt` ...),
which is the layout of ../shared/data that CI has.

Example:
>>> spec = get_spec("spa-eng")
>>> spec.kind, spec.split_files["train"]
('parallel', 'train.txt')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from keras_lm.data.corpus import CorpusKind


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One canonical public download.

    Args:
        url: str. Where it is published.
        filename: str. The name it is cached under.
        sha256: str | None. The checksum of the download itself, when known.
        members: mapping of archive member path -> sha256 (or None when unknown):
            the files used from inside a zip archive; empty for a plain file.
    """

    url: str
    filename: str
    sha256: str | None = None
    members: Mapping[str, str | None] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A registered data set.

    Args:
        name: str. The registry name (also the folder name in a data directory).
        kind: "text", "parallel" or "labelled".
        description: str. One line for `keras-lm data list`.
        split_files: mapping split -> file name inside `<data_dir>/<name>/`.
        remote: RemoteFile | None. The canonical download.
        reader_options: options passed to the reader (e.g. the label set).
        split_method: str. How splits are made from the download (see keras_lm.data.splits).
        licence: str. Licence and attribution.
        cleaning: overrides of the kind's default cleaning rules that suit this data set.
        valid_sentences: int. When above 0, train and valid are read, pooled and split again
            by `sentence_split.sentences_apart` with this many whole valid sentences (for
            corpora of sentences and the phrases cut from them).
    """

    name: str
    kind: CorpusKind
    description: str
    split_files: Mapping[str, str]
    remote: RemoteFile | None = None
    reader_options: Mapping[str, object] = dataclasses.field(default_factory=dict)
    split_method: str = "none"
    licence: str = ""
    cleaning: tuple[str, ...] = ()
    valid_sentences: int = 0


REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="tinyshakespeare",
            kind="text",
            description="Tiny Shakespeare (char-rnn): 1.1M characters of plays, for character LMs",
            split_files={"train": "train.txt", "valid": "valid.txt", "test": "test.txt"},
            remote=RemoteFile(
                url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
                filename="input.txt",
                sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            ),
            split_method="contiguous_90_90",
            licence="Public-domain plays; char-rnn repository MIT",
        ),
        DatasetSpec(
            name="spa-eng",
            kind="parallel",
            description="English-Spanish sentence pairs (Tatoeba via manythings.org/anki, 2018)",
            split_files={"train": "train.txt", "valid": "valid.txt", "test": "test.txt"},
            remote=RemoteFile(
                url="http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip",
                filename="spa-eng.zip",
                members={
                    "spa-eng/spa.txt": "6ec60e212f812ee3430f7568ea6f33b6fb080e32193c5952e8da0ee8ba45574c"
                },
            ),
            split_method="pairs_grouped_by_source",
            licence="CC BY 2.0 FR; attribution: www.manythings.org/anki and tatoeba.org",
        ),
        DatasetSpec(
            name="sst2",
            kind="labelled",
            description="SST-2 binary sentiment (GLUE), sentence<TAB>label with a header",
            split_files={"train": "train.tsv", "valid": "valid.tsv", "test": "test.tsv"},
            remote=RemoteFile(
                url="https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
                filename="SST-2.zip",
                members={
                    "SST-2/train.tsv": "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
                    "SST-2/dev.tsv": None,
                },
            ),
            reader_options={"labels": ("0", "1")},
            split_method="glue_train_holdout",
            # Its rows are sentences and their phrases: valid is whole sentences, their phrases
            # out of train (the files' random row split overstated accuracy by ten points).
            valid_sentences=1000,
            licence="No formal licence; cite Socher et al. 2013 and Wang et al. 2018",
        ),
        DatasetSpec(
            name="wikitext2",
            kind="text",
            description="WikiText-2 (raw): Wikipedia Good and Featured articles, for word/subword LMs",
            split_files={"train": "train.txt", "valid": "valid.txt", "test": "test.txt"},
            remote=RemoteFile(
                url="https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip",
                filename="wikitext-2-raw-v1.zip",
                members={
                    "wikitext-2-raw/wiki.train.raw": None,
                    "wikitext-2-raw/wiki.valid.raw": None,
                    "wikitext-2-raw/wiki.test.raw": None,
                },
            ),
            split_method="wikitext_members",
            licence="CC BY-SA 3.0",
        ),
    )
}


def get_spec(name: str) -> DatasetSpec:
    """The spec registered under `name`; a `KeyError` lists the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown data set {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
