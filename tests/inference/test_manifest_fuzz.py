"""Fuzzing the manifest reader: whatever a manifest holds, the answer is a `Manifest` whose
every path stays in the bundle, or one `InputError` naming manifest.json (issue 20)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from pathlib import PurePosixPath

from hypothesis import given
from hypothesis import strategies as st

from keras_lm.errors import InputError
from keras_lm.inference.manifest import Manifest
from tests.inference.fuzzing import fuzz_settings
from tests.inference.fuzzing import json_values
from tests.inference.fuzzing import mutated

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "manifest-v1-transformer-lm.json"
REAL = json.loads(FIXTURE.read_text(encoding="utf-8"))  # what export wrote for a tiny model


def paths_of(manifest: Manifest) -> list[str]:
    return [*manifest.files, *(v.path for v in manifest.variants), manifest.tokenizer]


def read_or_refuse(data) -> Manifest | None:
    """`Manifest.from_dict(data)`, or None when it is refused with an `InputError`."""
    try:
        manifest = Manifest.from_dict(data, "manifest.json")
    except InputError as err:
        assert str(err).startswith("manifest.json: ") and "\n" not in str(err), str(err)
        return None
    for path in paths_of(manifest):  # an accepted path never leaves the bundle
        pure = PurePosixPath(path)
        assert path and not pure.is_absolute() and ".." not in pure.parts, path
        assert str(pure) == path and "\\" not in path, path
    for variant in manifest.variants:  # and every variant lists what it loads
        assert manifest.files_of(variant), variant
    return manifest


def test_the_real_manifest_is_accepted():
    assert read_or_refuse(REAL) is not None


@fuzz_settings(max_examples=300)
@given(json_values)
def test_random_json_is_refused_or_read(data):
    read_or_refuse(data)


@fuzz_settings(max_examples=300)
@given(mutated(REAL))
def test_a_mutated_real_manifest_is_refused_or_read_with_paths_inside(data):
    manifest = read_or_refuse(data)
    if manifest is not None:  # what is read is written back unchanged, and reads the same
        with tempfile.TemporaryDirectory() as folder:
            again = Manifest.read(manifest.write(folder).parent)
        assert json.dumps(again.to_dict()) == json.dumps(manifest.to_dict())  # NaN != NaN


@fuzz_settings(max_examples=150)
@given(
    st.binary(max_size=200)
    | st.text(max_size=200).map(str.encode)
    | mutated(REAL).map(lambda d: json.dumps(d).encode()[: len(json.dumps(d)) // 2])
)
def test_any_bytes_as_manifest_json_are_one_input_error_or_a_manifest(content):
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "manifest.json").write_bytes(content)
        try:
            Manifest.read(folder)
        except InputError as err:
            assert "manifest.json" in str(err) and "\n" not in str(err)
