"""`keras-lm export`: verified bundles with a manifest, and nothing written on any failure."""

from __future__ import annotations

import json
import shutil

import pytest

from keras_lm.cli.main import main
from keras_lm.export import verify
from keras_lm.export.bundle import ExportConfig
from keras_lm.export.bundle import export_run
from keras_lm.io import sha256_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lm_bundle(tiny_bundle):
    return tiny_bundle("tiny-transformer-lm", ("int8",))


def test_bundle_holds_every_variant_verified_with_hashes(lm_bundle):
    manifest = json.loads((lm_bundle / "manifest.json").read_text())
    variants = {(v["format"], v["quantization"]) for v in manifest["variants"]}
    assert variants == {
        ("savedmodel", "float32"),
        ("tflite", "float32"),
        ("tflite", "int8"),
        ("onnx", "float32"),
        ("onnx", "int8"),
    }
    for variant in manifest["variants"]:
        assert variant["verification"]["passed"]
        if variant["quantization"] == "float32":
            decoding = variant["verification"]["decoding"]
            assert decoding["identical"] == decoding["examples"] > 0
    for path, entry in manifest["files"].items():
        assert sha256_file(lm_bundle / path) == entry["sha256"]
    assert manifest["graphs"]["decode"]["inputs"][2]["name"] == "past_cache"
    assert manifest["specials"]["end_id"] == 3 and manifest["versions"]["tensorflow"]
    assert not any(p.name.startswith(".") for p in lm_bundle.parent.iterdir()), (
        "temporary left behind"
    )


def test_tflite_and_onnx_get_runtime_cache_graphs_built_for_them(lm_bundle):
    """The SavedModel keeps the whole-cache graphs; TFLite gets batch-1 static prefill lengths,
    ONNX a dynamic batch and number of cache slots; each decode step is layer norms fused,
    matmuls, softmax."""
    from keras_lm.export.onnx import graph_ops
    from keras_lm.models.graph_parts import prefill_buckets
    from keras_lm.runtime.litert_runner import LiteRTGraphs
    from keras_lm.runtime.onnx_runner import OnnxGraphs

    manifest = json.loads((lm_bundle / "manifest.json").read_text())
    contracts = {(v["format"], v["quantization"]): v["contract"] for v in manifest["variants"]}
    assert contracts[("savedmodel", "float32")] == "graph_cache"
    assert {c for k, c in contracts.items() if k[0] != "savedmodel"} == {"runtime_cache"}
    tflite = LiteRTGraphs(lm_bundle / "tflite" / "model.float32.tflite")
    lengths = prefill_buckets(manifest["facts"]["context"])
    assert sorted(tflite.names) == sorted(["decode", *(f"prefill_{n}" for n in lengths)])
    assert tflite.inputs("decode")["past_key_0"][0][0] == 1
    context = manifest["facts"]["context"]
    assert tflite.inputs("decode")["past_key_0"][0][2] == context  # TFLite: the whole context
    folder = lm_bundle / "onnx" / "float32"
    onnx_graphs = OnnxGraphs({n: folder / f"{n}.onnx" for n in ("prefill", "decode")})
    batch, heads, slots, _ = onnx_graphs.inputs("decode")["past_key_0"][0]
    assert not isinstance(batch, int) and not isinstance(slots, int)  # ONNX: any batch and slots
    layers = manifest["train_config"]["model"]["num_layers"]
    ops = graph_ops(lm_bundle / "onnx" / "float32" / "decode.onnx")
    assert not {"GlobalAveragePool", "ReduceMean"} & set(ops), ops
    assert ops["Div"] == ops["Erf"] == layers  # each GELU in the form ORT fuses
    assert ops["LayerNormalization"] == 2 * layers + 1
    assert (
        ops["Softmax"] == layers and ops["MatMul"] == 7 * layers + 1
    )  # qkv, 3 attention, out, MLP


