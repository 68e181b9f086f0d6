"""The at-scale benchmark's preset: keras-hub loads it, and `keras-lm import` takes it as it does a real one."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("keras_hub")

from benchmarks.hub_scale import SHAPES
from benchmarks.hub_scale import make_preset
from benchmarks.hub_scale import report


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["gpt2-tiny", "llama-tiny"])
def test_the_random_preset_has_the_shape_and_imports(shape, tmp_path):
    from keras_lm.presets.importer import ImportConfig
    from keras_lm.presets.importer import import_preset

    preset = make_preset(tmp_path / "preset", SHAPES[shape], llama=shape.startswith("llama"))
    config = json.loads((preset / "config.json").read_text())["config"]
    assert {k: config[k] for k in SHAPES[shape] if k in config} == {
        k: v for k, v in SHAPES[shape].items() if k in config
    }
    vocabulary = json.loads((preset / "assets" / "tokenizer" / "vocabulary.json").read_text())
    assert len(vocabulary) == SHAPES[shape]["vocabulary_size"]
    run = import_preset(
        ImportConfig(preset=str(preset), out=str(tmp_path / "run"), check_prompts=2, context=64)
    )
    reference = json.loads((run / "reference.json").read_text())
    assert len(reference["generated"]) == 2
    result = {
        "shape": "gpt2-tiny",
        "steps": [
            {"step": "export", "seconds": 1.0, "peak_rss_mb": 2.0, "command": "keras_lm export"}
        ],
        "bundle_bytes": {"tflite/model.float32.tflite": 3 << 20},
    }
    text = report(result, "python -m benchmarks.hub_scale --shape gpt2-tiny")
    assert "| export | 1.0 | 2.0 |" in text and "| tflite/model.float32.tflite | 3.0 |" in text
