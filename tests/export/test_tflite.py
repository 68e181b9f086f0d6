"""TFLite export: every family converts builtin-only, runs in LiteRT like its tf.functions,
quantizes smaller, and fails loudly (and cleanly) when it cannot convert."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from keras_lm.errors import ConfigError
from keras_lm.errors import InputError
from keras_lm.export import tflite
from keras_lm.export.errors import ExportError
from keras_lm.export.tflite import check_builtins_only
from keras_lm.export.tflite import convert_tflite
from keras_lm.export.tflite import op_histogram
from keras_lm.runtime.litert_runner import LiteRTGraphs

FAMILIES = [
    "transformer_lm",
    "llama_lm",
    "lstm_lm",
    "transformer_seq2seq",
    "lstm_seq2seq",
    "encoder_classifier",
]
# lstm_seq2seq's encoder LSTM loop needs a static batch for TFLite (else TensorList ops).
STATIC = {"lstm_seq2seq": {"batch": 2}}


def _export(family: str, root: Path, config: dict | None = None, **shapes):
    """(model, graphs, SavedModel dir) of a tiny `family` model."""
    from keras_lm.export.savedmodel import write_savedmodel
    from keras_lm.export.signatures import export_graphs
    from keras_lm.models import registry

    values = registry.get_family(family).config.tiny().to_dict()
    values.update(config or {})
    model = registry.build_model(family, values)
    graphs = export_graphs(model, family, **shapes)
    return model, graphs, write_savedmodel(model, graphs, root / f"{family}_sm")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`exported(family)` -> (graphs, SavedModel dir, float32 .tflite), built once per module."""
    root = tmp_path_factory.mktemp("tflite")
    done: dict[str, tuple] = {}

    def get(family: str):
        if family not in done:
            _, graphs, saved = _export(family, root, **STATIC.get(family, {}))
            done[family] = (graphs, saved, convert_tflite(saved, root / f"{family}.tflite"))
        return done[family]

    return get


def _tf_call(graphs):
    def call(name, **inputs):
        return {k: v.numpy() for k, v in graphs[name](**inputs).items()}

    return call


