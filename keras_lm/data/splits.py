"""Deterministic, seeded train/valid/test splits, and the record of how they were made.

Two ways to split, both reproducible from (seed, sizes) alone:
- `contiguous_split`: cuts a text at character positions (right for language
  modelling, where shuffling lines would leak context across splits);
- `grouped_split`: shuffles groups of records that share a key (for spa-eng, the
  normalised English side), so no key lands in two splits.

Example:
>>> from keras_lm.data.corpus import Corpus
>>> c = Corpus.from_pairs([(f"s{i}", f"t{i}") for i in range(10)])
>>> parts, info = grouped_split(c, {"valid": 2, "test": 2}, seed=0)
>>> {k: len(v) for k, v in parts.items()}, info.method
({'train': 6, 'valid': 2, 'test': 2}, 'grouped_random')
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from collections.abc import Mapping

import regex

from keras_lm.config import Config
from keras_lm.config import at_least
from keras_lm.data.corpus import Corpus
from keras_lm.data.corpus import Record

_NOT_WORD = regex.compile(r"[^\p{L}\p{N}\s]+")
_SPACES = regex.compile(r"\s+")


@dataclasses.dataclass(frozen=True)
class SplitInfo(Config):
    """How a data set's splits were made; saved with every run that uses them.

    Args:
        method: str. "given" (files on disk), "contiguous", "grouped_random" or a
            registry method name.
        seed: int | None. The shuffling seed, when there was shuffling.
        sizes: dict split -> rows (characters for contiguous text splits).
        sources: dict file name -> sha256 of what the splits were read from.
        note: str. Anything a reader of the run needs to know.
    """

    RANGES = {"seed": at_least(0), "sizes": at_least(0)}

    method: str = "given"
    seed: int | None = None
    sizes: dict[str, int] = dataclasses.field(default_factory=dict)
    sources: dict[str, str] = dataclasses.field(default_factory=dict)
    note: str = ""


def match_key(text: str) -> str:
    """Case-folded text with punctuation removed and spaces collapsed ("Cheer up!" == "cheer up.")."""
    return _SPACES.sub(" ", _NOT_WORD.sub("", text.casefold())).strip()


def contiguous_split(text: str, fractions: Mapping[str, float]) -> tuple[dict[str, str], SplitInfo]:
    """Cut `text` into consecutive pieces; the last split named takes the remainder.

    Fractions are applied one after another to what is left, as the shared
    Tiny Shakespeare files were made ({"train": 0.9*0.9, ...} as nested cuts).
    """
    pieces: dict[str, str] = {}
    names = list(fractions)
    start = 0
    for name in names[:-1]:
        end = start + int(fractions[name] * len(text))
        pieces[name] = text[start:end]
        start = end
    pieces[names[-1]] = text[start:]
    sizes = {k: len(v) for k, v in pieces.items()}
    return pieces, SplitInfo(method="contiguous", sizes=sizes)


def grouped_split(
    corpus: Corpus,
    holdout: Mapping[str, int],
    seed: int,
    key: Callable[[Record], str] | None = None,
) -> tuple[dict[str, Corpus], SplitInfo]:
    """Hold out `holdout[split]` records per split, keeping records that share a key together.

    Records keep their original order inside each split. Groups are drawn in a
    seeded random order until each held-out split has at least its size; every
    other group goes to "train".
    """
    key = key or _default_key
    groups: dict[str, list[int]] = {}
    for index, record in enumerate(corpus.records):
        groups.setdefault(key(record), []).append(index)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    assigned: dict[str, list[int]] = {name: [] for name in ("train", *holdout)}
    wanted = dict(holdout)
    for group_key in order:
        target = next((name for name, left in wanted.items() if left > 0), "train")
        assigned[target].extend(groups[group_key])
        if target != "train":
            wanted[target] -= len(groups[group_key])
    parts = {
        name: corpus.replace(corpus.records[i] for i in sorted(indices))
        for name, indices in assigned.items()
    }
    sizes = {name: len(part) for name, part in parts.items()}
    return parts, SplitInfo(method="grouped_random", seed=seed, sizes=sizes)


def _default_key(record: Record) -> str:
    if hasattr(record, "source"):
        return match_key(record.source)
    return match_key(record.text)
