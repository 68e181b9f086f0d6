"""A bundle written by an earlier release still loads and runs exactly as it did then.

`tests/fixtures/bundle-v1-transformer-lm` was exported (ONNX and TFLite, format_version 1) by
keras_lm at commit fc98eed, before the family-per-folder redesign, from a 400-step
`tiny-transformer-lm` run on the embedded stdlib-docs corpus; `...expected.json` holds what that
release's runtime produced from it: seeded top-k texts and the prefill logits of two prompts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from keras_lm.runtime.bundle import load_bundle

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BUNDLE = FIXTURES / "bundle-v1-transformer-lm"
EXPECTED = json.loads((FIXTURES / "bundle-v1-transformer-lm.expected.json").read_text())


@pytest.mark.parametrize("backend", ["onnx", "tflite"])
def test_a_format_1_bundle_runs_as_it_did_when_written(backend):
    model = load_bundle(BUNDLE, backend=backend)
    assert model.manifest.format_version == 1 and model.task == "lm"
    want = EXPECTED[backend]
    texts = model.generate(
        ["def ", "Return the"], strategy="top_k", top_k=8, seed=3, max_new_tokens=24
    )
    assert texts == want["top_k_texts"]
    ids = np.array([[0, 5, 6, 7], [8, 9, 10, 11]], np.int32)
    mask = np.array([[0, 1, 1, 1], [1, 1, 1, 1]], np.int32)
    logits = model.graphs.run("prefill", token_ids=ids, padding_mask=mask)["logits"][:, -1]
    np.testing.assert_allclose(logits, want["prefill_last_logits"], atol=1e-5, rtol=0)