def _left_padded(rng, batch: int, length: int, vocab: int = 40):
    ids = rng.integers(1, vocab, (batch, length)).astype("int32")
    mask = np.ones((batch, length), "int32")
    mask[0, : length // 2] = 0  # row 0 is left-padded
    return ids * mask, mask


def _scenario(family: str, call) -> list[dict[str, np.ndarray]]:
    """Run `family`'s graphs through `call(name, **inputs)`; every output of every call, in order."""
    rng = np.random.default_rng(0)
    outs = []
    if family in ("transformer_lm", "llama_lm"):
        for length in (3, 7):  # the dynamic time axis, two sizes
            ids, mask = _left_padded(rng, 2, length)
            outs.append(call("prefill", token_ids=ids, padding_mask=mask))
        positions = mask.sum(1, keepdims=True).astype("int32")
        step = rng.integers(1, 40, (2, 1)).astype("int32")
        outs.append(
            call("decode", token_ids=step, positions=positions, past_cache=outs[-1]["cache"])
        )
    elif family == "lstm_lm":
        h, c = (rng.normal(size=(3, 2, 16)).astype("float32") * 0.5 for _ in range(2))
        for _ in range(2):
            ids = rng.integers(1, 40, (3,)).astype("int32")
            outs.append(call("decode", token_ids=ids, past_h=h, past_c=c))
            h, c = outs[-1]["h"], outs[-1]["c"]
    elif family == "transformer_seq2seq":
        for length in (5, 9):
            ids, mask = _left_padded(rng, 2, length)
            outs.append(call("encode", encoder_token_ids=ids, encoder_padding_mask=mask))
        cache = np.zeros((2, 4, 16, 2, 8), "float32")
        for position in range(2):
            step = rng.integers(1, 40, (2, 1)).astype("int32")
            outs.append(
                call(
                    "decode",
                    token_ids=step,
                    positions=np.full((2, 1), position, "int32"),
                    past_cache=cache,
                    cross_cache=outs[1]["cross_cache"],
                    encoder_padding_mask=mask,
                )
            )
            cache = outs[-1]["cache"]
    elif family == "lstm_seq2seq":
        ids, mask = _left_padded(rng, 2, 6)
        encoded = call("encode", encoder_token_ids=ids, encoder_padding_mask=mask)
        outs.append(encoded)
        h, c = encoded["h"], encoded["c"]
        for _ in range(2):
            step = rng.integers(1, 40, (2,)).astype("int32")
            outs.append(
                call(
                    "decode",
                    token_ids=step,
                    past_h=h,
                    past_c=c,
                    encoded=encoded["encoded"],
                    encoder_padding_mask=mask,
                )
            )
            h, c = outs[-1]["h"], outs[-1]["c"]
    else:
        for length in (4, 9):
            ids, mask = _left_padded(rng, 2, length)
            outs.append(call("classify", token_ids=ids, padding_mask=mask))
    return outs


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_float32_is_builtin_only_and_matches_the_tf_functions(family, exported):
    graphs, _, path = exported(family)
    histogram = check_builtins_only(path)
    assert not [op for op in histogram if op.startswith("Flex") or op == "CUSTOM"], histogram
    runner = LiteRTGraphs(path)
    assert sorted(runner.names) == sorted(graphs)
    want = _scenario(family, _tf_call(graphs))
    got = _scenario(family, runner.run)
    for expected, actual in zip(want, got, strict=True):
        assert sorted(actual) == sorted(expected)
        for key in expected:
            assert actual[key].shape == expected[key].shape, key
            np.testing.assert_allclose(actual[key], expected[key], atol=1e-4, rtol=0, err_msg=key)


@pytest.mark.slow
def test_runner_reports_signatures_and_bad_inputs(exported):
    _, _, path = exported("lstm_seq2seq")
    runner = LiteRTGraphs(path, num_threads=1)
    assert runner.inputs("encode") == {
        "encoder_padding_mask": ((2, None), "int32"),
        "encoder_token_ids": ((2, None), "int32"),
    }
    assert runner.outputs("decode")["logits"] == ((2, 40), "float32")
    ids = np.ones((2, 6), "int32")
    with pytest.raises(
        InputError, match=r"encoder_token_ids.*expected shape \(2, None\), got \(3, 6\)"
    ):
        runner.run("encode", encoder_token_ids=np.ones((3, 6), "int32"), encoder_padding_mask=ids)
    with pytest.raises(InputError, match="missing input.*encoder_padding_mask"):
        runner.run("encode", encoder_token_ids=ids)
    with pytest.raises(InputError, match="unknown input.*token_ids"):
        runner.run("encode", encoder_token_ids=ids, encoder_padding_mask=ids, token_ids=ids)
    with pytest.raises(InputError, match="expected dtype int32, got float32"):
        runner.run("encode", encoder_token_ids=ids.astype("float32"), encoder_padding_mask=ids)
    with pytest.raises(InputError, match="no such graph"):
        runner.run("prefill", token_ids=ids)


@pytest.mark.slow
def test_dynamic_axes_resize_between_calls(exported):
    _, _, path = exported("transformer_lm")
    runner = LiteRTGraphs(path)
    assert runner.inputs("prefill")["token_ids"] == ((None, None), "int32")
    for batch, length in [(1, 2), (3, 11), (1, 2)]:
        out = runner.run(
            "prefill",
            token_ids=np.ones((batch, length), "int32"),
            padding_mask=np.ones((batch, length), "int32"),
        )
        assert out["logits"].shape == (batch, length, 40)


@pytest.mark.slow
def test_lstm_seq2seq_needs_a_fixed_batch_to_convert(tmp_path):
    # Fully dynamic shapes leave TensorList ops whose element shape (batch, units) is unknown.
    _, _, saved = _export("lstm_seq2seq", tmp_path)
    with pytest.raises(ExportError, match="TensorListReserve") as err:
        convert_tflite(saved, tmp_path / "dynamic.tflite")
    assert "element_shape to be static" in str(err.value)
    assert not (tmp_path / "dynamic.tflite").exists()


@pytest.mark.slow
def test_lstm_seq2seq_with_a_fixed_batch_keeps_a_dynamic_source_length(exported):
    # With the batch fixed, the element shape is static: the LSTM loops lower to WHILE.
    graphs, _, path = exported("lstm_seq2seq")  # exported with batch=2 (STATIC), float32
    assert check_builtins_only(path)["WHILE"] >= 1
    runner = LiteRTGraphs(path)
    assert runner.inputs("encode")["encoder_token_ids"] == ((2, None), "int32")
    rng = np.random.default_rng(4)
    for length in (5, 9):
        ids, mask = _left_padded(rng, 2, length)
        got = runner.run("encode", encoder_token_ids=ids, encoder_padding_mask=mask)
        want = graphs["encode"](encoder_token_ids=ids, encoder_padding_mask=mask)
        for key, value in want.items():
            np.testing.assert_allclose(got[key], value.numpy(), atol=1e-4, rtol=0, err_msg=key)


@pytest.mark.slow
def test_fp16_and_int8_are_smaller_and_agree(tmp_path):
    # The block weights must dominate the file. A big vocabulary would not do: the tied
    # embedding is stored once in float, but twice in int8 (a per-row table for GATHER and a
    # per-channel copy for the output FULLY_CONNECTED, with 12 bytes of scale and int64 zero
    # point per row and signature), so a vocabulary-heavy model only halves.
    _, graphs, saved = _export("transformer_lm", tmp_path, {"hidden_dim": 192})
    rng = np.random.default_rng(1)
    feed = {
        "token_ids": rng.integers(1, 40, (4, 16)).astype("int32"),
        "padding_mask": np.ones((4, 16), "int32"),
    }
    want = graphs["prefill"](**feed)["logits"].numpy()
    sizes, agreement = {}, {}
    for quantize in ("float32", "fp16", "int8"):
        path = convert_tflite(saved, tmp_path / f"{quantize}.tflite", quantize=quantize)
        check_builtins_only(path)
        sizes[quantize] = path.stat().st_size
        got = LiteRTGraphs(path).run("prefill", **feed)["logits"]
        agreement[quantize] = float((got.argmax(-1) == want.argmax(-1)).mean())
        if quantize == "fp16":
            np.testing.assert_allclose(got, want, atol=2e-3)
    assert sizes["fp16"] < 0.6 * sizes["float32"], sizes
    assert sizes["int8"] < 0.35 * sizes["float32"], sizes
    assert agreement["fp16"] == 1.0 and agreement["int8"] >= 0.9, agreement
    assert "DEQUANTIZE" in op_histogram(tmp_path / "fp16.tflite")


def _representative(family: str, samples: int = 4) -> list[dict]:
    rng = np.random.default_rng(2)
    out = []
    for _ in range(samples):
        ids, mask = _left_padded(rng, 2, 8)
        if family == "encoder_classifier":
            out.append({"classify": {"token_ids": ids, "padding_mask": mask}})
        else:
            h, c = (rng.normal(size=(2, 2, 16)).astype("float32") * 0.5 for _ in range(2))
            out.append({"decode": {"token_ids": ids[:, -1], "past_h": h, "past_c": c}})
    return out


@pytest.mark.slow
@pytest.mark.parametrize("family", ["lstm_lm", "encoder_classifier"])
def test_int8_full_quantizes_weights_and_activations(family, exported, tmp_path):
    graphs, saved, float_path = exported(family)
    path = convert_tflite(saved, tmp_path / "full.tflite", "int8-full", _representative(family))
    histogram = check_builtins_only(path)
    assert histogram["QUANTIZE"] >= 1 and histogram["DEQUANTIZE"] >= 1, histogram
    assert path.stat().st_size < float_path.stat().st_size
    runner = LiteRTGraphs(path)
    # Ids and masks stay int32 at the boundary; float inputs stay float32.
    assert {dtype for _, dtype in runner.inputs(runner.names[0]).values()} <= {"int32", "float32"}
    sample = _representative(family, 1)[0]
    ((name, feed),) = sample.items()
    got = runner.run(name, **feed)["logits"]
    want = graphs[name](**feed)["logits"].numpy()
    assert np.abs(got - want).max() < 0.25 * (np.abs(want).max() + 1e-6) + 0.05


@pytest.mark.slow
def test_int8_full_quantizes_a_transformer_lm_with_its_5d_kv_cache(exported, tmp_path):
    # TF 2.21's calibrator (its own TFLite kernels) slices at most 5-D: the cache layout
    # (B, 2 * layers, C, heads, head_dim) keeps every per-layer slice within that.
    graphs, saved, float_path = exported("transformer_lm")
    rng = np.random.default_rng(3)
    samples = []
    for _ in range(4):
        ids, mask = _left_padded(rng, 2, 5)
        cache = graphs["prefill"](token_ids=ids, padding_mask=mask)["cache"].numpy()
        decode = {
            "token_ids": ids[:, :1],
            "positions": np.full((2, 1), 5, "int32"),
            "past_cache": cache,
        }
        samples.append({"prefill": {"token_ids": ids, "padding_mask": mask}, "decode": decode})
    path = convert_tflite(saved, tmp_path / "full.tflite", "int8-full", samples)
    assert check_builtins_only(path)["QUANTIZE"] >= 1
    got = LiteRTGraphs(path).run("decode", **samples[0]["decode"])["logits"]
    want = graphs["decode"](**samples[0]["decode"])["logits"].numpy()
    assert np.isfinite(got).all() and got.shape == want.shape


@pytest.mark.slow
def test_int8_full_needs_samples_for_every_signature(exported, tmp_path):
    _, saved, _ = exported("lstm_lm")
    with pytest.raises(ConfigError, match="needs representative samples"):
        convert_tflite(saved, tmp_path / "x.tflite", "int8-full")
    with pytest.raises(ConfigError, match="unknown signature 'prefill'"):
        convert_tflite(saved, tmp_path / "x.tflite", "int8-full", [{"prefill": {"x": [1]}}])
    assert not list(tmp_path.iterdir())


def test_unknown_quantization_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="'int4'.*float32, fp16, int8, int8-full"):
        convert_tflite(tmp_path, tmp_path / "x.tflite", quantize="int4")


