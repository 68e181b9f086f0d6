"""Hypothesis strategies for fuzzing bundle manifests: random JSON, and mutations of a real one.

Shared by `tests/inference/test_manifest_fuzz.py` (the reader alone) and
`tests/runtime/test_malicious_bundles.py` (the whole loader, on disk).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st


def fuzz_settings(max_examples: int) -> settings:
    """Reproducible (derandomized, no example database) and without per-example deadline."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Paths an attacker would write: out of the bundle, absolute, through the symlink the on-disk
# fuzz plants (`link_out` -> a folder beside the bundle), unnormalised, or real files of it.
NASTY_PATHS = [
    "../outside.bin",
    "tokenizer/../../outside.bin",
    "onnx/float32/../../../outside.bin",
    "/etc/passwd",
    "link_out/outside.bin",
    "link_out",
    "C:\\outside.bin",
    "tokenizer\\..\\..\\outside.bin",
    "./tokenizer/tokenizer.json",
    "tokenizer//tokenizer.json",
    "tokenizer/",
    ".",
    "",
    "onnx",
    "onnx/float32",
    "tokenizer",
    "tokenizer/tokenizer.json",
    "tokenizer/vocab.json",
    "tflite/model.float32.tflite",
    "onnx/float32/decode.onnx",
    "manifest.json",
]

# The paths that pass every lexical check and lead out only through the planted symlink.
THROUGH_LINK = ["link_out", "link_out/outside.bin"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(NASTY_PATHS)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(NASTY_PATHS), children, max_size=4)
    ),
    max_leaves=12,
)


def _slots(node: Any, depth: int) -> list[tuple[Any, Any]]:
    """Every (container, key) down to `depth` levels: what a mutation may delete or replace."""
    if depth == 0:
        return []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    found = []
    for key, value in list(items):
        found.append((node, key))
        if isinstance(value, dict | list):
            found += _slots(value, depth - 1)
    return found


def _entry(draw, extra_files: dict | None) -> dict:
    entries = list((extra_files or {}).values()) or [{"sha256": "0" * 64, "bytes": 1}]
    return dict(draw(st.sampled_from(entries)))


def _redirect(draw, data: dict, extra_files: dict | None) -> None:
    """Point a variant at a nasty path, and list a file there (`P` or `P/outside.bin`)."""
    variants = [v for v in data.get("variants") or [] if isinstance(v, dict)]
    files = data.get("files")
    if not variants or not isinstance(files, dict):
        return
    path = draw(st.sampled_from(NASTY_PATHS) | st.sampled_from(THROUGH_LINK))
    draw(st.sampled_from(variants))["path"] = path
    listed = draw(st.sampled_from([path, f"{path}/outside.bin"]))
    files[listed] = _entry(draw, extra_files)


@st.composite
def mutated(draw, base: dict, extra_files: dict | None = None) -> dict:
    """`base` after one to three mutations: a value deleted or replaced (by random JSON, a
    nasty path or a huge number), a `files` key renamed to a nasty path, an entry added (one
    of `extra_files`: path -> a real entry, so that its hash check passes), or a variant
    redirected to a nasty path with a file listed there."""
    data = copy.deepcopy(base)
    paths = st.sampled_from(NASTY_PATHS) | st.sampled_from(NASTY_PATHS) | st.text(max_size=12)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["delete", "replace", "rename", "add", "redirect"]))
        files = data.get("files")
        if action == "redirect":
            _redirect(draw, data, extra_files)
        elif action in ("rename", "add") and isinstance(files, dict):
            path = draw(paths)
            if action == "rename" and files:
                files[path] = files.pop(draw(st.sampled_from(sorted(files, key=str))))
            else:
                files[path] = _entry(draw, extra_files)
        else:
            slots = _slots(data, 4)
            if not slots:
                return data
            container, key = draw(st.sampled_from(slots))
            if action == "delete":
                del container[key]
            else:
                container[key] = draw(json_values | st.integers(2**40, 2**64))
    return data
