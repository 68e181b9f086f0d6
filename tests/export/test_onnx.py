"""ONNX export: every family's graphs convert, check, keep their names and match TensorFlow in ORT."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

from keras_lm.errors import InputError  # noqa: E402
from keras_lm.export import onnx as onnx_export  # noqa: E402
from keras_lm.export.errors import ExportError  # noqa: E402
from keras_lm.export.onnx import convert_onnx  # noqa: E402
from keras_lm.export.onnx import graph_ops  # noqa: E402
from keras_lm.export.onnx import quantize_onnx_dynamic  # noqa: E402
from keras_lm.export.onnx import quantize_onnx_weight_only  # noqa: E402
from keras_lm.export.signatures import export_graphs  # noqa: E402
from keras_lm.runtime.onnx_runner import OnnxGraphs  # noqa: E402

# (family, config overrides): the tiny lstm_seq2seq is bidirectional; a one-way one too.
CASES = {
    "transformer_lm": ("transformer_lm", {}),
    "llama_lm": ("llama_lm", {}),
    "lstm_lm": ("lstm_lm", {}),
    "transformer_seq2seq": ("transformer_seq2seq", {}),
    "lstm_seq2seq": ("lstm_seq2seq", {"bidirectional": True}),
    "lstm_seq2seq_one_way": ("lstm_seq2seq", {"bidirectional": False}),
    "encoder_classifier": ("encoder_classifier", {}),
}
TOL = 1e-4
VOCAB = 40  # every tiny config's vocabulary


def _build(case: str):
    from keras_lm.models import registry

    family, overrides = CASES[case]
    config = {**registry.get_family(family).config.tiny().to_dict(), **overrides}
    return family, registry.build_model(family, config)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`exported(case)` -> (graphs, {name: onnx path}, OnnxGraphs), built once per module."""
    done: dict[str, tuple] = {}

    def get(case: str):
        if case not in done:
            family, model = _build(case)
            graphs = export_graphs(model, family)
            paths = convert_onnx(graphs, tmp_path_factory.mktemp(case))
            done[case] = (graphs, paths, OnnxGraphs(paths, num_threads=1))
        return done[case]

    return get


def _feed(fn, rng, batch=2, length=5, source=6) -> dict[str, np.ndarray]:
    """Random valid inputs for a graph: ids < VOCAB, padded masks with a real token per row."""
    feed = {}
    for spec in fn.input_signature:
        name = spec.name
        sizes = []
        for axis, dim in enumerate(spec.shape):
            if dim is not None:
                sizes.append(dim)
            elif axis == 0:
                sizes.append(batch)
            elif name.startswith("encoder") or name in ("encoded", "cross_cache"):
                sizes.append(source)
            else:
                sizes.append(length)
        if spec.dtype == tf.float32:
            feed[name] = rng.normal(size=sizes).astype("float32")
        elif name.endswith("padding_mask"):
            mask = np.ones(sizes, "int32")
            for row in range(1, sizes[0]):  # row r: r pads (left of a prompt, right of a source)
                pads = min(row, sizes[1] - 1)
                if name == "padding_mask":
                    mask[row, :pads] = 0
                else:
                    mask[row, sizes[1] - pads :] = 0
            feed[name] = mask
        elif name == "positions":
            feed[name] = rng.integers(0, 12, sizes).astype("int32")
        else:
            feed[name] = rng.integers(5, VOCAB, sizes).astype("int32")
    return feed


