"""The leak check finds valid rows seen in train, and SST-2's sentence split leaves none."""

from __future__ import annotations

import pytest

from keras_lm.data import datasets
from keras_lm.data.corpus import Corpus
from keras_lm.data.overlap import inside_any
from keras_lm.data.overlap import runs
from keras_lm.data.overlap import split_overlap
from keras_lm.data.overlap import words
from keras_lm.data.quality import format_report_text
from keras_lm.data.quality import quality_report
from keras_lm.data.readers import read_labelled
from keras_lm.data.sentence_split import sentences_apart


def test_words_ignore_case_punctuation_and_spacing():
    assert words("It 's  a GEM!") == words("it 's a gem .") == ("it", "s", "a", "gem")
    assert words(" ... ") == ()


def test_runs_are_every_contiguous_slice_within_bounds():
    seq = ("a", "b", "c", "d")
    assert len(list(runs(seq))) == 10
    assert set(runs(seq, 2, 3)) == {
        ("a", "b"),
        ("b", "c"),
        ("c", "d"),
        ("a", "b", "c"),
        ("b", "c", "d"),
    }
    assert ("a", "c") not in set(runs(seq))


def test_inside_any_needs_a_strictly_longer_row():
    rows = [("a", "b", "c"), ("x", "y")]
    assert inside_any([("b", "c"), ("x", "y"), ("c", "a")], rows) == {("b", "c")}


def test_split_overlap_counts_each_kind_and_each_row_once():
    train = ["the plot is thin", "a gorgeous film", "slow"]
    valid = [
        "The plot is thin!",  # near duplicate
        "gorgeous film",  # inside a train row
        "a gorgeous film with a thin plot",  # contains a 3-word train row
        "slow and dull",  # contains a 1-word train row: under min_words
        "fresh words",
    ]
    r = split_overlap(train, valid, min_words=3)
    assert (r["near_duplicates"], r["inside_train_row"], r["contains_train_row"]) == (1, 1, 1)
    assert r["any"] == 3 and r["share_any"] == pytest.approx(0.6)
    assert [e["text"] for e in r["examples"]] == valid[:3]
    assert split_overlap(train, valid, min_words=1)["contains_train_row"] == 2


def test_quality_report_shows_the_leak_check_against_its_reference():
    train = Corpus.from_pairs([("the cat sat on the mat", "x"), ("dogs bark", "y")])
    valid = Corpus.from_pairs([("the cat sat", "z"), ("birds sing", "w")])
    report = quality_report(valid, reference=train)
    assert report["leakage"]["field"] == "source"
    assert report["leakage"]["inside_train_row"] == 1 and report["leakage"]["any"] == 1
    assert "leak check (source): rows seen in reference" in format_report_text(report)
    assert "leakage" not in quality_report(valid)


def phrase_corpus() -> Corpus:
    """Sentences with their phrases, as SST-2's training rows are."""
    rows = []
    for i in range(30):
        sentence = f"film {i} is a quiet triumph of style number {i}"
        rows += [(sentence, "1"), (f"film {i}", "1"), (f"a quiet triumph of style number {i}", "1")]
        rows += [("a quiet triumph", "1"), (sentence + " .", "1")]  # a shared phrase, a near repeat
    return Corpus.from_labelled(rows)


def test_sentences_apart_holds_out_whole_sentences_and_their_phrases():
    corpus = phrase_corpus()
    parts, info = sentences_apart(corpus, valid_size=5, seed=3)
    valid = [r.text for r in parts["valid"]]
    sentences = {f"film {i} is a quiet triumph of style number {i}" for i in range(30)}
    assert len(valid) == 5 and set(valid) <= sentences  # whole sentences, no near repeat twice
    leak = split_overlap([r.text for r in parts["train"]], valid, min_words=1)
    assert leak["any"] == 0
    # Only rows inside a valid sentence left train: the other 25 sentences keep all their rows.
    assert len(parts["train"]) == 25 * 4
    assert info.method == "sentences_apart" and info.sizes == {"train": 100, "valid": 5}
    again, _ = sentences_apart(corpus, valid_size=5, seed=3)
    assert [r.text for r in again["valid"]] == valid
    other, _ = sentences_apart(corpus, valid_size=5, seed=4)
    assert [r.text for r in other["valid"]] != valid


def test_sentences_apart_refuses_more_sentences_than_there_are():
    with pytest.raises(ValueError, match="asked for 31 valid sentences, it has 30"):
        sentences_apart(phrase_corpus(), valid_size=31, seed=0)


@pytest.mark.slow
@pytest.mark.needs_data
def test_sst2_valid_is_whole_sentences_unseen_in_train(data_dir):
    ds = datasets.load("sst2", data_dir=data_dir, download=False)
    train, valid = [r.text for r in ds["train"]], [r.text for r in ds["valid"]]
    assert len(valid) == 1_000 and ds.info.method == "sentences_apart"
    assert split_overlap(train, valid, min_words=1)["any"] == 0
    assert len(train) > 55_000
    # The files' own split: nearly every valid row was seen in train (the check catches it).
    given_train = read_labelled(data_dir / "sst2" / "train.tsv", labels=("0", "1"))
    given_valid = read_labelled(data_dir / "sst2" / "valid.tsv", labels=("0", "1"))
    leak = split_overlap([r.text for r in given_train], [r.text for r in given_valid])
    assert leak["share_any"] > 0.9


def test_sentences_apart_does_not_depend_on_the_rows_order():
    corpus = phrase_corpus()
    shuffled = corpus.replace(reversed(corpus.records))
    a, _ = sentences_apart(corpus, valid_size=5, seed=1)
    b, _ = sentences_apart(shuffled, valid_size=5, seed=1)
    assert sorted(r.text for r in a["valid"]) == sorted(r.text for r in b["valid"])
    assert sorted(r.text for r in a["train"]) == sorted(r.text for r in b["train"])
