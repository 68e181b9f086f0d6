"""The embedded corpus comes from the standard library, with no third-party text."""

from __future__ import annotations

import pytest

from keras_lm.data.embedded import collect_docstrings
from keras_lm.data.embedded import provenance
from keras_lm.data.embedded import stdlib_docs_corpus
from keras_lm.data.embedded import stdlib_sigs_corpus


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
