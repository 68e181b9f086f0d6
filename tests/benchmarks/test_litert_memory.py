"""The LiteRT memory benchmark: both APIs run every signature of a real file, each in its own process."""

from __future__ import annotations

import pytest

pytest.importorskip("ai_edge_litert")

from benchmarks.litert_memory import APIS
from benchmarks.litert_memory import measure
from benchmarks.litert_memory import report


@pytest.mark.slow
def test_both_apis_run_every_signature_in_a_fresh_process(tiny_bundle):
    from ai_edge_litert.interpreter import Interpreter

    # The session's int8 bundle (test_bundle, test_mobile, the runtime tests share it): its float32
    # file is the one a bundle without --quantize holds, and no second export is made for this test.
    path = tiny_bundle("tiny-transformer-lm", ("int8",)) / "tflite" / "model.float32.tflite"
    signatures = sorted(Interpreter(model_path=str(path)).get_signature_list())
    rows = measure(path)
    assert [row["api"] for row in rows] == list(APIS)
    for row in rows:
        assert sorted(row["signatures"]) == signatures
        assert 10 < row["peak_rss_mb"] < 2000  # a process's own VmHWM, not the test runner's
    text = report(path, rows)
    assert f"`python -m benchmarks.litert_memory {path}`" in text
    assert text.count("| compiled_model_weight_cache |") == 1
