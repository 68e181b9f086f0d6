"""The tokenizer benchmark: row structure, and both twins count the same tokens."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")

from keras_lm.bench.tokenizer_speed import benchmark_tokenizers
from keras_lm.bench.tokenizer_speed import format_markdown

KINDS = ("char", "byte", "wordpiece", "sentencepiece")
KEYS = {"name", "kind", "side", "lines", "tokens", "seconds", "tokens_per_s", "lines_per_s"}


def test_benchmark_rows_and_token_counts(tiny_lines, tiny_tokenizer):
    tokenizers = {f"tiny-{kind}": tiny_tokenizer(kind) for kind in KINDS}
    rows = benchmark_tokenizers(tiny_lines, tokenizers, repeats=2, burn_in=1)
    assert [(r["name"], r["side"]) for r in rows] == [
        (n, s) for n in tokenizers for s in ("pure", "tf")
    ]
    for row in rows:
        assert set(row) == KEYS
        assert row["lines"] == len(tiny_lines) and row["seconds"] > 0 and row["tokens_per_s"] > 0
    for pure, graph in zip(rows[::2], rows[1::2], strict=True):
        expected = sum(len(ids) for ids in tokenizers[pure["name"]].encode_batch(tiny_lines))
        assert pure["tokens"] == graph["tokens"] == expected, pure["name"]
    table = format_markdown(rows)
    assert len(table.splitlines()) == 2 + len(KINDS)
    assert "| tiny-wordpiece | wordpiece |" in table and table.count("x |") == len(KINDS)
