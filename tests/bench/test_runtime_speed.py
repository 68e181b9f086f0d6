"""`keras-lm bench BUNDLE`: every variant measured in its own TF-free process, baselines beside it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from keras_lm.bench.decode_timing import RecomputeStepper
from keras_lm.bench.decode_timing import TimedStepper
from keras_lm.bench.decode_timing import time_lm
from keras_lm.bench.runtime_report import format_markdown
from keras_lm.bench.runtime_report import write_plots
from keras_lm.bench.runtime_speed import RuntimeBenchConfig
from keras_lm.bench.runtime_speed import bench_bundle
from keras_lm.bench.runtime_speed import plan_jobs
from keras_lm.cli.main import main
from keras_lm.errors import InputError
from keras_lm.generation.testing import CountingStepper
from keras_lm.runtime.bundle import load_bundle
from keras_lm.runtime.bundle import read_manifest

TINY = RuntimeBenchConfig(threads=(1,), batches=(1, 2), new_tokens=6, prompt_length=5, repeats=1)


def test_timed_stepper_times_every_call_and_generates_exactly_new_tokens():
    timed = TimedStepper(CountingStepper(vocab=50))
    row = time_lm(timed, [[1, 2], [7, 8]], new_tokens=9)
    assert row["new_tokens"] == 9 and row["batch"] == 2
    assert timed.first is not None and len(timed.steps) == 8  # one prefill, then 8 steps
    assert row["tokens_per_s"] > 0


def test_config_rejects_unknown_engine_and_empty_grid():
    with pytest.raises(InputError, match="engines"):
        RuntimeBenchConfig(engines=("coreml",))
    with pytest.raises(InputError, match="threads"):
        RuntimeBenchConfig(threads=())


@pytest.fixture(scope="module")
def lm_bundle(tiny_bundle):
    return tiny_bundle("tiny-transformer-lm", ("int8",))


@pytest.mark.slow
def test_recompute_decodes_the_same_tokens_as_the_cache(lm_bundle):
    """The naive baseline is the same model recomputed, not a different one (both runtimes:
    TFLite recomputes through its static prefill lengths)."""
    from keras_lm.inference.decoding import generate_lm
    from keras_lm.inference.sampling import SamplingConfig

    for backend in ("onnx", "tflite"):
        stepper = load_bundle(lm_bundle, backend).stepper
        prompt = [[5, 6, 7, 8]]
        cached, naive = TimedStepper(stepper), TimedStepper(RecomputeStepper(stepper))
        config = SamplingConfig(max_new_tokens=12)
        assert generate_lm(cached, prompt, config) == generate_lm(naive, prompt, config), backend
        assert len(naive.steps) == len(cached.steps) > 0


@pytest.mark.slow
def test_plan_has_every_variant_at_every_thread_count_and_the_baselines(lm_bundle):
    config = RuntimeBenchConfig(threads=(1, 2))
    jobs = plan_jobs(lm_bundle, read_manifest(lm_bundle), config)
    cached = {(j["engine"], j["quantization"], j["threads"]) for j in jobs if j["mode"] == "cached"}
    for threads in (1, 2):
        for variant in ("float32", "int8"):
            assert ("onnx", variant, threads) in cached and ("tflite", variant, threads) in cached
        assert ("keras", "float32", threads) in cached
    assert {j["engine"] for j in jobs if j["mode"] == "recompute"} == {"onnx", "tflite", "keras"}
    no_recompute = RuntimeBenchConfig(threads=(1, 2), recompute=False)
    kept = plan_jobs(lm_bundle, read_manifest(lm_bundle), no_recompute)
    assert kept == [j for j in jobs if j["mode"] != "recompute"]


@pytest.mark.slow
def test_bench_bundle_rows_plots_and_report(lm_bundle, tmp_path):
    entry = bench_bundle(lm_bundle, TINY)
    rows = {(r["engine"], r["quantization"], r["mode"]): r for r in entry["rows"]}
    assert not [r for r in entry["rows"] if "error" in r]
    for key in [("onnx", "float32", "cached"), ("tflite", "int8", "cached")]:
        row = rows[key]
        assert not row["imported_tensorflow"] and not row["imported_keras"]
        assert [c["batch"] for c in row["rows"]] == [1, 2]
        assert all(c["new_tokens"] == 6 and c["tokens_per_s"] > 0 for c in row["rows"])
        assert row["cold_start_s"] >= row["load_s"] > 0 and row["peak_rss_mb"] > 10
        assert row["bytes"] > 0 and row["quality"]["metric"] == "perplexity"
    assert rows[("keras", "float32", "cached")]["imported_tensorflow"]
    cell = rows[("onnx", "float32", "recompute")]["rows"][0]
    assert len(cell["step_ms"]) == 5 and np.all(np.asarray(cell["step_ms"]) > 0)
    result = {
        "command": "keras-lm bench x",
        "config": TINY.to_dict(),
        "bundles": [entry],
        "machine": {"cpus": 2, "platform": "test", "python": "3.11"},
    }
    plots = write_plots(result, tmp_path)
    assert len(plots[entry["name"]]) == 3 and all(p.endswith(".png") for p in plots[entry["name"]])
    text = format_markdown(result, plots)
    assert "Command: `keras-lm bench x`" in text and "vs Keras in-process" in text
    assert "onnx float32 recompute" in text and "tflite int8" in text
    bound = entry["bound"]
    assert bound["flops_per_token"] > 0 and set(bound["tokens_per_s"]) == {"1"}
    assert (
        bound["tokens_per_s"]["1"] > rows[("onnx", "float32", "cached")]["rows"][0]["tokens_per_s"]
    )
    assert "of GEMM bound" in text and "| GEMM bound (FLOPs/token" in text


@pytest.mark.slow
def test_cli_bench_path_writes_json_markdown_and_plots(lm_bundle, tmp_path, capsys):
    code = main(
        [
            "bench",
            str(lm_bundle),
            "--threads",
            "1",
            "--batches",
            "1",
            "--new-tokens",
            "4",
            "--prompt-length",
            "4",
            "--repeats",
            "1",
            "--no-baselines",
            "--engines",
            "tflite",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    assert {r["engine"] for r in result["bundles"][0]["rows"]} == {"tflite"}
    assert result["command"].startswith("keras-lm ")
    assert (tmp_path / "bench.md").is_file() and list(tmp_path.glob("*.png"))


def test_cli_bench_names_a_path_that_is_not_a_bundle(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "nothing")]) == 2
    assert "nothing" in capsys.readouterr().err


def test_no_pytorch_rows_unless_a_torch_ref_is_given(tmp_path, monkeypatch):
    import keras_lm.bench.runtime_speed as runtime_speed

    calls = []
    monkeypatch.setattr(runtime_speed, "torch_decode_rows", lambda *a: calls.append(a) or [])
    python = tmp_path / "python"
    python.write_text("")
    manifest = {"family": "transformer_lm"}
    assert RuntimeBenchConfig().torch_ref is None  # the library never guesses a path
    config = RuntimeBenchConfig(torch_python=str(python))
    assert runtime_speed._torch_rows(tmp_path, manifest, config) == [] and not calls


def test_run_bench_refuses_a_folder_that_is_not_a_bundle_before_writing(tmp_path):
    from keras_lm.bench.runtime_speed import run_bench

    with pytest.raises(InputError, match="not an export bundle"):
        run_bench([tmp_path / "nothing"], TINY, tmp_path / "out")
    assert not (tmp_path / "out").exists()
