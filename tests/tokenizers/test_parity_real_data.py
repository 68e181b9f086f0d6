"""Every line of the real corpora: the TF-free twin gives the TensorFlow twin's ids and strings.

Each (corpus, kind) trains once on a seeded 8k-line sample of the corpus's train split
(vocabulary 2000 for the subword kinds, so unknown words and byte fallback are
exercised), then checks parity on every line of valid, which it never saw, and on the
lines it trained on (every line of train took 3 of CI's 30 minutes for no more cover).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from keras_lm.data.readers import read_labelled
from keras_lm.data.readers import read_parallel
from keras_lm.data.readers import read_text
from keras_lm.tokenizers import TokenizerConfig
from keras_lm.tokenizers import train_tokenizer
from keras_lm.tokenizers.training import sample_texts

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]

KINDS = ("char", "byte", "wordpiece", "sentencepiece", "byte_bpe")
CORPORA = ("spa-eng", "tinyshakespeare", "sst2")
TRAIN_LINES = 8_000
VOCAB = 2000


@functools.lru_cache(maxsize=3)
def corpus_lines(
    data_dir: Path, corpus: str
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(where, text, split) of every line of train then valid; `where` is file:line [side]."""
    rows = []
    for split in ("train", "valid"):
        if corpus == "spa-eng":
            path = data_dir / corpus / f"{split}.txt"
            for r in read_parallel(path):
                rows += [
                    (f"{path}:{r.line} [en]", r.source, split),
                    (f"{path}:{r.line} [es]", r.target, split),
                ]
        elif corpus == "tinyshakespeare":
            path = data_dir / corpus / f"{split}.txt"
            rows += [(f"{path}:{r.line}", r.text, split) for r in read_text(path)]
        else:
            path = data_dir / corpus / f"{split}.tsv"
            rows += [(f"{path}:{r.line}", r.text, split) for r in read_labelled(path)]
    where, texts, splits = zip(*rows, strict=True)
    return where, texts, splits


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("corpus", CORPORA)
def test_pure_and_tf_twins_agree_on_every_line(data_dir, corpus, kind, twins):
    where, texts, splits = corpus_lines(data_dir, corpus)
    train = [t for t, s in zip(texts, splits, strict=True) if s == "train"]
    config = TokenizerConfig(
        kind=kind,
        vocab_size=VOCAB if kind in ("wordpiece", "sentencepiece", "byte_bpe") else None,
        max_train_lines=TRAIN_LINES,
    )
    tokenizer = train_tokenizer(train, config)
    sample = set(sample_texts(train, TRAIN_LINES, config.seed))
    rows = [
        i for i, (t, s) in enumerate(zip(texts, splits, strict=True)) if s == "valid" or t in sample
    ]
    texts, where = [texts[i] for i in rows], [where[i] for i in rows]

    pure_ids = tokenizer.encode_batch(texts)
    tf_ids = twins.tokenize(tokenizer, texts)
    report = twins.mismatches(texts, pure_ids, tf_ids, where)
    assert not report, f"{corpus}/{kind}: token ids differ between the twins\n{report}"

    pure_text = tokenizer.decode_batch(pure_ids)
    tf_text = twins.detokenize(tokenizer, pure_ids)
    report = twins.mismatches(texts, pure_text, tf_text, where)
    assert not report, f"{corpus}/{kind}: decoded strings differ between the twins\n{report}"

    if kind in ("byte", "sentencepiece", "byte_bpe"):
        report = twins.mismatches(texts, pure_text, list(texts), where)
        assert not report, f"{corpus}/{kind}: decode(encode(x)) != x\n{report}"
    if kind == "char":
        # On its training sample (and any line made of its characters) char is lossless.
        known = set(tokenizer.vocabulary())
        rows = [i for i, t in enumerate(texts) if t in sample or set(t) <= known]
        assert len(rows) >= min(TRAIN_LINES, len(train)) // 2
        report = twins.mismatches(
            [texts[i] for i in rows],
            [pure_text[i] for i in rows],
            [texts[i] for i in rows],
            [where[i] for i in rows],
        )
        assert not report, (
            f"{corpus}/char: decode(encode(x)) != x on training-corpus lines\n{report}"
        )
