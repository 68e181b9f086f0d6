"""`keras_lm.bench.mobile` and `keras-lm bench mobile`: the report a mobile developer reads first."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest

from keras_lm.bench.mobile import format_markdown
from keras_lm.bench.mobile import mobile_report
from keras_lm.cli.bench_mobile import register_mobile
from keras_lm.errors import ConfigError
from keras_lm.errors import InputError
from keras_lm.export.tflite import op_histogram
from keras_lm.io import sha256_file

BUNDLES = {"tiny-transformer-lm": ("int8",), "tiny-lstm-lm": ()}
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def reports(tiny_bundle):
    """name -> (bundle, manifest, report), each report made once (5 timed calls)."""
    made = {}

    def get(name: str):
        if name not in made:
            bundle = tiny_bundle(name, BUNDLES[name])
            manifest = json.loads((bundle / "manifest.json").read_text())
            made[name] = (bundle, manifest, mobile_report(bundle, threads=(1, 2), repeats=5))
        return made[name]

    return get


def tflite_variants(manifest: dict) -> list[dict]:
    return [v for v in manifest["variants"] if v["format"] == "tflite"]  # the raw JSON


def cli(args: list[str]):
    parser = argparse.ArgumentParser(prog="keras-lm bench")
    register_mobile(parser.add_subparsers(dest="bench_command", required=True))
    parsed = parser.parse_args(args)
    return parsed.run(parsed)


@slow
@pytest.mark.parametrize("name", list(BUNDLES))
def test_every_tflite_variant_is_reported_with_its_size_and_hash(reports, name):
    bundle, manifest, report = reports(name)
    json.dumps(report)  # JSON-serialisable as it is
    expected = [(v["quantization"], v["path"]) for v in tflite_variants(manifest)]
    assert [(v["quantization"], v["path"]) for v in report["variants"]] == expected
    if name == "tiny-transformer-lm":
        assert [q for q, _ in expected] == ["float32", "int8"]
    for variant in report["variants"]:
        assert variant["bytes"] == (bundle / variant["path"]).stat().st_size > 0
        assert variant["sha256_matches_manifest"] is True
        assert variant["verified_at_export"] is True


@slow
@pytest.mark.parametrize("name", list(BUNDLES))
def test_op_histogram_matches_two_independent_readers_and_is_builtin_only(reports, name):
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.interpreter import OpResolverType

    bundle, _, report = reports(name)
    for variant in report["variants"]:
        path = bundle / variant["path"]
        assert variant["op_histogram"] == op_histogram(path)
        assert variant["ops"] == sum(variant["op_histogram"].values())
        assert variant["builtin_only"] is True and variant["custom_ops"] == []
        assert "error" not in variant
        # The C++ interpreter's own node list, for subgraph 0 (all it lists), no delegates.
        interpreter = Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        names = [op["op_name"] for op in interpreter._get_ops_details()]
        first = next(s for s in variant["signatures"].values() if s["subgraph"] == 0)
        assert first["op_histogram"] == {op: names.count(op) for op in sorted(set(names))}
        total = {}
        for signature in variant["signatures"].values():
            for op, count in signature["op_histogram"].items():
                total[op] = total.get(op, 0) + count
        assert total == variant["op_histogram"]  # no subgraph outside the signatures here


@slow
@pytest.mark.parametrize("name", list(BUNDLES))
def test_signatures_have_the_manifest_names_shapes_and_dtypes(reports, name):
    """Each file's signatures are the ones its manifest variant records (its own graphs:
    a transformer LM's TFLite holds the runtime-cache graphs, not the SavedModel's)."""
    _, manifest, report = reports(name)
    for variant, recorded in zip(report["variants"], tflite_variants(manifest), strict=True):
        assert set(variant["signatures"]) == set(recorded["inputs"]) == set(recorded["outputs"])
        for graph, signature in variant["signatures"].items():
            inputs = {t["name"]: t["shape"] for t in signature["inputs"]}
            assert inputs == recorded["inputs"][graph]
            outputs = {t["name"]: t["shape"] for t in signature["outputs"]}
            assert outputs == recorded["outputs"][graph]
            kinds = {t["dtype"] for t in signature["inputs"] + signature["outputs"]}
            assert kinds <= {"int32", "float32"}, kinds
            if recorded["contract"] == "graph_cache" and graph in manifest["graphs"]:
                spec = manifest["graphs"][graph]  # the same graphs as the SavedModel's
                assert {t["name"] for t in spec["inputs"]} == set(inputs)
            for key, shape in inputs.items():  # batch 1, fixed axes kept
                fed = signature["fed"][key]
                assert fed[0] == 1 and all(s in (None, f) for s, f in zip(shape, fed, strict=True))


@slow
@pytest.mark.parametrize("name", list(BUNDLES))
def test_timings_are_positive_at_one_and_two_threads(reports, name):
    _, _, report = reports(name)
    for variant in report["variants"]:
        for signature in variant["signatures"].values():
            timings = signature["timings"]
            assert [t["threads"] for t in timings] == [1, 2]
            assert all(0 < t["min_ms"] <= t["p50_ms"] <= t["p90_ms"] for t in timings)


@slow
@pytest.mark.parametrize("name", list(BUNDLES))
def test_arena_holds_at_least_the_signature_inputs_and_outputs(reports, name):
    from keras_lm.runtime.litert_runner import LiteRTGraphs

    bundle, _, report = reports(name)
    for variant in report["variants"]:
        graphs = LiteRTGraphs(bundle / variant["path"])
        for graph, signature in variant["signatures"].items():
            dtypes = {key: dtype for key, (_, dtype) in graphs.inputs(graph).items()}
            feed = {key: np.zeros(shape, dtypes[key]) for key, shape in signature["fed"].items()}
            outputs = graphs.run(graph, **feed)
            io_bytes = sum(v.nbytes for v in feed.values()) + sum(
                v.nbytes for v in outputs.values()
            )
            # Inputs and outputs are non-constant tensors of the subgraph, so a lower bound;
            # a 16-wide two-layer model at its tiny context needs far less than 16 MiB.
            assert io_bytes <= signature["arena_bytes"] < 16 * 2**20
        memory = variant["memory"]
        assert "error" not in memory, memory
        if sys.platform.startswith("linux"):
            assert all(isinstance(memory[k], int) for k in ("rss_load_bytes", "rss_allocate_bytes"))
    if name == "tiny-transformer-lm":
        # One decode step holds far less than a prefill over the whole context.
        for variant in report["variants"]:
            signatures = variant["signatures"]
            longest = max(
                (s for s in signatures if s.startswith("prefill")),
                key=lambda s: signatures[s]["fed"]["token_ids"][1],
            )
            assert signatures["decode"]["arena_bytes"] < signatures[longest]["arena_bytes"]


@slow
@pytest.mark.parametrize("name", list(BUNDLES))
def test_markdown_has_a_section_and_tables_per_variant(reports, name):
    _, _, report = reports(name)
    text = format_markdown(report)
    for variant in report["variants"]:
        assert f"## {variant['path']} ({variant['quantization']})" in text
        for signature in variant["signatures"]:
            assert f"| {signature} | 2 |" in text  # its timing row at two threads
    assert "| FULLY_CONNECTED |" in text and "p50 ms" in text and "fed shape" in text
    assert text.count("| size | sha256") == len(report["variants"])


@slow
def test_the_report_runs_without_tensorflow_or_keras(tiny_bundle):
    bundle = tiny_bundle("tiny-transformer-lm", BUNDLES["tiny-transformer-lm"])
    code = (
        "import sys, json; from keras_lm.bench.mobile import mobile_report, format_markdown\n"
        f"report = mobile_report({str(bundle)!r}, threads=(1,), repeats=1); format_markdown(report)\n"
        "print(json.dumps([m for m in ('tensorflow', 'keras') if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@slow
def test_cli_prints_the_markdown_and_writes_json_and_md(tiny_bundle, tmp_path, capsys):
    bundle = tiny_bundle("tiny-lstm-lm", BUNDLES["tiny-lstm-lm"])
    out = tmp_path / "out"
    assert cli(["mobile", str(bundle), "--threads", "1", "--repeats", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((out / "mobile.json").read_text())
    assert saved["threads"] == [1] and saved["repeats"] == 2 and "command" in saved
    assert "tflite/model.float32.tflite (float32)" in printed
    assert (out / "mobile.md").read_text().strip() == printed.strip()


def test_importing_the_module_loads_no_tensorflow_or_keras():
    code = (
        "import sys, json, keras_lm.bench.mobile, keras_lm.cli.bench_mobile\n"
        "print(json.dumps([m for m in ('tensorflow', 'keras') if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_a_bad_bundle_path_is_named(tmp_path):
    missing = tmp_path / "no-such-bundle"
    with pytest.raises(InputError, match=r"no-such-bundle: no such bundle folder"):
        mobile_report(missing)
    with pytest.raises(InputError, match=r"no-such-bundle: no such bundle folder"):
        cli(["mobile", str(missing), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="not an export bundle"):
        mobile_report(tmp_path)
    entry = {"sha256": "0" * 64, "bytes": 1}
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                **MANIFEST_HEAD,
                "variants": [{"format": "onnx", "quantization": "float32", "path": "onnx"}],
                "files": {"onnx/decode.onnx": entry, "tokenizer/tokenizer.json": entry},
            }
        )
    )
    with pytest.raises(InputError, match=r"no tflite variant.*onnx/float32"):
        mobile_report(tmp_path)


def test_bad_threads_and_repeats_are_config_errors(tmp_path):
    flex_bundle(tmp_path)
    with pytest.raises(ConfigError, match="threads"):
        mobile_report(tmp_path, threads=(0,))
    with pytest.raises(ConfigError, match="repeats"):
        mobile_report(tmp_path, repeats=0)
    with pytest.raises(ConfigError, match="--threads"):
        cli(["mobile", str(tmp_path), "--threads", "1,x"])


# The fields every manifest has (the reader refuses one without them).
MANIFEST_HEAD = {"format_version": 1, "name": "fake", "family": "transformer_lm", "task": "lm"}


def flex_tflite() -> bytes:
    """A two-op flatbuffer: ADD, then the Flex op FlexStringLength (LiteRT cannot run it)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    def code(builtin: int, custom: str | None = None):
        c = schema.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.customCode = builtin, min(builtin, 127), custom
        return c

    def tensor(name: str):
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = [1], schema.TensorType.FLOAT32, 0, name
        return t

    def op(index: int, inputs: list[int], outputs: list[int]):
        o = schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = index, inputs, outputs
        return o

    graph = schema.SubGraphT()
    graph.tensors = [tensor("x"), tensor("y"), tensor("z")]
    graph.inputs, graph.outputs = [0], [2]
    graph.operators = [op(0, [0, 0], [1]), op(1, [1], [2])]
    model = schema.ModelT()
    model.version, model.subgraphs, model.buffers = 3, [graph], [schema.BufferT()]
    model.operatorCodes = [
        code(schema.BuiltinOperator.ADD),
        code(schema.BuiltinOperator.CUSTOM, "FlexStringLength"),
    ]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def listed(folder, *names: str) -> dict:
    """`files` entries of `names`, as export writes them."""
    return {
        name: {"sha256": sha256_file(folder / name), "bytes": (folder / name).stat().st_size}
        for name in names
    }


