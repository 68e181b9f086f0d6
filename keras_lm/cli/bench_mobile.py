"""`keras-lm bench mobile BUNDLE`: the mobile-readiness report of a bundle's `.tflite` files.

Registered by `keras_lm.cli.bench.register` through `register_mobile(sub)`. The report
itself is `keras_lm.bench.mobile` (TensorFlow-free).

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser(prog="keras-lm bench")
>>> register_mobile(parser.add_subparsers(dest="bench_command"))
>>> args = parser.parse_args(["mobile", "export/tiny", "--threads", "1,4"])
>>> parse_threads(args.threads), args.repeats, default_out(args.bundle)
((1, 4), 20, PosixPath('reports/bench/tiny'))
"""

from __future__ import annotations

import argparse
from pathlib import Path

from keras_lm.bench.mobile import write_mobile_report
from keras_lm.cli.argtypes import command_line
from keras_lm.cli.console import StageLog
from keras_lm.cli.console import err_console
from keras_lm.cli.console import out_console
from keras_lm.errors import ConfigError


def register_mobile(sub) -> None:
    """Add the `mobile` parser to the `keras-lm bench` subparsers `sub`."""
    mobile = sub.add_parser(
        "mobile",
        help="mobile readiness of a bundle's .tflite files: size, ops, shapes, memory, speed",
    )
    mobile.add_argument("bundle", metavar="BUNDLE", help="an export bundle folder (export/<name>)")
    mobile.add_argument(
        "--threads", default="1,2", help="comma-separated LiteRT (XNNPACK) thread counts"
    )
    mobile.add_argument(
        "--repeats", type=int, default=20, help="timed calls per signature and thread count"
    )
    mobile.add_argument(
        "--out",
        default=None,
        help="folder for mobile.json and mobile.md (default: reports/bench/<bundle folder name>)",
    )
    mobile.set_defaults(run=run_mobile)


def parse_threads(text: str) -> tuple[int, ...]:
    """`"1,2"` -> `(1, 2)`; a `ConfigError` for anything but positive integers."""
    try:
        threads = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        threads = ()
    if not threads or min(threads) < 1:
        raise ConfigError(f"--threads: expected comma-separated integers >= 1, got {text!r}")
    return threads


def default_out(bundle: str) -> Path:
    """`reports/bench/<bundle folder name>`."""
    return Path("reports/bench") / Path(bundle).resolve().name


def run_mobile(args: argparse.Namespace) -> int:
    threads = parse_threads(args.threads)
    out = Path(args.out) if args.out else default_out(args.bundle)
    with StageLog() as stages:
        stages(f"mobile readiness of {args.bundle}")
        text = write_mobile_report(
            args.bundle, out, command_line(), threads=threads, repeats=args.repeats
        )
    out_console().print(text, markup=False, soft_wrap=True)  # Markdown lines unwrapped
    err_console().print(f"written to {out / 'mobile.md'} and mobile.json")
    return 0
