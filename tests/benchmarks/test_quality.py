"""The quality table's budget arithmetic: steps fill the budget and an epoch divides them."""

from __future__ import annotations

import pytest

from benchmarks.quality import MAX_EPOCHS
from benchmarks.quality import TRAIN_SHARE
from benchmarks.quality import fitted_schedule


@pytest.mark.parametrize("seconds", [0.021, 0.038, 0.29, 0.4, 1.7])
@pytest.mark.parametrize("epoch", [250, 500, 1000])
@pytest.mark.parametrize("multiple", [1, 10])
def test_schedule_fills_the_budget_and_epochs_divide_it(seconds, epoch, multiple):
    steps, per_epoch = fitted_schedule(seconds, 30, epoch, multiple)
    budget = 30 * 60 * TRAIN_SHARE
    assert steps * seconds <= budget
    assert (steps + 100) * seconds > budget  # at most one rounding step of 100 is left unused
    assert steps % per_epoch == 0
    assert per_epoch % multiple == 0  # whole executions of loop.steps_per_execution steps
    assert per_epoch >= 0.5 * epoch
    assert steps // per_epoch <= MAX_EPOCHS
    assert per_epoch <= 2 * epoch or steps // per_epoch >= MAX_EPOCHS // 2


def test_a_budget_shorter_than_one_epoch_is_one_short_epoch():
    assert fitted_schedule(2.0, 1, 1000) == (20, 20)


def test_a_short_run_is_whole_executions():
    steps, per_epoch = fitted_schedule(2.0, 1, 1000, multiple=7)
    assert steps == per_epoch and steps % 7 == 0 and steps <= 60 * TRAIN_SHARE / 2.0


def test_the_table_says_what_split_each_row_was_measured_on():
    from benchmarks.quality import format_markdown

    row = {
        "config": "sst2-classifier",
        "family": "encoder_classifier",
        "budget_minutes": 15,
        "steps": 100,
        "train_minutes": 1.0,
        "metric": "accuracy",
        "value": 0.8,
        "target": 0.84,
        "met": False,
        "commands": ["keras-lm train"],
        "split": {
            "method": "sentences_apart",
            "leak": {"rows": 1000, "share_any": 0.0, "share_near_duplicates": 0.0},
        },
    }
    line = format_markdown([row]).splitlines()[-1]
    assert "valid (sentences_apart, 1,000 rows): 0.0% seen in train, 0.0% near duplicates" in line
