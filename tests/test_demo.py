"""`make demo`'s path end to end on the embedded corpus, at a tiny size: every stage leaves its mark."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from keras_lm.bench.runtime_speed import RuntimeBenchConfig
from keras_lm.demo import DemoConfig
from keras_lm.demo import run

TINY = DemoConfig(
    tokenizers=("char",),
    train=("demo-lstm-seq2seq",),
    train_overrides=("loop.max_steps=20", "loop.steps_per_epoch=10", "model.decoder_units=32"),
    eval_limit=20,
    quantize=("int8",),
    bench=RuntimeBenchConfig(threads=(1,), batches=(1,), new_tokens=6, prompt_length=8, repeats=1),
)


@pytest.mark.slow
def test_demo_trains_evaluates_exports_and_benchmarks(tmp_path):
    out = tmp_path / "demo"
    report = run(TINY, out)
    text = report.read_text(encoding="utf-8")
    for heading in (
        "## Data",
        "## Tokenizers",
        "## Training: demo-lstm-seq2seq",
        "### Evaluation on valid",
        "### Export: demo-lstm-seq2seq",
        "## Inference benchmark",
        "## Mobile readiness",
    ):
        assert heading in text, heading
    assert ".tmp" not in text  # paths name the final folder, not the temporary one
    bundle = out / "export" / "demo-lstm-seq2seq"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["source_run"] == str(out / "runs" / "demo-lstm-seq2seq")
    assert manifest["checkpoint"].startswith(manifest["source_run"])
    assert Path(manifest["checkpoint"]).is_file()
    variants = {(v["format"], v["quantization"]) for v in manifest["variants"]}
    assert {("savedmodel", "float32"), ("tflite", "int8"), ("onnx", "int8")} <= variants
    bench = json.loads((out / "bench" / "bench.json").read_text())
    rows = bench["bundles"][0]["rows"]
    runtime = [r for r in rows if r["engine"] in ("onnx", "tflite")]
    assert runtime and all("error" not in r and not r["imported_tensorflow"] for r in runtime)
    assert any(r["engine"] == "keras" and r["imported_tensorflow"] for r in rows)
    assert list((out / "bench").glob("*.png")), "the benchmark draws its plots"
    assert (out / "runs" / "demo-lstm-seq2seq" / "eval" / "valid.json").is_file()


def test_demo_refuses_a_bad_field_by_name():
    from keras_lm.errors import ConfigError

    with pytest.raises(ConfigError, match="bench.thread"):
        DemoConfig().with_overrides(["bench.thread=1"])


def test_a_bundle_built_in_a_temporary_folder_names_its_run_where_it_will_be(tmp_path):
    from keras_lm.export.bundle import record_source_run

    bundle = tmp_path / ".demo.pid7.abcd1234.tmp" / "export" / "lm"
    bundle.mkdir(parents=True)
    fixture = Path(__file__).parent / "fixtures" / "manifest-v1-transformer-lm.json"
    shutil.copy(fixture, bundle / "manifest.json")  # from a run at /tmp/compat2/run
    record_source_run(bundle, tmp_path / "demo" / "runs" / "lm")
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["source_run"] == str(tmp_path / "demo" / "runs" / "lm")
    assert manifest["checkpoint"] == str(tmp_path / "demo/runs/lm/checkpoints/best.keras")
    before = json.loads(fixture.read_text())
    for key in ("name", "files", "train_config", "graphs"):
        assert manifest[key] == before[key], key
