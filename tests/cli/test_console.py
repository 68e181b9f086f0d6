"""The stage lines of long commands (`keras_lm.cli.console.StageLog`)."""

from __future__ import annotations

import io
import itertools

import pytest
from rich.console import Console

from keras_lm.cli.console import StageLog


def _log(total=None):
    sink = io.StringIO()
    clock = itertools.count(0.0, 0.5).__next__  # each reading half a second after the last
    return StageLog(total, console=Console(file=sink, width=100), clock=clock), sink


def test_a_line_per_stage_with_its_time_and_none_for_the_steps_of_a_bar():
    stages, sink = _log(total=3)
    with stages:
        stages("data")
        for step in range(4):
            stages("train lm", step, 4)
        stages("export lm")
    assert sink.getvalue().splitlines() == [
        "[1/3] data ... done in 0.5 s",
        "[2/3] train lm ... done in 0.5 s",
        "[3/3] export lm ... done in 0.5 s",
    ]


def test_a_failed_stage_says_so_and_an_unknown_total_drops_the_numbers():
    stages, sink = _log()
    with pytest.raises(RuntimeError), stages:
        stages("benchmark")
        raise RuntimeError("boom")
    assert sink.getvalue() == "benchmark ... failed after 0.5 s\n"


def test_brackets_in_a_stage_name_are_text_not_markup():
    stages, sink = _log(total=1)
    with stages:
        stages("[bold]x[/bold]")
    assert sink.getvalue() == "[1/1] [bold]x[/bold] ... done in 0.5 s\n"
