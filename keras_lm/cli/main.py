"""`keras-lm`: the entry point. Exit codes: 0 done, 1 unexpected failure, 2 bad input or usage, 130 interrupted.

Example:
>>> main(["--version"])  # doctest: +ELLIPSIS
keras-lm ...
0
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from rich.text import Text

from keras_lm import __version__
from keras_lm.cli import bench
from keras_lm.cli import data
from keras_lm.cli import demo
from keras_lm.cli import evaluate
from keras_lm.cli import export
from keras_lm.cli import generate
from keras_lm.cli import import_preset
from keras_lm.cli import tokenizer
from keras_lm.cli import train
from keras_lm.cli.bench_bundles import with_bundles_alias
from keras_lm.cli.console import err_console
from keras_lm.errors import KerasLMError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
COMMANDS = (data, tokenizer, train, import_preset, generate, evaluate, export, bench, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-lm",
        description="Train small language models in Keras and ship them to phones and CPU servers.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    argv = with_bundles_alias(list(sys.argv[1:] if argv is None else argv), _bench_commands(parser))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.version:
        print(f"keras-lm {__version__}")
        return EXIT_OK
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        return int(args.run(args) or EXIT_OK)
    except KerasLMError as err:
        err_console().print(Text("error: ", style="bold red") + Text(str(err)), soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err_console().print("interrupted")
        return EXIT_INTERRUPTED


def _bench_commands(parser: argparse.ArgumentParser) -> set[str]:
    """The names of `keras-lm bench`'s subcommands (anything else after `bench` is a bundle)."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    bench_parser = commands.choices["bench"]
    sub = next(a for a in bench_parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def entry() -> None:
    sys.exit(main())
