"""`benchmarks/attention_kernels.py`: both kernels compute the same attention, and GQA writes in place."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks.attention_kernels import Case
from benchmarks.attention_kernels import full_runner
from benchmarks.attention_kernels import gqa_runner
from benchmarks.attention_kernels import main
from benchmarks.attention_kernels import reference


def test_both_kernels_are_numpys_attention_and_gqa_writes_the_new_key_into_the_cache():
    case = Case.random(
        np.random.default_rng(1), batch=3, heads=2, head_dim=8, slots=16, filled=(0, 12)
    )
    shared = dataclasses.replace(
        case, past_key=case.past_key.copy(), past_value=case.past_value.copy()
    )
    expected = reference(case)
    np.testing.assert_allclose(full_runner(case, 1)(), expected, atol=1e-5)
    np.testing.assert_allclose(gqa_runner(shared, 1)(), expected, atol=1e-5)
    for b, slot in enumerate(case.lengths):  # the new key/value in the row's slot, the rest kept
        np.testing.assert_array_equal(shared.past_key[b, :, slot], case.k[b, 0].reshape(2, 8))
        np.testing.assert_array_equal(shared.past_value[b, :, slot], case.v[b, 0].reshape(2, 8))
        np.testing.assert_array_equal(shared.past_key[b, :, :slot], case.past_key[b, :, :slot])


def test_the_reference_ignores_slots_past_a_rows_length():
    case = Case.random(
        np.random.default_rng(2), batch=2, heads=1, head_dim=4, slots=8, filled=(3, 3)
    )
    before = reference(case)
    case.past_key[:, :, 4:] = 1e3  # past the 3 filled slots and the new one
    np.testing.assert_array_equal(reference(case), before)


def test_main_reports_both_times_and_the_match(capsys):
    result = main(
        [
            "--batch",
            "2",
            "--heads",
            "2",
            "--head-dim",
            "8",
            "--slots",
            "16",
            "--filled",
            "1",
            "9",
            "--calls",
            "3",
        ]
    )
    assert result["full_us"] > 0 and result["gqa_us"] > 0
    assert max(result["max_abs_diff"].values()) < 1e-4
    assert "Command: python -m benchmarks.attention_kernels --batch 2" in capsys.readouterr().out


def test_a_fill_past_the_cache_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--slots", "16", "--filled", "6", "80"])
    assert "expected 0 <= low <= high < --slots" in capsys.readouterr().err
