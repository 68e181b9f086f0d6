"""Splits are seeded, reproducible, and keep grouped records together."""

from __future__ import annotations

from keras_lm.data.corpus import Corpus
from keras_lm.data.splits import SplitInfo
from keras_lm.data.splits import contiguous_split
from keras_lm.data.splits import grouped_split
from keras_lm.data.splits import match_key


def pairs_corpus(n=200):
    # Each English sentence has 1-3 translations, with punctuation variants.
    pairs = []
    for i in range(n):
        for j in range(i % 3 + 1):
            pairs.append((f"Sentence {i}{'!' if j else '.'}", f"Frase {i} v{j}"))
    return Corpus.from_pairs(pairs)


def test_match_key_ignores_case_punctuation_and_spacing():
    assert match_key("Cheer up!") == match_key("cheer   up.") == "cheer up"
    assert match_key("¿Dónde?") == "dónde"


def test_grouped_split_keeps_groups_together_and_sizes():
    corpus = pairs_corpus()
    parts, info = grouped_split(corpus, {"valid": 30, "test": 30}, seed=7)
    keys = {name: {match_key(r.source) for r in part} for name, part in parts.items()}
    assert not keys["train"] & keys["valid"]
    assert not keys["train"] & keys["test"]
    assert not keys["valid"] & keys["test"]
    assert 30 <= len(parts["valid"]) < 33 and 30 <= len(parts["test"]) < 33
    assert sum(len(p) for p in parts.values()) == len(corpus)
    assert info.sizes == {k: len(v) for k, v in parts.items()}
    lines = [r.line for r in parts["train"]]
    assert lines == sorted(lines)  # original order kept


def test_grouped_split_is_reproducible_and_seed_dependent():
    corpus = pairs_corpus()
    a, _ = grouped_split(corpus, {"valid": 20}, seed=1)
    b, _ = grouped_split(corpus, {"valid": 20}, seed=1)
    c, _ = grouped_split(corpus, {"valid": 20}, seed=2)
    assert a["valid"].records == b["valid"].records
    assert a["valid"].records != c["valid"].records


def test_contiguous_split_cuts_in_order():
    text = "".join(chr(97 + i % 26) for i in range(1000))
    pieces, info = contiguous_split(text, {"train": 0.8, "valid": 0.1, "test": 0.1})
    assert "".join(pieces.values()) == text
    assert info.sizes == {"train": 800, "valid": 100, "test": 100}


def test_split_info_round_trips(tmp_path):
    info = SplitInfo(
        method="grouped_random", seed=3, sizes={"train": 5}, sources={"a": "b"}, note="n"
    )
    info.save(tmp_path / "split.json")
    assert SplitInfo.load(tmp_path / "split.json") == info
