"""A bundle is untrusted input (issue 20): a corpus of malicious bundles, each refused with
its own one-line message before any graph is opened, and a fuzzed manifest that never makes
the loader open a file outside the bundle.

The corpus runs on a stand-in bundle (export's layout, a real char tokenizer, garbage model
bytes: every check comes before the model files are parsed) and, marked slow, on a real
exported one, which loads untouched.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given

from keras_lm.errors import InputError
from keras_lm.inference.manifest import Manifest
from keras_lm.runtime import bundle as runtime_bundle
from keras_lm.runtime.bundle import load_bundle
from keras_lm.tokenizers import CharTokenizer
from tests.conftest import TINY_LINES
from tests.inference.fuzzing import fuzz_settings
from tests.inference.fuzzing import mutated

TFLITE = "tflite/model.float32.tflite"
ONNX = "onnx/float32"
DECODE = f"{ONNX}/decode.onnx"
VOCAB = "tokenizer/vocab.json"
# Bytes that start like a flatbuffer (a root offset, then "TFL3") and are garbage after it.
GARBAGE_TFLITE = b"\x18\x00\x00\x00TFL3" + bytes(range(256)) * 3
GARBAGE_ONNX = b"\x08\x07not a protobuf\xff" * 40


def entry_of(path: Path) -> dict:
    data = path.read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def listed(folder: Path) -> dict:
    """`files` as export writes it: every file but the manifest, with its sha256 and size."""
    return {
        p.relative_to(folder).as_posix(): entry_of(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def stand_in_bundle(folder: Path) -> Path:
    """A transformer_lm bundle as export lays it out: TFLite and ONNX float32 (garbage
    bytes) and a real char tokenizer."""
    CharTokenizer.train(TINY_LINES).save(folder / "tokenizer")
    (folder / "tflite").mkdir()
    (folder / TFLITE).write_bytes(GARBAGE_TFLITE)
    (folder / ONNX).mkdir(parents=True)
    for graph in ("decode", "prefill"):
        (folder / ONNX / f"{graph}.onnx").write_bytes(GARBAGE_ONNX)
    files = listed(folder)
    variants = [
        {"format": "tflite", "quantization": "float32", "path": TFLITE, "bytes": 100},
        {"format": "onnx", "quantization": "float32", "path": ONNX, "bytes": 100},
    ]
    head = {"format_version": 1, "name": "stand-in", "family": "transformer_lm", "task": "lm"}
    manifest = {**head, "facts": {"context": 32}, "variants": variants, "files": files}
    Manifest.from_dict(manifest).write(folder)
    return folder


def edit_manifest(bundle: Path, change: Callable[[dict], object]) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def relist(bundle: Path, rel: str) -> None:
    """Record `rel`'s current sha256 and size in the manifest, as a forger would."""
    edit_manifest(bundle, lambda m: m["files"].update({rel: entry_of(bundle / rel)}))


def variant_of(manifest: dict, key: str) -> dict:
    return next(v for v in manifest["variants"] if f"{v['format']}/{v['quantization']}" == key)


def outside(bundle: Path, name: str, content: bytes = b"secret\n") -> Path:
    path = bundle.parent / name
    path.write_bytes(content)
    return path


def move_out(bundle: Path, rel: str) -> None:
    """Move `rel` beside the bundle and leave a symlink to it: same bytes, same sha256."""
    target = bundle.parent / f"outside-{Path(rel).name}"
    shutil.move(bundle / rel, target)
    (bundle / rel).symlink_to(target, target_is_directory=target.is_dir())


# --- the attacks: each mutates a copy of a good bundle and returns the backend it loads ---


def traversal_in_files(b: Path) -> str:
    secret = outside(b, "outside.bin")
    edit_manifest(b, lambda m: m["files"].update({"tokenizer/../../outside.bin": entry_of(secret)}))
    return "onnx"


