"""The load test's pieces that run without locust: the graph-only ceiling and the report."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from benchmarks.serve_load import ServeLoadConfig
from benchmarks.serve_load import graph_ceiling
from benchmarks.serve_load import markdown


@pytest.mark.parametrize("name", ["tiny-transformer-lm", "tiny-transformer-seq2seq"])
def test_graph_ceiling_times_every_batch_and_the_report_sets_it_against_batch_one(
    tiny_bundle, name
):
    rates = graph_ceiling(
        ServeLoadConfig(bundle=str(tiny_bundle(name))), (1, 3), steps=4, repeats=1
    )
    assert sorted(rates) == [1, 3] and all(v > 0 for v in rates.values())
    report = {"command": "c", "bundle": "b", "stream": True, "threads": 1, "soak": None}
    report |= {"modes": {64: [], 1: []}, "graph_tokens_per_s": {1: 100.0, 16: 320.0}}
    assert "batch 16 320 (3.20x)" in markdown(report)
