"""argparse `type=` callables shared by the subcommands.

>>> positive_int("3")
3
>>> seed_list("1337,1,2")
[1337, 1, 2]
"""

from __future__ import annotations

import argparse


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
