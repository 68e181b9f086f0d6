"""The records a corpus holds, whatever file they came from.

Three kinds: `text` (one line of plain text), `parallel` (source and target,
plus any extra columns) and `labelled` (text and label). Each record keeps the
1-based line it was read from, so every later error can name it.

Example:
>>> c = Corpus.from_texts(["to be", "or not"], name="demo")
>>> c.kind, len(c), c.texts()
('text', 2, ['to be', 'or not'])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Literal

CorpusKind = Literal["text", "parallel", "labelled"]


@dataclasses.dataclass(frozen=True)
class TextRecord:
    text: str
    line: int = 0


@dataclasses.dataclass(frozen=True)
class PairRecord:
    source: str
    target: str
    line: int = 0
    extra: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class LabelledRecord:
    text: str
    label: str
    line: int = 0


Record = TextRecord | PairRecord | LabelledRecord
_KIND_OF = {TextRecord: "text", PairRecord: "parallel", LabelledRecord: "labelled"}


@dataclasses.dataclass(frozen=True)
class Corpus:
    """An immutable list of records of one kind, with where they came from.

    Args:
        kind: "text", "parallel" or "labelled".
        records: tuple of records of that kind.
        name: str. The file path or data set name (used in error messages).
        labels: tuple of str | None. The declared label set, for labelled corpora.
    """

    kind: CorpusKind
    records: tuple[Record, ...]
    name: str = "<memory>"
    labels: tuple[str, ...] | None = None

    def __post_init__(self):
        for rec in self.records[:1]:
            if _KIND_OF[type(rec)] != self.kind:
                raise TypeError(
                    f"{self.name}: a {self.kind} corpus cannot hold {type(rec).__name__}"
                )

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __getitem__(self, index: int) -> Record:
        return self.records[index]

    def replace(self, records: Iterable[Record], **changes) -> Corpus:
        """A corpus of the same kind and name holding `records`."""
        return dataclasses.replace(self, records=tuple(records), **changes)

    def texts(self) -> list[str]:
        """Every string a tokenizer should see: lines, both sides of pairs, or labelled texts."""
        if self.kind == "parallel":
            return [s for r in self.records for s in (r.source, r.target)]
        return [r.text for r in self.records]

    def sources(self) -> list[str]:
        return [r.source for r in self._of("parallel")]

    def targets(self) -> list[str]:
        return [r.target for r in self._of("parallel")]

    def label_names(self) -> list[str]:
        """The labels of a labelled corpus: the declared set, else the sorted distinct values."""
        if self.labels is not None:
            return list(self.labels)
        return sorted({r.label for r in self._of("labelled")})

    def _of(self, kind: CorpusKind) -> Sequence[Record]:
        if self.kind != kind:
            raise TypeError(f"{self.name} is a {self.kind} corpus, not {kind}")
        return self.records

    @classmethod
    def from_texts(cls, texts: Iterable[str], name: str = "<memory>") -> Corpus:
        return cls("text", tuple(TextRecord(t, i + 1) for i, t in enumerate(texts)), name)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]], name: str = "<memory>") -> Corpus:
        return cls(
            "parallel", tuple(PairRecord(s, t, i + 1) for i, (s, t) in enumerate(pairs)), name
        )

    @classmethod
    def from_labelled(
        cls,
        items: Iterable[tuple[str, str]],
        name: str = "<memory>",
        labels: Sequence[str] | None = None,
    ) -> Corpus:
        records = tuple(LabelledRecord(t, str(lab), i + 1) for i, (t, lab) in enumerate(items))
        return cls("labelled", records, name, tuple(labels) if labels is not None else None)
