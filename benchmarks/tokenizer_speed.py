"""Encode throughput of each tokenizer: the TF-free twin against the TensorFlow graph twin.

The TF-free side runs `encode_batch` over all texts (word caches cleared before each
run); the TensorFlow side runs `to_tf().tokenize` on batches of 1024 texts (built as
tensors beforehand) and forces each ragged result to NumPy. After `burn_in` untimed runs
(tracing, warm-up), each side is timed `repeats` times and the median is reported.
`run_tokenizers(TokenizerBenchConfig(...))` is `keras-lm bench tokenizers`: each kind
trained on the data set's train split, then timed.

Example:
>>> from keras_lm.tokenizers import ByteTokenizer
>>> rows = benchmark_tokenizers(["to be"] * 8, {"bytes": ByteTokenizer()}, repeats=1, burn_in=0)
>>> [(r["side"], r["tokens"], r["lines"]) for r in rows]
[('pure', 40, 8), ('tf', 40, 8)]
>>> print(format_markdown(rows).splitlines()[0])
| tokenizer | kind | lines | tokens | TF-free tokens/s | TF tokens/s | TF-free lines/s | TF lines/s | TF-free / TF |
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keras_lm.config import Config
from keras_lm.data.datasets import load
from keras_lm.errors import ConfigError
from keras_lm.io import write_text_atomic
from keras_lm.tokenizers import Tokenizer
from keras_lm.tokenizers import TokenizerConfig
from keras_lm.tokenizers import train_tokenizer

BATCH_SIZE = 1024
KINDS = ("char", "byte", "wordpiece", "sentencepiece")


@dataclasses.dataclass(frozen=True)
class TokenizerBenchConfig(Config):
    """What `run_tokenizers` times; the fields of `keras-lm bench tokenizers`' options.

    source: a data set name or a corpus file; its train split is tokenized.
    data_dir / download / format / labels / encoding_errors: how the source is read,
        as `keras_lm.data.datasets.load` takes them.
    kinds: the tokenizer kinds trained and timed.
    vocab_size: vocabulary of the subword kinds (wordpiece, sentencepiece).
    lines: time the first N texts only (0: all).
    repeats: timed runs per side (the median is reported).
    out: folder for tokenizers.json and tokenizers.md.
    """

    source: str = "tinyshakespeare"
    data_dir: str | None = None
    download: bool = True
    format: str | None = None
    labels: tuple[str, ...] = ()
    encoding_errors: str = "strict"
    kinds: tuple[str, ...] = KINDS
    vocab_size: int = 8000
    lines: int = 0
    repeats: int = 3
    out: str = "reports/bench"

    def __post_init__(self):
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown:
            raise ConfigError(f"kinds: unknown {unknown}; expected some of {list(KINDS)}")


def run_tokenizers(
    config: TokenizerBenchConfig,
    command: str = "",
    progress: Callable[[str], None] | None = None,
) -> str:
    """Train each kind, time both twins; write `tokenizers.json` and `.md` under `config.out`.

    Returns the Markdown (a header naming the data and the command, then the table).

    >>> print(run_tokenizers(TokenizerBenchConfig(kinds=("char",), lines=1000)))  # doctest: +SKIP
    """
    options = {"labels": config.labels} if config.labels else {}
    ds = load(
        config.source,
        data_dir=config.data_dir,
        download=config.download,
        errors=config.encoding_errors,
        kind=config.format,
        **options,
    )
    texts = ds["train"].texts()
    texts = texts[: config.lines] if config.lines else texts
    tokenizers = {}
    for kind in config.kinds:
        if progress:
            progress(f"training {kind} on {ds.name}/train")
        tokenizer_config = TokenizerConfig(kind=kind)
        if kind in ("wordpiece", "sentencepiece"):
            tokenizer_config = tokenizer_config.with_overrides([f"vocab_size={config.vocab_size}"])
        tokenizers[kind] = train_tokenizer(texts, tokenizer_config)
    if progress:
        progress("timing")
    rows = benchmark_tokenizers(texts, tokenizers, repeats=config.repeats)
    header = (
        f"Tokenizer throughput on {ds.name}/train ({len(texts)} texts).\n\nCommand: `{command}`\n\n"
    )
    text = header + format_markdown(rows)
    out = Path(config.out)
    write_text_atomic(out / "tokenizers.md", text + "\n")
    report = {"command": command, "rows": rows}
    write_text_atomic(out / "tokenizers.json", json.dumps(report, indent=2) + "\n")
    return text


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
