"""The typed manifest: what export writes is read back, and anything else is refused by field."""

from __future__ import annotations

import dataclasses
import json

import pytest

from keras_lm.errors import InputError
from keras_lm.inference.manifest import Manifest
from keras_lm.inference.manifest import Variant

HEAD = {"format_version": 1, "name": "tiny", "family": "lstm_lm", "task": "lm", "variants": []}
VARIANT = {"format": "onnx", "quantization": "float32", "path": "onnx/float32", "bytes": 10}
ENTRY = {"sha256": "0" * 64, "bytes": 10}
# What a bundle with VARIANT lists: the variant's one graph, and the tokenizer the runtime loads.
FILES = {"onnx/float32/decode.onnx": ENTRY, "tokenizer/tokenizer.json": ENTRY}
WITH_VARIANT = {**HEAD, "variants": [VARIANT], "files": FILES}


def write(folder, data) -> None:
    text = data if isinstance(data, (str, bytes)) else json.dumps(data)
    path = folder / "manifest.json"
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)


def test_round_trip_keeps_every_field_and_the_extras(tmp_path):
    manifest = Manifest.from_dict(
        {
            **HEAD,
            "variants": [VARIANT],
            "files": FILES,
            "facts": {"state_shape": [1, 16]},
            "params": 123,
            "source_run": "runs/x",
        }
    )
    manifest.write(tmp_path)
    again = Manifest.read(tmp_path)
    assert again == manifest
    assert again.variant("onnx", "float32") == Variant(**VARIANT)
    assert again.extra == {"params": 123, "source_run": "runs/x"}
    assert json.loads((tmp_path / "manifest.json").read_text())["params"] == 123


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"format_version": 1, "na', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ("{}", "missing field format_version"),
        ({**HEAD, "format_version": 99}, "format_version 99 is not one this keras_lm reads"),
        ({**HEAD, "family": 7}, "field family: expected str"),
        ({**HEAD, "variants": [{**VARIANT, "path": "../outside.onnx"}]}, "leaves the bundle"),
        ({**HEAD, "variants": [{**VARIANT, "path": "/etc"}]}, "leaves the bundle"),
        (
            {**HEAD, "files": {"tokenizer/../../../etc/passwd": {"sha256": "0"}}},
            "leaves the bundle",
        ),
        ({**HEAD, "files": {"tokenizer/vocab.txt": "abc"}}, r"files\['tokenizer/vocab.txt'\]"),
        ({**HEAD, "variants": [{**VARIANT, "bytes": "10"}]}, r"variants\[0\].bytes: expected int"),
        ({**HEAD, "variants": ["onnx"]}, r"variants\[0\]: expected an object"),
        ('{"format_version": ' + "1" * 5000 + "}", "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
        ({**WITH_VARIANT, "task": "poetry"}, r"field task: expected one of \['lm'"),
        ({**WITH_VARIANT, "variants": [{**VARIANT, "format": "pdf"}]}, r"variants\[0\].format"),
        ({**WITH_VARIANT, "variants": [{**VARIANT, "quantization": "int3"}]}, "quantization"),
        ({**WITH_VARIANT, "variants": [{**VARIANT, "bytes": -1}]}, "expected a size from 0"),
        ({**HEAD, "files": {"a.onnx": {**ENTRY, "sha256": "ab"}}}, "64 lowercase hex digits"),
        ({**HEAD, "files": {"a.onnx": {**ENTRY, "bytes": 2**50}}}, "expected a size from 0"),
        ({**HEAD, "files": {"a.onnx": {**ENTRY, "bytes": True}}}, r"\.bytes: expected int"),
        ({**HEAD, "files": {"a.onnx": {"sha256": "0" * 64}}}, r"missing field files.*bytes"),
        ({**HEAD, "files": {"onnx/./a.onnx": ENTRY}}, "is not normalised"),
        ({**HEAD, "files": {"onnx//a.onnx": ENTRY}}, "is not normalised"),
        ({**HEAD, "files": {"onnx/a.onnx\x00": ENTRY}}, "control character"),
        ({**HEAD, "files": {"C:\\x.onnx": ENTRY}}, "leaves the bundle"),
        ({**WITH_VARIANT, "variants": [{**VARIANT, "path": "onnx/float32/"}]}, "not normalised"),
        (
            {**WITH_VARIANT, "files": {"tokenizer/tokenizer.json": ENTRY}},
            r"variants\[0\].path: 'onnx/float32' \(onnx/float32\) has no file in `files`",
        ),
        (
            {**WITH_VARIANT, "files": {"onnx/float32/decode.onnx": ENTRY}},
            "expected 'tokenizer/tokenizer.json' listed",
        ),
        ({**HEAD, "tokenizer": "../tokenizer.json"}, "field tokenizer: expected one of"),
        ({**HEAD, "labels": ["a", 1]}, "labels: expected a list of str"),
        ({**HEAD, "specials": {"pad_id": "0"}}, "specials.pad_id: expected int"),
        ({**HEAD, "facts": {"context": "32"}}, "facts.context: expected int"),
        ({**HEAD, "train_config": {"data": []}}, "train_config.data: expected dict"),
        ({**HEAD, "train_config": {"data": {"overflow": "x"}}}, "data.overflow: expected one of"),
        ({**HEAD, "train_config": {"data": {"max_length": "64"}}}, "data.max_length: expected"),
    ],
)
def test_a_bad_manifest_is_one_error_naming_the_file_and_field(tmp_path, content, message):
    write(tmp_path, content)
    with pytest.raises(InputError, match=message) as err:
        Manifest.read(tmp_path)
    assert "manifest.json" in str(err.value)


