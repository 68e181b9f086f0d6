"""Encode throughput of each tokenizer: the TF-free twin against the TensorFlow graph twin.

The TF-free side runs `encode_batch` over all texts (word caches cleared before each
run); the TensorFlow side runs `to_tf().tokenize` on batches of 1024 texts (built as
tensors beforehand) and forces each ragged result to NumPy. After `burn_in` untimed runs
(tracing, warm-up), each side is timed `repeats` times and the median is reported.

Example:
>>> from keras_lm.tokenizers import ByteTokenizer
>>> rows = benchmark_tokenizers(["to be"] * 8, {"bytes": ByteTokenizer()}, repeats=1, burn_in=0)
>>> [(r["side"], r["tokens"], r["lines"]) for r in rows]
[('pure', 40, 8), ('tf', 40, 8)]
>>> print(format_markdown(rows).splitlines()[0])
| tokenizer | kind | lines | tokens | TF-free tokens/s | TF tokens/s | TF-free lines/s | TF lines/s | TF-free / TF |
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from keras_lm.tokenizers import Tokenizer

BATCH_SIZE = 1024


def benchmark_tokenizers(
    texts: Sequence[str],
    tokenizers: dict[str, Tokenizer],
    repeats: int = 3,
    burn_in: int = 1,
    batch_size: int = BATCH_SIZE,
) -> list[dict[str, Any]]:
    """Rows {name, kind, side ("pure" | "tf"), lines, tokens, seconds, tokens_per_s, lines_per_s}."""
    import tensorflow as tf

    texts = list(texts)
    batches = [tf.constant(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    rows = []
    for name, tokenizer in tokenizers.items():
        seconds, tokens = _timed(lambda tok=tokenizer: _encode_pure(tok, texts), repeats, burn_in)
        rows.append(_row(name, tokenizer.kind, "pure", len(texts), tokens, seconds))
        graph = tokenizer.to_tf()
        seconds, tokens = _timed(lambda g=graph: _encode_graph(g, batches), repeats, burn_in)
        rows.append(_row(name, tokenizer.kind, "tf", len(texts), tokens, seconds))
    return rows


def format_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """One table row per tokenizer: both sides' throughput and the TF-free / TF ratio."""
    lines = [
        "| tokenizer | kind | lines | tokens | TF-free tokens/s | TF tokens/s | TF-free lines/s | TF lines/s "
        "| TF-free / TF |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_name: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(row["name"], {})[row["side"]] = row
    for name, sides in by_name.items():
        pure, graph = sides.get("pure"), sides.get("tf")
        first = pure or graph
        ratio = f"{pure['tokens_per_s'] / graph['tokens_per_s']:.2f}x" if pure and graph else "-"
        lines.append(
            f"| {name} | {first['kind']} | {first['lines']:,} | {first['tokens']:,} | {_rate(pure, 'tokens_per_s')} "
            f"| {_rate(graph, 'tokens_per_s')} | {_rate(pure, 'lines_per_s')} | {_rate(graph, 'lines_per_s')} "
            f"| {ratio} |"
        )
    return "\n".join(lines)


def _encode_pure(tokenizer: Tokenizer, texts: list[str]) -> int:
    tokenizer.clear_cache()
    return sum(len(ids) for ids in tokenizer.encode_batch(texts))


def _encode_graph(graph, batches) -> int:
    tokens = 0
    for batch in batches:
        tokens += int(graph.tokenize(batch).flat_values.numpy().shape[0])
    return tokens


def _timed(run: Callable[[], int], repeats: int, burn_in: int) -> tuple[float, int]:
    """Median seconds of `repeats` timed runs after `burn_in` untimed ones, and the last result."""
    for _ in range(burn_in):
        run()
    times, result = [], 0
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _row(
    name: str, kind: str, side: str, lines: int, tokens: int, seconds: float
) -> dict[str, Any]:
    seconds = max(seconds, 1e-9)
    return {
        "name": name,
        "kind": kind,
        "side": side,
        "lines": lines,
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "lines_per_s": lines / seconds,
    }


def _rate(row: dict[str, Any] | None, key: str) -> str:
    return f"{row[key]:,.0f}" if row else "-"