@pytest.mark.parametrize(
    "name", ["tiny-lstm-lm", "tiny-transformer-seq2seq", "tiny-lstm-seq2seq", "tiny-classifier"]
)
def test_every_family_exports_to_every_format(tiny_bundle, name):
    path = tiny_bundle(name)
    manifest = json.loads((path / "manifest.json").read_text())
    assert [v["format"] for v in manifest["variants"]] == ["savedmodel", "tflite", "onnx"]
    assert all(v["verification"]["passed"] for v in manifest["variants"])


def test_a_seq2seq_bundle_gets_runtime_cache_graphs_with_fused_blocks(tiny_bundle):
    """TFLite and ONNX hold the per-layer-cache graphs at a dynamic batch and source length;
    a decode step is self- and cross-attention per layer, nothing returns the whole cache."""
    from keras_lm.export.onnx import graph_ops
    from keras_lm.runtime.litert_runner import LiteRTGraphs

    path = tiny_bundle("tiny-transformer-seq2seq")
    manifest = json.loads((path / "manifest.json").read_text())
    contracts = {v["format"]: v["contract"] for v in manifest["variants"]}
    assert contracts == {"savedmodel": "graph_cache", "tflite": "runtime_cache", "onnx": "runtime_cache"}
    layers = manifest["train_config"]["model"]["num_decoder_layers"]
    decode = LiteRTGraphs(path / "tflite" / "model.float32.tflite").inputs("decode")
    assert decode["past_key_0"][0][0] is None and decode["cross_key_0"][0][2] is None
    assert len([n for n in decode if n.startswith(("past_", "cross_"))]) == 4 * layers
    ops = graph_ops(path / "onnx" / "float32" / "decode.onnx")
    assert ops["Softmax"] == 2 * layers  # self-attention and cross-attention
    assert not {"Einsum", "ScatterND", "ScatterElements"} & set(ops), ops


def test_failed_verification_leaves_no_bundle(tiny_run, tmp_path, monkeypatch):
    strict = verify.Tolerance(atol=-1.0)  # nothing can pass
    monkeypatch.setitem(verify.TOLERANCES, "float32", strict)
    with pytest.raises(verify.VerificationError, match="max .diff."):
        export_run(
            tiny_run("tiny-transformer-lm"), ExportConfig(formats=("onnx",), out=str(tmp_path))
        )
    assert list(tmp_path.iterdir()) == []


