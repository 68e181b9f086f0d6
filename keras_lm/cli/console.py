"""Where the CLI writes: results to stdout, progress and errors to stderr (so stdout can be piped).

Long commands report through a `StageLog`: one line per finished stage with its time, and,
on a terminal, a live line (spinner, or a bar when the stage knows its total) while it runs.

Example:
>>> import io
>>> sink = io.StringIO()
>>> times = iter([0.0, 1.5, 1.5, 4.0]).__next__  # a stage starts, then ends, then the next
>>> with StageLog(total=2, console=Console(file=sink, width=80), clock=times) as stages:
...     stages("data")
...     stages("train lm", 5, 10)  # a bar: 5 of 10 steps
>>> print(sink.getvalue(), end="")
[1/2] data ... done in 1.5 s
[2/2] train lm ... done in 2.5 s
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn
from rich.progress import Progress
from rich.progress import SpinnerColumn
from rich.progress import TaskID
from rich.progress import TaskProgressColumn
from rich.progress import TextColumn
from rich.progress import TimeElapsedColumn
from rich.text import Text


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


class StageLog:
    """The `progress` callback of the demo and the benchmarks: `[3/7] STAGE ... done in 41.2 s`.

    `stages(name)` starts stage `name` and ends the one before it, printing that one's line;
    `stages(name, done, total)` moves the stage's bar (starting the stage if it is new).
    Leaving the `with` block ends the last stage, as `failed after ...` on an exception.
    The lines go to stderr; the live line is drawn only on a terminal.

    Args:
        total: int | None. How many stages there will be (numbers the lines `[i/total]`).
        console: Console | None. Where to write (default: stderr).
        clock: callable. Seconds, for the times (default `time.perf_counter`).
    """

    def __init__(
        self,
        total: int | None = None,
        console: Console | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.total, self.clock = total, clock
        self.console = console or err_console()
        self.count = 0
        self.stage: str | None = None
        self.started = 0.0
        self._task: TaskID | None = None
        self._live = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )

    def __enter__(self) -> StageLog:
        if self.console.is_terminal:  # elsewhere (a pipe, a log file) the lines alone
            self._live.start()
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            self._end("failed after" if kind is not None else "done in")
        finally:
            if self._live.live.is_started:
                self._live.stop()

    def __call__(self, stage: str, done: int | None = None, total: int | None = None) -> None:
        if stage != self.stage:
            self._end("done in")
            self.count += 1
            self.stage, self.started = stage, self.clock()
            self._task = self._live.add_task(self.label(stage), total=total)
        if done is not None:
            self._live.update(self._task, completed=done, total=total)

    def label(self, stage: str) -> str:
        """`[i/total] stage` (`stage` alone when the total is unknown)."""
        return f"[{self.count}/{self.total}] {stage}" if self.total else stage

    def _end(self, verb: str) -> None:
        if self.stage is None:
            return
        seconds = self.clock() - self.started
        self._live.remove_task(self._task)
        self.console.print(Text(f"{self.label(self.stage)} ... {verb} {seconds:.1f} s"))
        self.stage = self._task = None
