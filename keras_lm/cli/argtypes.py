"""argparse helpers shared by the subcommands: `type=` callables, the torch_ref options, the command line.

>>> positive_int("3")
3
>>> seed_list("1337,1,2")
[1337, 1, 2]
>>> comma_list("shakespeare-baby,,shakespeare-small")
('shakespeare-baby', 'shakespeare-small')
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from keras_lm.errors import FieldError
from keras_lm.errors import InputError

# Where a checkout's torch_ref sits, relative to the current directory (as `make bench` runs).
TORCH_REF_BESIDE = "../shared/anchors/torch_ref"
TORCH_PYTHON = ".venv-torchref/bin/python"  # what `make torchref` creates


def positive_int(text: str) -> int:
    """A whole number of at least 1, else argparse's usage error naming the value."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return value


def seed_list(text: str) -> list[int]:
    """Comma-separated whole numbers, each used once; else argparse's usage error naming the value."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(
            f"expected distinct comma-separated whole numbers (1337,1,2), not {text!r}"
        )
    return seeds


def comma_list(text: str) -> tuple[str, ...]:
    """Comma-separated names as a tuple, empty parts dropped."""
    return tuple(part for part in text.split(",") if part)


def int_list(text: str) -> tuple[int, ...]:
    """Comma-separated whole numbers, else argparse's usage error naming the value.

    >>> int_list("64,256")
    (64, 256)
    """
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers, not {text!r}"
        ) from None


def option_error(err: FieldError) -> InputError:
    """A config field out of range, named as the option that set it (`seed` -> `--seed`).

    >>> str(option_error(FieldError("top_p", "a number > 0 and <= 1", 2.0)))
    '--top-p: expected a number > 0 and <= 1, got 2.0'
    """
    return InputError(
        "--" + err.field.replace("_", "-"), f"expected {err.expected}, got {err.value!r}"
    )


def default_torch_ref() -> str | None:
    """`../shared/anchors/torch_ref` when that folder exists from here, else None (no torch rows)."""
    return TORCH_REF_BESIDE if Path(TORCH_REF_BESIDE).is_dir() else None


def add_torch_ref_arguments(parser: argparse.ArgumentParser) -> None:
    """--data-dir, --torch-python, --torch-ref: where tinyshakespeare, the torch venv and torch_ref are."""
    parser.add_argument(
        "--data-dir", help="data directory holding tinyshakespeare (else $KERAS_LM_DATA)"
    )
    parser.add_argument(
        "--torch-python",
        default=TORCH_PYTHON,
        help=f"python of a venv with torch==2.13.0 (make torchref; default {TORCH_PYTHON})",
    )
    parser.add_argument(
        "--torch-ref",
        default=default_torch_ref(),
        help=f"torch_ref folder (default {TORCH_REF_BESIDE} when it exists from here)",
    )


def command_line() -> str:
    """The command as the user typed it, recorded beside every benchmark's numbers."""
    return "keras-lm " + shlex.join(sys.argv[1:]) if sys.argv else "keras-lm"