def traversal_in_variant_path(b: Path) -> str:
    shutil.copy(b / TFLITE, b.parent / "outside_model.tflite")
    edit_manifest(
        b, lambda m: variant_of(m, "tflite/float32").update(path="../outside_model.tflite")
    )
    return "tflite"


def absolute_variant_path(b: Path) -> str:
    model = shutil.copy(b / TFLITE, b.parent / "outside_model.tflite")
    edit_manifest(b, lambda m: variant_of(m, "tflite/float32").update(path=str(model)))
    return "tflite"


def absolute_files_path(b: Path) -> str:
    secret = outside(b, "outside.bin")
    edit_manifest(b, lambda m: m["files"].update({str(secret): entry_of(secret)}))
    return "onnx"


def symlinked_model_out(b: Path) -> str:
    move_out(b, TFLITE)
    return "tflite"


def symlinked_variant_folder_out(b: Path) -> str:
    move_out(b, ONNX)
    return "onnx"


def symlinked_tokenizer_out(b: Path) -> str:
    move_out(b, "tokenizer")
    return "onnx"


def unlisted_onnx(b: Path) -> str:
    shutil.copy(b / DECODE, b / ONNX / "evil.onnx")
    return "onnx"


def removed_model_entry(b: Path) -> str:
    edit_manifest(b, lambda m: m["files"].pop(TFLITE))
    (b / TFLITE).write_bytes(GARBAGE_TFLITE + b"swapped in")
    return "tflite"


def removed_graph_entry(b: Path) -> str:
    edit_manifest(b, lambda m: m["files"].pop(DECODE))
    return "onnx"


def removed_tokenizer_entry(b: Path) -> str:
    edit_manifest(b, lambda m: m["files"].pop(VOCAB))
    return "onnx"


def mismatched_hash(b: Path) -> str:
    edit_manifest(b, lambda m: m["files"][DECODE].update(sha256="0" * 64))
    return "onnx"


def same_size_swap(b: Path) -> str:
    data = bytearray((b / TFLITE).read_bytes())
    data[-1] ^= 0xFF
    (b / TFLITE).write_bytes(bytes(data))
    return "tflite"


def other_size(b: Path) -> str:
    with open(b / DECODE, "ab") as f:
        f.write(b"\0")
    return "onnx"


def huge_declared_size(b: Path) -> str:
    edit_manifest(b, lambda m: m["files"][TFLITE].update(bytes=2**50))
    return "tflite"


def garbage_tflite(b: Path) -> str:
    (b / TFLITE).write_bytes(GARBAGE_TFLITE + b"forged")
    relist(b, TFLITE)
    return "tflite"


def garbage_onnx(b: Path) -> str:
    (b / DECODE).write_bytes(GARBAGE_ONNX + b"forged")
    relist(b, DECODE)
    return "onnx"


def external_data_out(b: Path) -> str:
    """A valid `.onnx` (listed, hash matching) whose weights are external data outside the bundle."""
    import numpy as np
    import onnx
    from onnx import TensorProto
    from onnx import helper

    weights = onnx.numpy_helper.from_array(np.ones(4, np.float32), "w")
    weights.data_location = TensorProto.EXTERNAL
    for key, value in {"location": "../../../outside.bin", "offset": "0", "length": "16"}.items():
        weights.external_data.add(key=key, value=value)
    x, y = (helper.make_tensor_value_info(n, TensorProto.FLOAT, [4]) for n in "xy")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [weights]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    outside(b, "outside.bin", bytes(16))
    (b / DECODE).write_bytes(model.SerializeToString())
    relist(b, DECODE)
    return "onnx"


def manifest_bytes(content: bytes) -> Callable[[Path], str]:
    def attack(b: Path) -> str:
        (b / "manifest.json").write_bytes(content)
        return "onnx"

    return attack


def tampered_tokenizer(b: Path) -> str:
    with open(b / VOCAB, "ab") as f:
        f.write(b" ")
    return "onnx"


