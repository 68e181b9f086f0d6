"""The embedded corpus comes from the standard library, with no third-party text."""

from __future__ import annotations

import ast

import pytest

from keras_lm.data import datasets
from keras_lm.data.embedded import collect_docstrings
from keras_lm.data.embedded import describe
from keras_lm.data.embedded import provenance
from keras_lm.data.embedded import stdlib_docs_corpus
from keras_lm.data.embedded import stdlib_sigs_corpus
from keras_lm.data.splits import match_key
from keras_lm.evaluation.metrics import translation_scores


def test_docstrings_of_a_module():
    docs = {d.name: d for d in collect_docstrings(modules=("textwrap",))}
    assert docs["textwrap.dedent"].signature == "dedent(text)"
    assert docs["textwrap.TextWrapper"].signature is None
    assert docs["textwrap.TextWrapper.wrap"].signature == "wrap(text)"  # self dropped
    assert docs["textwrap"].text.startswith("Text wrapping and filling.")


@pytest.mark.slow
def test_docs_corpus_respects_the_size_limit():
    corpus = stdlib_docs_corpus(max_chars=20_000)
    assert sum(len(t) + 1 for t in corpus.texts()) <= 20_000
    assert corpus.kind == "text" and "" in corpus.texts()


@pytest.mark.slow
def test_sigs_corpus_pairs_are_distinct_and_bounded():
    corpus = stdlib_sigs_corpus(max_summary=80, max_signature=30)
    pairs = [(r.source, r.target) for r in corpus]
    assert len(pairs) == len(set(pairs)) > 500
    assert all(len(s) <= 80 and len(t) <= 30 and t.endswith(")") for s, t in pairs)
    assert provenance(corpus)["python"].startswith("3.")


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("def dedent(text): pass", "dedent takes text"),
        ("def close(self): pass", "close takes nothing"),
        ("def getLogger(name=None): pass", "get logger takes nothing; name defaults to None"),
        (
            "def wrap(self, text, width=70, *lines, sep, end='', **kw): pass",
            "wrap takes text, extra lines, keyword sep and extra keywords kw; "
            "width defaults to 70, end defaults to ''",
        ),
    ],
)
def test_describe_splits_names_lists_arguments_and_puts_defaults_last(source, words):
    assert describe(ast.parse(source).body[0]) == words


@pytest.mark.slow
def test_sig2text_held_out_splits_share_no_source_with_train_and_copying_scores_low():
    ds = datasets.load("stdlib-sig2text")
    sources = [s for corpus in ds.splits.values() for s in corpus.sources()]
    assert len(sources) == len(set(sources)) > 3000  # one row per signature
    train = {match_key(s) for s in ds["train"].sources()}
    for split in ("valid", "test"):
        held_out = {match_key(s) for s in ds[split].sources()}
        assert len(ds[split]) > 100 and not held_out & train, split
    valid = ds["valid"]
    assert translation_scores(valid.sources(), valid.targets())["bleu"] < 10  # learning shows
