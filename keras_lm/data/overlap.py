"""Overlap between splits: rows of one split that repeat, sit inside, or contain rows of another.

A validation split is only honest if the model never saw its rows in any form. Three
ways a row of `valid` can have been seen in `train`, each on word sequences
(`words`: `near_duplicate_form`, split on spaces, so case, punctuation and spacing
do not count):
- near duplicate: the same words as a train row;
- inside: its words are a contiguous run inside a longer train row;
- contains: a train row of at least `min_words` words is a contiguous run inside it
  (SST-2's training rows are phrases cut from its sentences: a held-out sentence
  that contains its own phrases has been seen piece by piece).

Example:
>>> train = ["a gorgeous film .", "the plot", "it is a triumph of style"]
>>> valid = ["A gorgeous film!", "a triumph", "the plot is thin and slow", "new words here"]
>>> r = split_overlap(train, valid, min_words=2)
>>> r["near_duplicates"], r["inside_train_row"], r["contains_train_row"], r["any"]
(1, 1, 1, 3)
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any

from keras_lm.data.cleaning import near_duplicate_form
from keras_lm.data.corpus import Corpus

Words = tuple[str, ...]
EXAMPLES = 5


def words(text: str) -> Words:
    """The word sequence that overlap is measured on.

    >>> words("It 's a   GEM !")
    ('it', 's', 'a', 'gem')
    """
    return tuple(near_duplicate_form(text).split())


def runs(seq: Words, min_len: int = 1, max_len: int | None = None) -> Iterator[Words]:
    """Every contiguous run of `seq` with `min_len` to `max_len` words (the whole included).

    >>> sorted(runs(("a", "b", "c"), min_len=2))
    [('a', 'b'), ('a', 'b', 'c'), ('b', 'c')]
    """
    n = len(seq)
    top = n if max_len is None else min(n, max_len)
    for length in range(max(1, min_len), top + 1):
        for start in range(n - length + 1):
            yield seq[start : start + length]


def inside_any(candidates: Iterable[Words], rows: Iterable[Words]) -> set[Words]:
    """The candidates that are a contiguous run of some row strictly longer than themselves.

    Built for a few thousand candidates against many rows: only the candidates are kept
    in memory, and each row is cut into runs no longer than the longest candidate.
    """
    wanted = set(candidates)
    lengths = {len(c) for c in wanted}
    if not lengths:
        return set()
    low, high = min(lengths), max(lengths)
    found: set[Words] = set()
    for row in rows:
        for run in runs(row, low, min(high, len(row) - 1)):
            if run in wanted:
                found.add(run)
    return found


def split_overlap(
    reference: Sequence[str], texts: Sequence[str], min_words: int = 3
) -> dict[str, Any]:
    """How many of `texts` (e.g. valid) were seen in `reference` (e.g. train), and how.

    Counts are of rows of `texts`; `any` counts a row once however it overlaps; shares are
    of all rows. `examples` shows a few overlapping rows with how they overlap.
    """
    ref = [words(t) for t in reference]
    ref_set = set(ref)
    mine = [words(t) for t in texts]
    inside = inside_any((w for w in mine if w), ref)
    kinds: list[list[str]] = []
    for w in mine:
        found = []
        if w and w in ref_set:
            found.append("near_duplicate")
        if w in inside:
            found.append("inside_train_row")
        if any(run in ref_set for run in runs(w, min_words, len(w) - 1)):
            found.append("contains_train_row")
        kinds.append(found)
    total = len(texts)
    counts = {
        name: sum(name in k for k in kinds)
        for name in ("near_duplicate", "inside_train_row", "contains_train_row")
    }
    seen = sum(bool(k) for k in kinds)
    return {
        "rows": total,
        "min_words": min_words,
        "near_duplicates": counts["near_duplicate"],
        "inside_train_row": counts["inside_train_row"],
        "contains_train_row": counts["contains_train_row"],
        "any": seen,
        "share_any": seen / total if total else None,
        "share_near_duplicates": counts["near_duplicate"] / total if total else None,
        "examples": [
            {"text": texts[i], "overlap": kinds[i]}
            for i in [i for i, k in enumerate(kinds) if k][:EXAMPLES]
        ],
    }


def corpus_overlap(reference: Corpus, corpus: Corpus, min_words: int = 3) -> dict[str, Any]:
    """`split_overlap` on what a model reads (the source side of pairs, else the text), with the field.

    >>> from keras_lm.data.corpus import Corpus
    >>> train = Corpus.from_pairs([("I ran home.", "Corrí a casa.")])
    >>> corpus_overlap(train, Corpus.from_pairs([("I ran.", "Corrí.")]))["inside_train_row"]
    1
    """
    field = "source" if corpus.kind == "parallel" else "text"

    def read(c: Corpus) -> list[str]:
        return c.sources() if c.kind == "parallel" else [r.text for r in c.records]

    return {"field": field, **split_overlap(read(reference), read(corpus), min_words)}