@pytest.fixture(scope="module")
def string_model(tmp_path_factory) -> Path:
    """A SavedModel whose only op (StringLength) has no TFLite builtin."""
    import tensorflow as tf

    module = tf.Module()
    module.length = tf.function(
        lambda text: {"length": tf.strings.length(text)},
        input_signature=[tf.TensorSpec([None], tf.string, name="text")],
    )
    path = tmp_path_factory.mktemp("flex") / "sm"
    tf.saved_model.save(module, str(path), signatures={"length": module.length})
    return path


@pytest.mark.slow
def test_a_failed_conversion_leaves_nothing_and_keeps_the_message(string_model, tmp_path):
    out = tmp_path / "model.tflite"
    out.write_bytes(b"previous")
    with pytest.raises(ExportError, match="StringLength"):
        convert_tflite(string_model, out)
    assert out.read_bytes() == b"previous"  # an existing file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


@pytest.mark.slow
def test_a_crashing_converter_is_an_export_error(exported, tmp_path, monkeypatch):
    _, saved, _ = exported("lstm_lm")
    monkeypatch.setattr(
        tflite, "_worker_command", lambda job: [sys.executable, "-c", "import sys; sys.exit(7)"]
    )
    with pytest.raises(ExportError, match="exited with 7"):
        convert_tflite(saved, tmp_path / "model.tflite")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_check_builtins_only_names_flex_ops(string_model, tmp_path):
    # Select TF ops enabled for this test only, in a subprocess like the real converter.
    out = tmp_path / "flex.tflite"
    code = textwrap.dedent(
        f"""
        import tensorflow as tf
        converter = tf.lite.TFLiteConverter.from_saved_model({str(string_model)!r})
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        open({str(out)!r}, "wb").write(converter.convert())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert op_histogram(out) == {"FlexStringLength": 1}
    with pytest.raises(ExportError, match="FlexStringLength"):
        check_builtins_only(out)
    with pytest.raises(InputError, match="cannot run: FlexStringLength"):
        LiteRTGraphs(out)
    with pytest.raises(InputError, match="not a TFLite flatbuffer"):
        op_histogram(string_model / "saved_model.pb")


def test_the_runner_imports_neither_tensorflow_nor_keras():
    code = (
        "import keras_lm.runtime.litert_runner, keras_lm.export.tflite, sys; "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
