"""The tokenizer benchmark: row structure, and both twins count the same tokens."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")

from benchmarks.tokenizer_speed import TokenizerBenchConfig
from benchmarks.tokenizer_speed import benchmark_tokenizers
from benchmarks.tokenizer_speed import format_markdown
from keras_lm.errors import ConfigError
from keras_lm.tokenizers import TokenizerConfig
from keras_lm.tokenizers import train_tokenizer

KINDS = ("char", "byte", "wordpiece", "sentencepiece")
KEYS = {"name", "kind", "side", "lines", "tokens", "seconds", "tokens_per_s", "lines_per_s"}
SUBWORD_VOCAB = {"wordpiece": 200, "sentencepiece": 400}


def tiny_tokenizer(lines: list[str], kind: str):
    config = TokenizerConfig(kind=kind, vocab_size=SUBWORD_VOCAB.get(kind))
    return train_tokenizer(lines, config)


@pytest.mark.slow
def test_benchmark_rows_and_token_counts(tiny_lines):
    tokenizers = {f"tiny-{kind}": tiny_tokenizer(tiny_lines, kind) for kind in KINDS}
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


def test_an_unknown_kind_is_named():
    with pytest.raises(ConfigError, match=r"kinds: unknown \['bpe'\]"):
        TokenizerBenchConfig(kinds=("char", "bpe"))