def _graph_def_ops(fn) -> set[str]:
    graph_def = fn.get_concrete_function().graph.as_graph_def()
    ops = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_export_graphs_hold_no_xla_ops(case):
    family, model = _build(case)
    for name, fn in export_graphs(model, family).items():
        xla = sorted(op for op in _graph_def_ops(fn) if op.startswith("Xla"))
        assert not xla, f"{case}/{name}: {xla}"


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_graphs_convert_check_keep_names_and_match_tensorflow(case, exported):
    graphs, paths, runner = exported(case)
    assert sorted(paths) == sorted(graphs) and runner.names == list(graphs)
    rng = np.random.default_rng(0)
    for name, fn in graphs.items():
        assert paths[name].name == f"{name}.onnx"
        proto = onnx.load(str(paths[name]))
        onnx.checker.check_model(proto, full_check=True)
        assert {o.domain: o.version for o in proto.opset_import}[""] >= 17
        specs = fn.input_signature
        assert [i.name for i in proto.graph.input] == [s.name for s in specs]
        outputs = fn.get_concrete_function().structured_outputs
        assert sorted(o.name for o in proto.graph.output) == sorted(outputs)
        for spec, value in zip(specs, proto.graph.input, strict=True):  # None axes stay dynamic
            dims = value.type.tensor_type.shape.dim
            assert [None if d.dim_param else d.dim_value for d in dims] == list(spec.shape)
        feed = _feed(fn, rng)
        want = {k: v.numpy() for k, v in fn(**feed).items()}
        got = runner.run(name, **feed)
        assert sorted(got) == sorted(want)
        for key in want:
            assert got[key].shape == want[key].shape, (name, key)
            np.testing.assert_allclose(got[key], want[key], atol=TOL, err_msg=f"{name}/{key}")


@pytest.mark.slow
def test_bidirectional_lstm_encoder_converts_with_padding(exported):
    """Keras' own tests call TF-backend bidirectional LSTM -> ONNX broken; here it converts."""
    graphs, paths, runner = exported("lstm_seq2seq")
    ops = graph_ops(paths["encode"])
    assert ops.get("ReverseSequence") and ops.get("Loop"), ops  # masked backward pass as a loop
    rng = np.random.default_rng(1)
    for batch, source in ((1, 3), (3, 9)):
        ids = rng.integers(5, VOCAB, (batch, source)).astype("int32")
        mask = (np.arange(source)[None] < rng.integers(1, source + 1, (batch, 1))).astype("int32")
        want = graphs["encode"](encoder_token_ids=ids, encoder_padding_mask=mask)
        got = runner.run("encode", encoder_token_ids=ids, encoder_padding_mask=mask)
        for key, value in want.items():
            np.testing.assert_allclose(got[key], value.numpy(), atol=TOL, err_msg=key)
        step = {"token_ids": np.full((batch,), 2, "int32"), "past_h": got["h"], "past_c": got["c"]}
        step.update(encoded=got["encoded"], encoder_padding_mask=mask)
        want = graphs["decode"](**step)
        got = runner.run("decode", **step)
        np.testing.assert_allclose(got["logits"], want["logits"].numpy(), atol=TOL)


def _greedy(prefill, decode, prompts: np.ndarray, mask: np.ndarray, steps: int) -> np.ndarray:
    out = prefill(prompts, mask)
    logits, cache = np.asarray(out["logits"]), np.asarray(out["cache"])
    positions = mask.sum(1, keepdims=True).astype("int32")
    tokens = []
    for _ in range(steps):
        token = logits[:, -1].argmax(-1).astype("int32")[:, None]
        tokens.append(token)
        out = decode(token, positions, cache)
        logits, cache = np.asarray(out["logits"]), np.asarray(out["cache"])
        positions = positions + 1
    return np.concatenate(tokens, 1)