def test_a_folder_without_a_manifest_is_not_a_bundle(tmp_path):
    with pytest.raises(InputError, match="not an export bundle"):
        Manifest.read(tmp_path)


def test_an_absent_variant_lists_the_others(tmp_path):
    write(tmp_path, WITH_VARIANT)
    with pytest.raises(
        InputError, match=r"no tflite/int8 variant; the bundle has \['onnx/float32'\]"
    ):
        Manifest.read(tmp_path).variant("tflite", "int8", tmp_path)


def test_a_manifest_written_before_the_redesign_reads_unchanged():
    """`tests/fixtures/manifest-v1-transformer-lm.json` is the manifest keras_lm wrote at commit
    fc98eed (format 1, before the typed reader) for a tiny transformer_lm, TFLite and ONNX."""
    from pathlib import Path

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "manifest-v1-transformer-lm.json"
    raw = json.loads(fixture.read_text(encoding="utf-8"))
    manifest = Manifest.from_dict(raw, fixture)
    assert (manifest.format_version, manifest.family, manifest.task) == (1, "transformer_lm", "lm")
    assert [v.key for v in manifest.variants] == [
        f"{v['format']}/{v['quantization']}" for v in raw["variants"]
    ]
    assert manifest.variant("onnx", "float32").verification == raw["variants"][1]["verification"]
    assert manifest.facts["cache_shape"] == raw["facts"]["cache_shape"]
    assert set(manifest.files) == set(raw["files"]) and manifest.extra["params"] == raw["params"]
    assert all(v.contract == "graph_cache" for v in manifest.variants)  # its decode graphs' kind
    # Nothing lost on a round trip; the one field added is that default, now written out.
    variants = [{**v, "contract": "graph_cache"} for v in raw["variants"]]
    assert manifest.to_dict() == {**raw, "variants": variants}


def test_a_variants_cache_contract_is_read_checked_and_defaults_for_older_bundles():
    older = Manifest.from_dict(WITH_VARIANT)
    assert older.variants[0].contract == "graph_cache"  # written before the field existed
    newer = Manifest.from_dict(
        {**WITH_VARIANT, "variants": [{**VARIANT, "contract": "runtime_cache"}]}
    )
    assert newer.variants[0].contract == "runtime_cache"
    with pytest.raises(InputError, match=r"variants\[0\]\.contract: expected one of"):
        Manifest.from_dict({**WITH_VARIANT, "variants": [{**VARIANT, "contract": "anything"}]})


def test_an_oversized_manifest_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from keras_lm.inference import manifest

    write(tmp_path, WITH_VARIANT)
    monkeypatch.setattr(manifest, "MAX_MANIFEST_BYTES", 100)
    with pytest.raises(InputError, match="expected a manifest of at most 100 bytes"):
        Manifest.read(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variants": (Variant("onnx", "float32", "../outside"),)}, "leaves the bundle"),
        ({"variants": (Variant("onnx", "float32", "onnx/int8"),)}, "has no file in `files`"),
        ({"files": {**FILES, "/etc/passwd": ENTRY}}, "leaves the bundle"),
        ({"files": {**FILES, "tokenizer/tokenizer.json": {"sha256": "x"}}}, "sha256"),
        ({"task": "poetry"}, "field task"),
    ],
)
def test_write_refuses_what_read_would_refuse_and_writes_nothing(tmp_path, change, message):
    good = Manifest.from_dict(WITH_VARIANT)
    good.write(tmp_path / "good")  # the unchanged one is written
    bad = dataclasses.replace(good, **change)
    with pytest.raises(InputError, match=message):
        bad.write(tmp_path)
    assert not (tmp_path / "manifest.json").exists()
