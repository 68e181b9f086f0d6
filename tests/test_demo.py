"""`make demo`'s path end to end on the embedded corpus, at a tiny size: every stage leaves its mark."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from keras_lm.bench.runtime_speed import RuntimeBenchConfig
from keras_lm.cli.console import StageLog
from keras_lm.demo import DemoConfig
from keras_lm.demo import plan
from keras_lm.demo import run
from keras_lm.demo.stages import Ledger
from keras_lm.demo.stages import partial_folder
from keras_lm.demo.stages import read_records

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
    told = []
    report = run(TINY, out, progress=lambda stage, done=None, total=None: told.append(stage))
    assert list(dict.fromkeys(told)) == plan(TINY)  # each stage once, in order (bars repeat it)
    text = report.read_text(encoding="utf-8")
    _summary_comes_first(text, out)
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
    _rerun_skips_what_did_not_change(out, text)


def _summary_comes_first(text: str, out: Path) -> None:
    """The first screen: data, quality against the trivial baselines, examples, speed, picture."""
    assert text.index("## Summary") < text.index("# Details") < text.index("## Data")
    summary = text[text.index("## Summary") : text.index("# Details")]
    assert "Trained on `stdlib-sig2text`" in summary
    evaluation = json.loads((out / "runs/demo-lstm-seq2seq/eval/valid.json").read_text())
    copy = evaluation["baselines"]["copy_source"]
    assert (
        f"| trivial: copy the source | - | - | {copy['bleu']:.1f} | {copy['chrf']:.1f} |" in summary
    )
    assert "(the most frequent target)" in summary
    assert f"| **{evaluation['bleu']:.1f}** | {evaluation['chrf']:.1f} |" in summary
    examples = [
        s for s in evaluation["samples"] if f"| `{s['source']}` | `{s['reference']}` |" in summary
    ]
    assert len(examples) == 5
    assert "| demo-lstm-seq2seq | " in summary and "Keras" in summary  # the speed table
    assert "![summary](summary.png)" in summary and (out / "summary.png").is_file()
    stages = read_records(out)
    assert set(stages) == set(plan(TINY)) and "Stage times" in summary


def _rerun_skips_what_did_not_change(out: Path, text: str) -> None:
    """`--resume`: every stage but `data` reused, the same report; then a changed
    `eval_limit` evaluates again and reuses the rest, and a failure keeps that work aside."""
    sink = io.StringIO()
    with StageLog(len(plan(TINY)), console=Console(file=sink, width=200)) as stages:
        run(TINY, out, progress=stages, resume=True)
    lines = sink.getvalue().splitlines()
    assert lines[0].startswith("[1/7] data ... done in ")
    assert all(" unchanged, reused ... done in " in line for line in lines[1:]), lines
    assert len(lines) == 7
    assert (out / "report.md").read_text(encoding="utf-8") == text
    assert not partial_folder(out).exists()

    def stop_at_benchmark(stage, done=None, total=None):
        told.append(stage)
        if stage.startswith("benchmark"):
            raise KeyboardInterrupt

    told = []
    with pytest.raises(KeyboardInterrupt):
        run(dataclasses.replace(TINY, eval_limit=10), out, progress=stop_at_benchmark, resume=True)
    assert told[2:5] == [
        "train demo-lstm-seq2seq: unchanged, reused",
        "evaluate demo-lstm-seq2seq",  # its input changed
        "export demo-lstm-seq2seq: unchanged, reused",
    ]
    assert (out / "report.md").read_text(encoding="utf-8") == text  # the last demo, intact
    kept, last = read_records(partial_folder(out)), read_records(out)
    assert kept["train demo-lstm-seq2seq"] == last["train demo-lstm-seq2seq"]
    assert kept["evaluate demo-lstm-seq2seq"]["key"] != last["evaluate demo-lstm-seq2seq"]["key"]
    assert "benchmark" not in kept


def test_a_stage_is_reused_only_with_the_same_key_and_all_its_outputs(tmp_path):
    last, new = tmp_path / "demo", tmp_path / "new"
    (last / "tokenizers" / "char").mkdir(parents=True)
    (last / "tokenizers" / "char" / "vocab.txt").write_text("a\n")
    ledger = Ledger(last, last, [])
    ledger.record("tokenizers", "k1", [f"made in {last}"], ["tokenizers"], 4.0)
    ledger.record("train lm", "k2", ["trained"], ["runs/lm"], 9.0)  # its run is gone
    again = Ledger(new, last, [last])
    assert again.find("tokenizers", "k0") is None  # a changed input
    assert again.find("train lm", "k2") is None  # an output missing
    assert again.reuse("tokenizers", again.find("tokenizers", "k1")) == [f"made in {last}"]
    assert (new / "tokenizers" / "char" / "vocab.txt").read_text() == "a\n"
    assert list(read_records(new)) == ["tokenizers"]


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