@pytest.mark.slow
def test_transformer_lm_dynamic_axes_decode_step_and_greedy_decoding(exported):
    graphs, _, runner = exported("transformer_lm")
    rng = np.random.default_rng(2)
    for batch, length in ((1, 3), (3, 7)):  # two batch sizes and two prompt lengths
        ids = rng.integers(5, VOCAB, (batch, length)).astype("int32")
        mask = np.ones_like(ids)
        if batch > 1:
            mask[-1, :2] = 0  # a left-padded row
        want = graphs["prefill"](token_ids=ids, padding_mask=mask)
        got = runner.run("prefill", token_ids=ids, padding_mask=mask)
        assert got["logits"].shape == (batch, length, VOCAB)
        for key in ("logits", "cache"):
            np.testing.assert_allclose(got[key], want[key].numpy(), atol=TOL, err_msg=key)
        step = {
            "token_ids": rng.integers(5, VOCAB, (batch, 1)).astype("int32"),
            "positions": mask.sum(1, keepdims=True).astype("int32"),
            "past_cache": got["cache"],
        }
        want = graphs["decode"](**step)
        got = runner.run("decode", **step)
        for key in ("logits", "cache"):
            np.testing.assert_allclose(got[key], want[key].numpy(), atol=TOL, err_msg=key)

    prompts = rng.integers(5, VOCAB, (2, 4)).astype("int32")
    mask = np.array([[1, 1, 1, 1], [0, 1, 1, 1]], "int32")

    def ort_fn(name, keys):
        return lambda *args: runner.run(name, **dict(zip(keys, args, strict=True)))

    want = _greedy(graphs["prefill"], graphs["decode"], prompts, mask, 10)
    got = _greedy(
        ort_fn("prefill", ["token_ids", "padding_mask"]),
        ort_fn("decode", ["token_ids", "positions", "past_cache"]),
        prompts,
        mask,
        10,
    )
    np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_int8_and_weight_only_quantizations_are_smaller_and_close(tmp_path):
    from keras_lm.models import registry

    config = registry.get_family("transformer_lm").config.tiny().to_dict()
    config.update(vocab_size=256, hidden_dim=64)  # big enough for weights to dominate the file
    model = registry.build_model("transformer_lm", config)
    paths = convert_onnx(export_graphs(model, "transformer_lm"), tmp_path)
    int8 = {
        name: quantize_onnx_dynamic(p, tmp_path / f"{name}.int8.onnx") for name, p in paths.items()
    }
    for name in paths:
        assert int8[name].stat().st_size < 0.7 * paths[name].stat().st_size, name
        ops = graph_ops(int8[name])
        assert ops.get("MatMulInteger") and ops.get("DynamicQuantizeLinear"), ops
        assert "Gemm" not in ops or ops["Gemm"] <= 2, ops  # constant-weight Gemms became MatMuls
    assert not list(tmp_path.glob(".*.tmp"))
    float32, quantized = OnnxGraphs(paths, num_threads=1), OnnxGraphs(int8, num_threads=1)
    rng = np.random.default_rng(3)
    ids = rng.integers(5, 256, (2, 12)).astype("int32")
    feed = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    want, got = float32.run("prefill", **feed), quantized.run("prefill", **feed)
    agree = (want["logits"].argmax(-1) == got["logits"].argmax(-1)).mean()
    assert agree >= 0.75, agree
    assert np.corrcoef(want["logits"].ravel(), got["logits"].ravel())[0, 1] > 0.98
    step = {
        "token_ids": ids[:, :1],
        "positions": np.full((2, 1), 12, "int32"),
        "past_cache": want["cache"],
    }
    assert quantized.run("decode", **step)["logits"].shape == (2, 1, 256)
    for bits, min_agree in ((8, 0.9), (4, 0.6)):
        light = {
            name: quantize_onnx_weight_only(p, tmp_path / f"{name}.w{bits}.onnx", bits)
            for name, p in paths.items()
        }
        ops = graph_ops(light["prefill"])
        assert ops.get("MatMulNBits") and "MatMul" in ops, ops  # attention's products stay float
        assert light["prefill"].stat().st_size < 0.7 * paths["prefill"].stat().st_size
        got = OnnxGraphs(light, num_threads=1).run("prefill", **feed)["logits"]
        agree = (want["logits"].argmax(-1) == got.argmax(-1)).mean()
        assert agree >= min_agree, (bits, agree)
    with pytest.raises(ExportError, match="bits must be 4 or 8"):
        quantize_onnx_weight_only(paths["decode"], tmp_path / "x.onnx", bits=2)
    assert not list(tmp_path.glob(".*.tmp"))


def _erfc_fn():
    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32, name="x")])
    def fn(x):
        return {"y": tf.math.erfc(x), "gelu": tf.nn.gelu(x, approximate=False)}

    return fn