def tflite_bundle(folder, content: bytes):
    """A bundle of one `.tflite` file, listed with its sha256 (and a stand-in tokenizer)."""
    (folder / "tflite").mkdir()
    (folder / "tokenizer").mkdir()
    (folder / "tflite" / "model.float32.tflite").write_bytes(content)
    (folder / "tokenizer" / "tokenizer.json").write_text("{}")
    variant = {"format": "tflite", "quantization": "float32", "path": "tflite/model.float32.tflite"}
    files = listed(folder, variant["path"], "tokenizer/tokenizer.json")
    (folder / "manifest.json").write_text(
        json.dumps({**MANIFEST_HEAD, "name": "flex", "variants": [variant], "files": files})
    )
    return folder


def flex_bundle(folder):
    return tflite_bundle(folder, flex_tflite())


def test_a_flex_op_is_named_as_a_failure(tmp_path):
    report = mobile_report(flex_bundle(tmp_path), threads=(1,), repeats=1)
    (variant,) = report["variants"]
    assert variant["builtin_only"] is False and variant["custom_ops"] == ["FlexStringLength"]
    assert variant["op_histogram"] == {"ADD": 1, "FlexStringLength": 1}
    assert variant["op_histogram"] == op_histogram(tmp_path / variant["path"])
    assert "Select TF ops" in variant["error"] and "signatures" not in variant
    assert variant["sha256_matches_manifest"] is True
    text = format_markdown(report)
    assert "**NO**: FlexStringLength" in text and "**Not runnable:**" in text


