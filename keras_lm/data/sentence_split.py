"""The SST-2 kind of split: whole sentences held out, with every phrase cut from them kept out of train.

Used by `datasets.load("sst2")`: GLUE's training rows are sentences and their parse-tree
phrases, so a random row split puts phrases of one review on both sides.
"""

from __future__ import annotations

import random

from keras_lm.data import overlap
from keras_lm.data.corpus import Corpus
from keras_lm.data.splits import SplitInfo


def sentences_apart(
    corpus: Corpus, valid_size: int, seed: int
) -> tuple[dict[str, Corpus], SplitInfo]:
    """Hold out whole sentences, and drop from train every row that occurs inside one of them.

    For corpora whose rows are sentences together with phrases cut from them (SST-2's
    GLUE train file): a sentence is a row that no other row contains; `valid_size` of
    them are drawn (seeded, independent of the rows' order), and train keeps every other row except those whose words
    (`overlap.words`) are a contiguous run of a held-out sentence. So no valid sentence
    is, repeats, contains or sits inside a train row, and no two valid sentences share
    their words.

    >>> from keras_lm.data.corpus import Corpus
    >>> rows = [("a fine film", "1"), ("fine", "1"), ("a dull film", "0"), ("dull", "0")]
    >>> parts, info = sentences_apart(Corpus.from_labelled(rows), valid_size=1, seed=1)
    >>> [r.text for r in parts["valid"]], [r.text for r in parts["train"]], info.method
    (['a dull film'], ['a fine film', 'fine'], 'sentences_apart')
    """
    keys = [overlap.words(r.text) for r in corpus.records]
    contained = overlap.inside_any(keys, keys)
    rows: dict[overlap.Words, list[int]] = {}
    for i, k in enumerate(keys):
        if k and k not in contained:
            rows.setdefault(k, []).append(i)
    if valid_size > len(rows):
        raise ValueError(
            f"{corpus.name}: asked for {valid_size} valid sentences, it has {len(rows)}"
        )
    # Drawn from the sorted distinct sentences, one row each: the same rows however the pool is ordered.
    chosen = random.Random(seed).sample(sorted(rows), valid_size)
    held = {min(rows[k], key=lambda i: corpus.records[i].text) for k in chosen}
    seen = {run for i in held for run in overlap.runs(keys[i])}
    train = [r for i, (r, k) in enumerate(zip(corpus.records, keys, strict=True)) if k not in seen]
    parts = {
        "train": corpus.replace(train),
        "valid": corpus.replace(corpus.records[i] for i in sorted(held)),
    }
    note = (
        f"valid: {valid_size} whole sentences (rows no other row contains); train: every other "
        "row except those inside a valid sentence"
    )
    sizes = {name: len(part) for name, part in parts.items()}
    return parts, SplitInfo(method="sentences_apart", seed=seed, sizes=sizes, note=note)