def test_cli_unknown_format_or_quantization_exits_2(tiny_run, tmp_path, capsys):
    run = str(tiny_run("tiny-transformer-lm"))
    assert main(["export", run, "--format", "coreml", "--out", str(tmp_path)]) == 2
    assert "coreml" in capsys.readouterr().err
    assert main(["export", run, "--quantize", "int4", "--out", str(tmp_path)]) == 2
    assert "int4" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_non_empty_bundle_without_overwrite(tiny_run, tmp_path, capsys):
    (tmp_path / "tiny-transformer-lm").mkdir()
    (tmp_path / "tiny-transformer-lm" / "keep.txt").write_text("mine")
    assert main(["export", str(tiny_run("tiny-transformer-lm")), "--out", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "tiny-transformer-lm" / "keep.txt").read_text() == "mine"


def test_cli_run_without_checkpoint_or_with_a_corrupted_one_exits_2(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run("tiny-transformer-lm"), run)
    (run / "model.keras").unlink()
    (run / "checkpoints" / "best.keras").write_bytes(b"not a zip")
    out = tmp_path / "export"
    assert main(["export", str(run), "--out", str(out)]) == 2
    assert "cannot be loaded" in capsys.readouterr().err
    (run / "checkpoints" / "best.keras").unlink()
    assert main(["export", str(run), "--out", str(out)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []


def test_savedmodel_string_signature_runs_without_keras_lm(lm_bundle):
    import subprocess
    import sys

    manifest = json.loads((lm_bundle / "manifest.json").read_text())
    assert manifest["text_signatures"]["generate"]["identical"] == 5
    code = (
        "import sys, json, tensorflow as tf, tensorflow_text\n"
        f"m = tf.saved_model.load({str(lm_bundle / 'savedmodel')!r})\n"
        "out = m.signatures['generate'](text=tf.constant(['def ', 'x']), max_new_tokens=tf.constant(6))\n"
        "print(json.dumps({'text': [t.decode() for t in out['text'].numpy()],"
        " 'keras_lm': any(k.startswith('keras_lm') for k in sys.modules)}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd="/",
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["keras_lm"] is False and len(result["text"]) == 2


def test_float32_can_be_left_out_and_a_too_big_tflite_is_refused_before_conversion():
    from keras_lm.errors import ConfigError
    from keras_lm.export.bundle import ExportConfig
    from keras_lm.export.bundle import check_flatbuffer_limit

    config = ExportConfig(
        formats=("savedmodel", "tflite", "onnx"), quantize=("int8",), float32=False
    )
    assert config.variants() == [("savedmodel", "float32"), ("tflite", "int8"), ("onnx", "int8")]
    with pytest.raises(ConfigError, match="nothing to export"):
        ExportConfig(formats=("tflite",), float32=False)
    gemma_2b = 2_500_000_000
    with pytest.raises(ConfigError, match=r"the float32 TFLite file .* 9\.3 GiB .* --no-float32"):
        check_flatbuffer_limit(gemma_2b, ExportConfig(formats=("tflite",), quantize=("int8",)))
    with pytest.raises(ConfigError, match="the int8 TFLite file"):
        check_flatbuffer_limit(gemma_2b, config)
    check_flatbuffer_limit(
        1_000_000_000, ExportConfig(formats=("tflite",), quantize=("int8",), float32=False)
    )


def test_no_float32_ships_only_the_weight_only_variants_and_leaves_no_float_files(
    tiny_run, tmp_path
):
    from keras_lm.export.onnx import graph_ops
    from keras_lm.export.tflite import op_histogram

    quantize = ("int8-weight-only", "int4-weight-only")
    config = ExportConfig(
        formats=("tflite", "onnx"), quantize=quantize, float32=False, out=str(tmp_path)
    )
    bundle = export_run(tiny_run("tiny-transformer-lm"), config)
    manifest = json.loads((bundle / "manifest.json").read_text())
    keys = [(v["format"], v["quantization"]) for v in manifest["variants"]]
    assert keys == [("tflite", "int8-weight-only"), ("onnx", *quantize[:1]), ("onnx", quantize[1])]
    assert all(v["verification"]["passed"] for v in manifest["variants"])
    assert sorted(p.name for p in (bundle / "onnx").iterdir()) == sorted(quantize)
    assert [p.name for p in (bundle / "tflite").iterdir()] == ["model.int8-weight-only.tflite"]
    ops = op_histogram(bundle / "tflite" / "model.int8-weight-only.tflite")
    assert ops["DEQUANTIZE"] and ops["FULLY_CONNECTED"], ops  # int8 weights (>= 1024), float compute
    assert graph_ops(bundle / "onnx" / "int4-weight-only" / "decode.onnx").get("MatMulNBits")
    assert not [p for p in bundle.rglob(".*")], "hidden sources or float graphs left behind"


def test_the_onnx_child_reports_its_failure(tmp_path):
    from keras_lm.export.errors import ExportError
    from keras_lm.export.onnx_worker import convert_in_subprocess

    with pytest.raises(ExportError, match="ONNX conversion exited with 1"):
        convert_in_subprocess(tmp_path / "no-saved-model", ["decode"], tmp_path / "out", 17)


def test_a_killed_onnx_child_is_named_as_such(tmp_path, monkeypatch):
    import subprocess

    from keras_lm.export import child
    from keras_lm.export import onnx_worker
    from keras_lm.export.errors import ExportError

    killed = subprocess.CompletedProcess([], returncode=-9, stdout="", stderr="")
    monkeypatch.setattr(child.subprocess, "run", lambda *a, **k: killed)
    with pytest.raises(ExportError, match=r"killed by signal 9 \(out of memory\?\)"):
        onnx_worker.convert_in_subprocess(tmp_path / "sm", ["decode"], tmp_path / "out", 17)