def test_erfc_from_exact_gelu_converts(tmp_path):
    paths = convert_onnx({"f": _erfc_fn()}, tmp_path)
    assert "Erf" in graph_ops(paths["f"])
    x = np.linspace(-4, 4, 12, dtype="float32").reshape(4, 3)
    got = OnnxGraphs(paths).run("f", x=x)
    np.testing.assert_allclose(got["y"], tf.math.erfc(x).numpy(), atol=1e-6)
    np.testing.assert_allclose(got["gelu"], tf.nn.gelu(x, approximate=False).numpy(), atol=1e-6)


def test_converter_failure_raises_export_error_and_writes_nothing(tmp_path, monkeypatch):
    import tf2onnx

    def broken(*args, **kwargs):
        raise ValueError("graph input 'cache' not exist")

    monkeypatch.setattr(tf2onnx.convert, "from_function", broken)
    with pytest.raises(ExportError, match=r"'decode'.*graph input 'cache' not exist"):
        convert_onnx({"decode": _erfc_fn()}, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_an_unmapped_op_raises_export_error_and_no_graph_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "_CUSTOM_HANDLERS", {})  # without it, Erfc has no mapping

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.float32, name="x")])
    def fine(x):
        return {"y": x * 2.0}

    with pytest.raises(ExportError, match=r"'bad'.*Erfc"):
        convert_onnx({"fine": fine, "bad": _erfc_fn()}, tmp_path)
    assert not list(tmp_path.iterdir())  # not even the graph that converted


@pytest.mark.slow
def test_runner_names_shapes_and_input_errors(exported):
    _, paths, runner = exported("lstm_lm")
    assert runner.names == ["decode"]
    inputs = runner.inputs("decode")
    assert list(inputs) == ["token_ids", "past_h", "past_c"]
    assert inputs["token_ids"][1] == "int32" and inputs["past_h"][1] == "float32"
    assert isinstance(inputs["past_h"][0][0], str) and inputs["past_h"][0][1:] == (2, 16)
    assert sorted(runner.outputs("decode")) == ["c", "h", "logits"]
    good = {
        "token_ids": np.array([3, 4], "int32"),
        "past_h": np.zeros((2, 2, 16), "float32"),
        "past_c": np.zeros((2, 2, 16), "float32"),
    }
    assert runner.run("decode", **good)["logits"].shape == (2, VOCAB)
    assert runner.run("decode", **{**good, "token_ids": [3, 4]})["h"].shape == (2, 2, 16)
    bad = [
        ({k: v for k, v in good.items() if k != "past_c"}, "past_c", "missing"),
        ({**good, "past_x": good["past_c"]}, "past_x", "unknown"),
        ({**good, "token_ids": good["token_ids"][:, None]}, "token_ids", "rank 1"),
        ({**good, "past_h": good["past_h"].astype("float64")}, "past_h", "dtype float32"),
        ({**good, "past_h": np.zeros((2, 3, 16), "float32")}, "past_h", "axis 1 is fixed at 2"),
        ({**good, "token_ids": [3.5, 4]}, "token_ids", "int32"),
    ]
    for inputs, field, message in bad:
        with pytest.raises(InputError, match=message) as err:
            runner.run("decode", **inputs)
        assert err.value.field == field
    with pytest.raises(InputError, match="no such graph"):
        runner.run("prefill", **good)
    with pytest.raises(InputError, match="not found"):
        OnnxGraphs({"decode": paths["decode"].with_name("missing.onnx")})