@pytest.mark.parametrize(
    ("attack", "message"),
    [
        (lambda b: None, "not a valid TFLite flatbuffer"),  # listed garbage
        (lambda b: (b / "manifest.json").write_bytes(b"\xff\xfe\x00"), "not valid JSON"),
        (lambda b: (b / "tflite/model.float32.tflite").write_bytes(b"x" * 776), "sha256 differs"),
        (lambda b: (b / "tflite/model.float32.tflite").write_bytes(b"x"), "records 776"),
    ],
)
def test_a_garbage_changed_or_unreadable_bundle_is_one_input_error(tmp_path, attack, message):
    bundle = tflite_bundle(tmp_path, b"\x18\x00\x00\x00TFL3" + bytes(range(256)) * 3)
    attack(bundle)
    with pytest.raises(InputError, match=message) as err:
        cli(["mobile", str(bundle), "--out", str(tmp_path / "out")])
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


@slow
def test_xnnpack_takes_every_matmul_of_the_transformer_decode_graph(reports):
    """The runtime-cache decode graph is one delegate partition in all but the cheapest ops."""
    _, _, report = reports("tiny-transformer-lm")
    for variant in report["variants"]:
        found = variant["delegation"]
        assert found["signature"] == "decode"
        assert found["matmul_nodes_left_out"] == 0 and found["delegated_flops_share"] >= 0.95
        assert 1 <= found["partitions"] <= 2 and found["delegated_nodes"] <= found["nodes"]
        assert "XNNPACK on `decode`" in format_markdown(report)
