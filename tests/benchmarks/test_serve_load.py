"""The load test's pieces that run without locust: the graph-only ceiling and the report."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from benchmarks.serve_load import ServeLoadConfig
from benchmarks.serve_load import graph_ceiling
from benchmarks.serve_load import markdown
from benchmarks.serve_load import median_row


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


def test_repeats_report_the_median_run_and_each_repeats_own_ratio():
    def row(users, tokens):
        return {"users": users, "tokens_per_s": tokens, "requests_per_s": 1, "errors": 0}

    fields = dict(ttft_p50_ms=1, ttft_p99_ms=2, tpot_p50_ms=1, tpot_p99_ms=2)
    batched = [{**row(16, t), **fields} for t in (300.0, 330.0, 270.0)]
    alone = [{**row(16, t), **fields} for t in (100.0, 100.0, 90.0)]
    report = {"command": "c", "bundle": "b", "stream": True, "task": "lm", "soak": None}
    report |= {"repeats": 3, "runs": {64: [[r["tokens_per_s"] for r in batched]]}}
    report["runs"][1] = [[r["tokens_per_s"] for r in alone]]
    report["modes"] = {64: [median_row(batched)], 1: [median_row(alone)]}
    text = markdown(report)
    assert "| 64 | 16 | 1 | 300.0 |" in text and "| 1 | 16 | 1 | 100.0 |" in text
    assert "16 users 3.0x (3.0x / 3.3x / 3.0x)" in text
    assert "the median of 3 runs" in text


def test_the_soak_samples_rss_under_load_and_reports_the_sample_after_apart(monkeypatch, tmp_path):
    """Growth is measured over the loaded samples: rows freed once the load ends are not growth."""
    import threading
    import time

    from benchmarks import serve_load

    done, calls = threading.Event(), []

    def rss(pid):  # idle, then loaded, then after the load
        calls.append(pid)
        return 100.0 if len(calls) == 1 else 150.0 if done.is_set() else 200.0

    def locust(*args):
        time.sleep(0.45)
        done.set()
        return {"errors": 0, "tokens_per_s": 1.0}

    monkeypatch.setattr(serve_load, "rss_mib", rss)
    monkeypatch.setattr(serve_load, "run_locust", locust)
    config = serve_load.ServeLoadConfig(soak=5)
    result = serve_load.soak(config, "http://x", 1, "lm", tmp_path, every=0.1)
    assert result["rss_mib"][0] == 100.0 and set(result["rss_mib"][1:]) == {200.0}
    assert result["rss_growth_mib"] == 0.0 and result["rss_after_mib"] == 150.0
