"""`keras-lm tokenizer train|encode`: train a tokenizer on a corpus; look at what it does to a text."""

from __future__ import annotations

import json
from pathlib import Path

from keras_lm.cli.console import err_console
from keras_lm.cli.console import out_console
from keras_lm.cli.data import add_source_arguments
from keras_lm.cli.data import open_source


def register(commands) -> None:
    group = commands.add_parser("tokenizer", help="train and inspect tokenizers")
    sub = group.add_subparsers(dest="tokenizer_command", metavar="ACTION", required=True)

    train = sub.add_parser("train", help="train a tokenizer on a corpus's train split and save it")
    add_source_arguments(train)
    train.add_argument(
        "--kind",
        choices=["char", "byte", "wordpiece", "sentencepiece", "byte_bpe", "bert_wordpiece"],
        default="wordpiece",
    )
    train.add_argument(
        "--vocab-size", type=int, default=None, help="target vocabulary size (subword kinds)"
    )
    train.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="any TokenizerConfig field"
    )
    train.add_argument("--out", required=True, help="directory to save the tokenizer into")
    train.set_defaults(run=run_train)

    encode = sub.add_parser("encode", help="print the ids and tokens of a text")
    encode.add_argument("tokenizer_dir", metavar="TOKENIZER_DIR")
    encode.add_argument("text")
    encode.add_argument("--json", action="store_true", help="print JSON instead of a table")
    encode.set_defaults(run=run_encode)


def run_train(args) -> int:
    from keras_lm.tokenizers import TokenizerConfig
    from keras_lm.tokenizers import train_tokenizer

    ds = open_source(args)
    config = TokenizerConfig(kind=args.kind)
    if args.vocab_size is not None:
        config = config.with_overrides([f"vocab_size={args.vocab_size}"])
    config = config.with_overrides(args.set)
    with err_console().status(f"training a {config.kind} tokenizer on {ds.name}/train"):
        tokenizer = train_tokenizer(ds["train"].texts(), config)
    tokenizer.save(args.out)
    out_console().print(
        f"{config.kind} tokenizer, {tokenizer.vocab_size} ids, saved to {Path(args.out)}"
    )
    return 0


def run_encode(args) -> int:
    from rich.table import Table

    from keras_lm.tokenizers import load_tokenizer

    tokenizer = load_tokenizer(args.tokenizer_dir)
    ids = tokenizer.encode(args.text)
    tokens = [tokenizer.id_to_token(i) for i in ids]
    if args.json:
        out_console().print_json(
            json.dumps({"ids": ids, "tokens": tokens, "decoded": tokenizer.decode(ids)})
        )
        return 0
    table = Table("position", "id", "token")
    for position, (i, token) in enumerate(zip(ids, tokens, strict=True)):
        table.add_row(str(position), str(i), repr(token))
    out_console().print(table)
    out_console().print(f"decoded: {tokenizer.decode(ids)!r}")
    return 0
