"""Fixtures of the tokenizer tests: tiny tokenizers trained once, and twin comparisons."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from collections.abc import Sequence

import numpy as np
import pytest

from keras_lm.tokenizers import Tokenizer
from keras_lm.tokenizers import TokenizerConfig
from keras_lm.tokenizers import train_tokenizer

KINDS = ("char", "byte", "wordpiece", "sentencepiece", "byte_bpe")
SUBWORD_VOCAB = {"wordpiece": 200, "sentencepiece": 400, "byte_bpe": 300}
_TRAINED: dict[tuple, Tokenizer] = {}


@pytest.fixture
def tiny_tokenizer(tiny_lines) -> Callable[..., Tokenizer]:
    """`get(kind, **config)`: a tokenizer trained on the tiny lines (trained once per config)."""

    def get(kind: str, **config) -> Tokenizer:
        key = (kind, tuple(sorted(config.items())))
        if key not in _TRAINED:
            config.setdefault("vocab_size", SUBWORD_VOCAB.get(kind))
            _TRAINED[key] = train_tokenizer(tiny_lines, TokenizerConfig(kind=kind, **config))
        return _TRAINED[key]

    return get


def mismatches(
    texts: Sequence[str], left: Sequence, right: Sequence, where: Sequence[str] | None = None
) -> str:
    """'' when equal row by row, else a report of the first few differing rows."""
    assert len(left) == len(right) == len(texts)
    bad = [i for i, (a, b) in enumerate(zip(left, right, strict=True)) if a != b]
    if not bad:
        return ""
    lines = [f"{len(bad)} of {len(texts)} rows differ; first ones:"]
    for i in bad[:5]:
        lines.append(
            f"  {where[i] if where else f'row {i}'}: text={texts[i]!r}\n    pure={left[i]!r}\n    tf  ={right[i]!r}"
        )
    return "\n".join(lines)


def tf_tokenize(tokenizer: Tokenizer, texts: Sequence[str], batch: int = 8192) -> list[list[int]]:
    """The graph twin's ids for `texts`, tokenized in large batches."""
    import tensorflow as tf

    graph, out = tokenizer.to_tf(), []
    for i in range(0, len(texts), batch):
        out += graph.tokenize(tf.constant(list(texts[i : i + batch]))).to_list()
    return out


def tf_detokenize(
    tokenizer: Tokenizer, ids: Sequence[Sequence[int]], batch: int = 8192
) -> list[str]:
    """The graph twin's strings for `ids`, in large batches."""
    import tensorflow as tf

    graph, out = tokenizer.to_tf(), []
    for i in range(0, len(ids), batch):
        rows = ids[i : i + batch]
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int32)
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        chunk = tf.RaggedTensor.from_row_lengths(flat, lengths)
        out += [s.decode("utf-8") for s in graph.detokenize(chunk).numpy().tolist()]
    return out


@pytest.fixture
def twins():
    """The helpers above, for test modules (they cannot import this conftest)."""
    return type(
        "Twins",
        (),
        {
            "mismatches": staticmethod(mismatches),
            "tokenize": staticmethod(tf_tokenize),
            "detokenize": staticmethod(tf_detokenize),
        },
    )
