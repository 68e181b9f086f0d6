"""Where the CLI writes: results to stdout, progress and errors to stderr (so stdout can be piped)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn
from rich.progress import Progress
from rich.progress import TextColumn
from rich.progress import TimeElapsedColumn


def out_console() -> Console:
    """Results. Piped or captured output gets 120 columns, not rich's default 80."""
    width = None if sys.stdout.isatty() else 120
    return Console(file=sys.stdout, soft_wrap=False, highlight=False, width=width)


def err_console() -> Console:
    return Console(file=sys.stderr, highlight=False)


def progress() -> Progress:
    """A progress display on stderr; it draws nothing when stderr is not a terminal."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
    )
