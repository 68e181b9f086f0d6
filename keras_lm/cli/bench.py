"""`keras-lm bench tokenizers`: measured speed, printed with the command that produced it."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from keras_lm.cli.console import err_console
from keras_lm.cli.console import out_console
from keras_lm.cli.data import add_source_arguments
from keras_lm.cli.data import open_source
from keras_lm.io import write_text_atomic

KINDS = ("char", "byte", "wordpiece", "sentencepiece")


def register(commands) -> None:
    group = commands.add_parser(
        "bench", help="benchmarks (results printed with the command that made them)"
    )
    sub = group.add_subparsers(dest="bench_command", metavar="WHAT", required=True)

    tok = sub.add_parser(
        "tokenizers", help="tokens/s of each tokenizer, TensorFlow graph vs TensorFlow-free"
    )
    add_source_arguments(tok)
    tok.add_argument(
        "--kinds", default=",".join(KINDS), help=f"comma-separated, from {', '.join(KINDS)}"
    )
    tok.add_argument(
        "--vocab-size", type=int, default=8000, help="vocabulary of the subword tokenizers"
    )
    tok.add_argument("--lines", type=int, default=0, help="benchmark on the first N texts (0: all)")
    tok.add_argument("--repeats", type=int, default=3)
    tok.add_argument(
        "--out", default="reports/bench", help="folder for tokenizers.json and tokenizers.md"
    )
    tok.set_defaults(run=run_tokenizers)


def command_line() -> str:
    return "keras-lm " + shlex.join(sys.argv[1:]) if sys.argv else "keras-lm"


def run_tokenizers(args) -> int:
    from keras_lm.bench.tokenizer_speed import benchmark_tokenizers
    from keras_lm.bench.tokenizer_speed import format_markdown
    from keras_lm.tokenizers import TokenizerConfig
    from keras_lm.tokenizers import train_tokenizer

    ds = open_source(args)
    texts = ds["train"].texts()
    texts = texts[: args.lines] if args.lines else texts
    tokenizers = {}
    for kind in args.kinds.split(","):
        with err_console().status(f"training {kind} on {ds.name}/train"):
            config = TokenizerConfig(kind=kind)
            if kind in ("wordpiece", "sentencepiece"):
                config = config.with_overrides([f"vocab_size={args.vocab_size}"])
            tokenizers[kind] = train_tokenizer(texts, config)
    with err_console().status("timing"):
        rows = benchmark_tokenizers(texts, tokenizers, repeats=args.repeats)
    command = command_line()
    table = format_markdown(rows)
    header = (
        f"Tokenizer throughput on {ds.name}/train ({len(texts)} texts).\n\nCommand: `{command}`\n\n"
    )
    out = Path(args.out)
    write_text_atomic(out / "tokenizers.md", header + table + "\n")
    write_text_atomic(
        out / "tokenizers.json", json.dumps({"command": command, "rows": rows}, indent=2) + "\n"
    )
    out_console().print(header + table, markup=False)
    err_console().print(f"written to {out / 'tokenizers.md'} and tokenizers.json")
    return 0