def tampered_tokenizer_relisted(b: Path) -> str:
    vocab = json.loads((b / VOCAB).read_text())
    (b / VOCAB).write_text(json.dumps(vocab[::-1]))
    relist(b, VOCAB)
    return "onnx"


def unknown_version(b: Path) -> str:
    edit_manifest(b, lambda m: m.update(format_version=99))
    return "onnx"


def wrong_task(b: Path) -> str:
    edit_manifest(b, lambda m: m.update(task="classify"))
    return "onnx"


# (attack, the file the error names, the message): each refused before any graph is opened.
CORPUS = {
    "traversal in files": (traversal_in_files, "manifest.json", "leaves the bundle"),
    "traversal in a variant path": (
        traversal_in_variant_path,
        "manifest.json",
        r"variants\[\d\]\.path: '\.\./outside_model\.tflite' leaves the bundle",
    ),
    "absolute variant path": (absolute_variant_path, "manifest.json", "leaves the bundle"),
    "absolute files path": (absolute_files_path, "manifest.json", "leaves the bundle"),
    "symlinked model out": (symlinked_model_out, TFLITE, "outside the bundle \\(a symlink\\?\\)"),
    "symlinked variant folder out": (symlinked_variant_folder_out, ONNX, "outside the bundle"),
    "symlinked tokenizer out": (symlinked_tokenizer_out, "tokenizer", "outside the bundle"),
    "unlisted onnx": (unlisted_onnx, "evil.onnx", "not listed in manifest.json `files`"),
    "removed model entry": (removed_model_entry, "manifest.json", "has no file in `files`"),
    "removed graph entry": (removed_graph_entry, DECODE, "not listed in manifest.json `files`"),
    "removed tokenizer entry": (removed_tokenizer_entry, VOCAB, "not listed in manifest.json"),
    "mismatched hash": (mismatched_hash, DECODE, "sha256 differs from the manifest"),
    "same-size swap": (same_size_swap, TFLITE, "sha256 differs from the manifest"),
    "other size": (other_size, DECODE, r"bytes, but manifest.json records [\d,]+: the file"),
    "huge declared size": (huge_declared_size, "manifest.json", "expected a size from 0 to"),
    "garbage tflite": (garbage_tflite, TFLITE, "not a valid TFLite flatbuffer"),
    "garbage onnx": (garbage_onnx, DECODE, "ONNX Runtime cannot load this model"),
    "onnx external data out": (external_data_out, DECODE, "cannot load this model.*escapes"),
    "truncated manifest": (
        manifest_bytes(b'{"format_version": 1, "na'),
        "manifest.json",
        "not valid JSON",
    ),
    "binary manifest": (manifest_bytes(b"\xff\xfe\x00\x81garbage"), "manifest.json", "JSON"),
    "empty manifest": (manifest_bytes(b"{}"), "manifest.json", "missing field format_version"),
    "list manifest": (manifest_bytes(b"[1, 2]"), "manifest.json", "expected a JSON object"),
    "tampered tokenizer": (tampered_tokenizer, VOCAB, "the file changed after export"),
    "tampered tokenizer, relisted": (
        tampered_tokenizer_relisted,
        VOCAB,
        "does not match .* recorded in tokenizer.json",
    ),
    "unknown format version": (unknown_version, "manifest.json", "format_version 99 is not"),
    "wrong task": (wrong_task, "manifest.json", "field task: expected 'lm'"),
}


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Path:
    return stand_in_bundle(tmp_path_factory.mktemp("stand-in") / "bundle")


def refused(source: Path, tmp_path: Path, case: str) -> InputError:
    """Copy `source`, attack the copy, load it; the `InputError` it raised, checked."""
    attack, where, message = CORPUS[case]
    bundle = Path(shutil.copytree(source, tmp_path / "bundle", symlinks=True))
    backend = attack(bundle)
    with pytest.raises(InputError, match=message) as err:
        load_bundle(bundle, backend)
    text = str(err.value)
    assert "\n" not in text and where in text, text
    return err.value