def test_runner_imports_neither_tensorflow_nor_keras():
    code = (
        "import sys, keras_lm.runtime.onnx_runner; "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("case", ["transformer_lm", "transformer_seq2seq", "encoder_classifier"])
def test_every_layer_norm_becomes_one_onnx_node(case, exported):
    """tf2onnx's 13-node moments pattern is fused; the numerics are checked by the test above."""
    import keras

    _, model = _build(case)
    norms = sum(isinstance(layer, keras.layers.LayerNormalization) for layer in _all_layers(model))
    _, paths, _ = exported(case)
    for name, path in paths.items():
        ops = graph_ops(path)
        assert "GlobalAveragePool" not in ops, f"{name}: an unfused layer norm is left"
        assert 0 < ops.get("LayerNormalization", 0) <= norms, (name, ops.get("LayerNormalization"))


def _all_layers(layer):
    for sub in getattr(layer, "_layers", None) or getattr(layer, "layers", []):
        yield sub
        yield from _all_layers(sub)


def test_layer_norm_fusion_is_exact_and_only_over_the_last_axis_of_3d():
    import onnxruntime as ort
    from onnx import helper

    from keras_lm.export.onnx_fusions import _moments_graph
    from keras_lm.export.onnx_fusions import fuse_layer_norms

    x = np.random.default_rng(0).standard_normal((1, 1, 6)).astype(np.float32) * 3 + 1
    want = ort.InferenceSession(_moments_graph(6).SerializeToString()).run(None, {"x": x})[0]
    fused = _moments_graph(6)
    assert fuse_layer_norms(fused) == 1
    got = ort.InferenceSession(fused.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert {i.name for i in fused.graph.initializer} == {n for n in fused.graph.node[0].input[1:]}

    four_d = _moments_graph(
        6
    )  # GlobalAveragePool of a 4-D tensor averages two axes: not a layer norm
    four_d.graph.input[0].CopyFrom(helper.make_tensor_value_info("x", 1, [1, 2, 3, 6]))
    four_d.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", 1, [1, 2, 3, 6]))
    assert fuse_layer_norms(four_d) == 0 and len(four_d.graph.node) == 13


def test_layer_norm_fusion_takes_the_2d_reduce_mean_form_of_a_decode_step():
    """A decode step's activations are (B, D): tf2onnx writes their moments with ReduceMean."""
    import onnxruntime as ort

    from keras_lm.export.onnx_fusions import _moments_graph
    from keras_lm.export.onnx_fusions import fuse_layer_norms

    x = np.random.default_rng(1).standard_normal((1, 6)).astype(np.float32) * 2 - 1
    want = ort.InferenceSession(_moments_graph(6, rank=2).SerializeToString()).run(None, {"x": x})
    fused = _moments_graph(6, rank=2)
    assert fuse_layer_norms(fused) == 1 and [n.op_type for n in fused.graph.node] == [
        "LayerNormalization"
    ]
    got = ort.InferenceSession(fused.SerializeToString()).run(None, {"x": x})
    np.testing.assert_allclose(got[0], want[0], atol=1e-5)
    first_axis = _moments_graph(6, rank=2)  # a mean over the batch axis is not a layer norm
    for node in first_axis.graph.node:
        for attribute in node.attribute:
            if attribute.name == "axes":
                attribute.ints[:] = [0]
    assert fuse_layer_norms(first_axis) == 0


def test_the_gelu_scale_becomes_the_division_onnx_runtime_fuses():
    """tf2onnx's `x * 0.5 * (1 + erf(x * 0.7071))`: same values, and ORT runs it as one Gelu."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto
    from onnx import helper
    from onnx import numpy_helper

    from keras_lm.export.onnx_fusions import gelu_scales_as_division

    n = helper.make_node
    consts = {"inv": np.float32(1 / np.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5)}
    consts["w"] = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    nodes = [
        n("MatMul", ["x", "w"], ["h"]),
        n("Mul", ["h", "inv"], ["d"]),
        n("Erf", ["d"], ["e"]),
        n("Add", ["one", "e"], ["a"]),
        n("Mul", ["h", "half"], ["hh"]),
        n("Mul", ["hh", "a"], ["y"]),
    ]
    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes,
        "gelu",
        [value("x", TensorProto.FLOAT, [2, 4])],
        [value("y", TensorProto.FLOAT, [2, 4])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    want = ort.InferenceSession(proto.SerializeToString()).run(None, {"x": x})[0]
    assert gelu_scales_as_division(proto) == 1
    assert [node.op_type for node in proto.graph.node][1] == "Div"
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(Path(tempfile.mkdtemp()) / "optimized.onnx")
    got = ort.InferenceSession(proto.SerializeToString(), options).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-6)
    fused = [node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node]
    assert "Gelu" in fused and "Erf" not in fused, fused
