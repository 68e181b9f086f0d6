"""`keras-lm`: the entry point. Exit codes: 0 done, 1 unexpected failure, 2 bad input or usage, 130 interrupted.

Bad input is one line on stderr and exit 2, never a traceback: keras_lm's own errors, and
every `OSError` (a folder that cannot be written, a path that is a file) and
`UnicodeDecodeError`, named by its path. `--verbose` also prints the traceback of those two,
keras_lm's debug messages, and the log lines of TensorFlow and absl (hidden without it:
`keras_lm.cli.quiet`).

Example:
>>> main(["--version"])  # doctest: +ELLIPSIS
keras-lm ...
0
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
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
from keras_lm.cli import serve
from keras_lm.cli import tokenizer
from keras_lm.cli import train
from keras_lm.cli.bench_bundles import with_bundles_alias
from keras_lm.cli.console import err_console
from keras_lm.cli.quiet import quiet_native_logs
from keras_lm.errors import KerasLMError
from keras_lm.io import final_name

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
COMMANDS = (data, tokenizer, train, import_preset, generate, evaluate, export, bench, serve, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-lm",
        description="Train small language models in Keras and ship them to phones and CPU servers.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log debug messages and TensorFlow's own log lines; print tracebacks",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = with_bundles_alias(list(sys.argv[1:] if argv is None else argv), _bench_commands(parser))
    try:
        args = parse(parser, argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.version:
        print(f"keras-lm {__version__}")
        return EXIT_OK
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    handler = CurrentStderrHandler()
    if not args.verbose:
        quiet_native_logs()  # before anything imports TensorFlow (parsing does not)
        handler.addFilter(ours_or_error)  # onnxruntime's quantizer warns on the root logger
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, handlers=[handler]
    )
    try:
        return int(args.run(args) or EXIT_OK)
    except KerasLMError as err:
        return _error(str(err))
    except UnicodeDecodeError as err:
        return _error(decode_error_message(err), args.verbose)
    except OSError as err:
        return _error(os_error_message(err), args.verbose)
    except KeyboardInterrupt:
        err_console().print("interrupted")
        return EXIT_INTERRUPTED


class CurrentStderrHandler(logging.StreamHandler):
    """Log records to whatever `sys.stderr` is when they are written: above a live progress line."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ sets it; sys.stderr is looked up
        pass


def ours_or_error(record: logging.LogRecord) -> bool:
    """Without `--verbose`, other libraries' Python log records show from ERROR up only.

    >>> ours_or_error(logging.makeLogRecord({"name": "root", "levelno": logging.WARNING}))
    False
    >>> ours_or_error(logging.makeLogRecord({"name": "keras_lm.data", "levelno": logging.WARNING}))
    True
    """
    return record.name.split(".")[0] == "keras_lm" or record.levelno >= logging.ERROR


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """`parser.parse_args(argv)`, where texts may also follow options.

    argparse fills a command's `TEXTS...` from the first run of positionals only, so in
    `translate RUN --strategy beam "text"` the text comes back unrecognized: it joins the
    command's texts (in order). Anything else unrecognized is a usage error, as before.
    """
    args, extra = parser.parse_known_args(argv)
    texts = getattr(args, "texts", None)
    if extra and isinstance(texts, list) and not any(a.startswith("-") for a in extra):
        texts += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _error(message: str, traceback_too: bool = False) -> int:
    """Print `error: message` on stderr as one line (after the traceback, if asked); exit code 2."""
    if traceback_too:
        traceback.print_exc(file=sys.stderr)
    err_console().print(Text("error: ", style="bold red") + Text(message), soft_wrap=True)
    return EXIT_USAGE


def os_error_message(err: OSError) -> str:
    """`PATH: what went wrong`, a temporary sibling named by the path it was written for.

    >>> os_error_message(PermissionError(13, "Permission denied", "out/.lm.pid7.abcd1234.tmp"))
    'out/lm: Permission denied'
    >>> os_error_message(FileExistsError(17, "File exists", "a.txt"))
    'a.txt: File exists'
    """
    what = err.strerror or str(err) or type(err).__name__
    if err.filename is None:
        return what
    where = final_name(err.filename)
    if err.filename2 is not None:
        where += f" -> {final_name(err.filename2)}"
    return f"{where}: {what}"


def decode_error_message(err: UnicodeDecodeError) -> str:
    """A file that is not text, when the code that read it did not name it.

    >>> print(decode_error_message(UnicodeDecodeError("utf-8", b"ab\\xff", 2, 3, "invalid start byte")))
    input is not valid utf-8 (byte 2, 0xff: invalid start byte); `keras-lm --verbose ...` shows where
    """
    byte = err.object[err.start : err.start + 1].hex()
    return (
        f"input is not valid {err.encoding} (byte {err.start}, 0x{byte}: {err.reason}); "
        "`keras-lm --verbose ...` shows where"
    )


def _bench_commands(parser: argparse.ArgumentParser) -> set[str]:
    """The names of `keras-lm bench`'s subcommands (anything else after `bench` is a bundle)."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    bench_parser = commands.choices["bench"]
    sub = next(a for a in bench_parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def entry() -> None:
    sys.exit(main())