@pytest.mark.parametrize("case", list(CORPUS))
def test_a_malicious_bundle_is_refused_with_its_message(stand_in, tmp_path, case):
    refused(stand_in, tmp_path, case)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CORPUS))
def test_a_malicious_exported_bundle_is_refused_with_its_message(tiny_bundle, tmp_path, case):
    refused(tiny_bundle("tiny-transformer-lm", ("int8",)), tmp_path, case)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnx", "tflite"])
def test_the_untouched_exported_bundle_loads(tiny_bundle, tmp_path, backend):
    bundle = shutil.copytree(tiny_bundle("tiny-transformer-lm", ("int8",)), tmp_path / "bundle")
    assert load_bundle(bundle, backend).generate("def ", max_new_tokens=3)


# --- fuzzing: a mutated manifest never makes the loader open a file outside the bundle ---


class Opened(Exception):
    """Raised by the stand-in runners once they have recorded the files they were given."""


@pytest.fixture(scope="module")
def fuzz_bundle(tmp_path_factory) -> tuple[Path, dict, dict]:
    """(bundle, its manifest, real entries): a stand-in bundle with a symlink out at its root
    (`link_out` -> a folder holding `outside.bin`), unused until a manifest names it."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "outside").mkdir()
    secret = root / "outside" / "outside.bin"
    secret.write_bytes(b"secret\n")
    bundle = stand_in_bundle(root / "bundle")
    (bundle / "link_out").symlink_to(root / "outside", target_is_directory=True)
    manifest = json.loads((bundle / "manifest.json").read_text())
    entries = {**manifest["files"], "outside.bin": entry_of(secret)}
    return bundle, manifest, entries


def recorded_opens(run: Callable[[], object]) -> list[str]:
    """The paths `run` opens from Python or hands to a runner (the runners are stubbed)."""
    paths: list[str] = []
    real_open = builtins.open

    def recording_open(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike):
            paths.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    def stub_runner(where, *args, **kwargs):
        paths.extend(map(os.fspath, where.values() if isinstance(where, dict) else [where]))
        raise Opened

    with (
        mock.patch.object(builtins, "open", recording_open),
        mock.patch.object(io, "open", recording_open),
        mock.patch.object(runtime_bundle, "LiteRTGraphs", stub_runner),
        mock.patch.object(runtime_bundle, "OnnxGraphs", stub_runner),
        contextlib.suppress(InputError, Opened),
    ):
        run()
    return paths


def test_the_fuzzed_loader_opens_the_stand_in_bundles_files(fuzz_bundle):
    bundle, _, _ = fuzz_bundle
    opened = recorded_opens(lambda: load_bundle(bundle, "onnx"))
    assert {Path(p).resolve() for p in opened} >= {(bundle / DECODE).resolve()}


def test_a_fuzzed_manifest_never_opens_a_file_outside_the_bundle(fuzz_bundle):
    bundle, manifest, entries = fuzz_bundle
    root = bundle.resolve()
    ignored = (Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve())

    @fuzz_settings(max_examples=200)
    @given(mutated(manifest, entries))
    def check(data):
        (bundle / "manifest.json").write_text(json.dumps(data))
        for backend in ("onnx", "tflite"):
            for path in recorded_opens(lambda b=backend: load_bundle(bundle, b)):
                resolved = Path(path).resolve()
                if not resolved.is_relative_to(ignored[0]) and not resolved.is_relative_to(
                    ignored[1]
                ):
                    assert resolved.is_relative_to(root), f"opened {path} outside {root}"

    try:
        check()
    finally:
        (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_the_recorder_sees_an_open_outside_the_bundle(tmp_path):
    """So the fuzz above can fail: an open anywhere is recorded, and temporary folders are not
    under the Python installation the fuzz ignores."""
    secret = outside(tmp_path / "bundle", "outside.bin")
    assert recorded_opens(secret.read_bytes) == [str(secret)]
    assert not secret.resolve().is_relative_to(Path(sys.prefix).resolve())
