"""`keras-lm import`: a keras-hub GPT-2 preset becomes a run that decodes as keras-hub does.

The tiny preset (conftest) is made offline; these tests need no network.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from keras_lm.errors import InputError
from keras_lm.presets.importer import ImportConfig
from keras_lm.presets.importer import import_preset
from keras_lm.runs import open_run


def test_the_run_holds_keras_hubs_model_and_tokenizer(tiny_gpt2_run, tiny_gpt2_preset):
    import keras_hub

    run = open_run(tiny_gpt2_run)
    assert run.family == "transformer_lm"
    assert run.config.model["activation"] == "gelu_approximate"
    assert run.config.model["context"] == 48
    # keras-hub's graph mode: what its tf.data fine-tuning runs (its eager Python path splits
    # with another rule; see keras_lm/tokenizers/byte_bpe.py)
    hub = keras_hub.models.GPT2Tokenizer.from_preset(
        str(tiny_gpt2_preset), _allow_python_workflow=False
    )
    text = "Return the number of items in a container.\n  Two  spaces, don't stop."
    assert run.tokenizer.encode(text) == [int(i) for i in hub(text)]
    upstream = run.upstream()
    assert len(upstream["prompts"]) == 3 and all(len(g) == 16 for g in upstream["generated"])
    assert "keras-hub" in upstream["source"]


def test_the_imported_model_generates_keras_hubs_greedy_tokens(tiny_gpt2_run):
    from keras_lm.generation.api import Generator
    from keras_lm.inference.decoding import generate_lm
    from keras_lm.inference.sampling import SamplingConfig

    run = open_run(tiny_gpt2_run)
    upstream = run.upstream()
    stepper = Generator(run.model("final"), run.tokenizer).stepper
    for prompt, want in zip(upstream["prompts"], upstream["generated"], strict=True):
        got = generate_lm(stepper, [prompt], SamplingConfig(max_new_tokens=len(want)), end_id=None)
        assert got[0] == want
    text = Generator.from_run(tiny_gpt2_run).generate("Return the", max_new_tokens=5)
    assert isinstance(text, str)


@pytest.mark.slow
def test_exports_decode_keras_hubs_tokens_without_tensorflow(tiny_gpt2_run, tmp_path):
    from keras_lm.export.bundle import ExportConfig
    from keras_lm.export.bundle import export_run
    from keras_lm.runtime.bundle import read_manifest

    bundle = export_run(
        tiny_gpt2_run,
        ExportConfig(formats=("tflite", "onnx"), quantize=("int8",), out=str(tmp_path)),
    )
    manifest = read_manifest(bundle)
    for variant in manifest.variants:
        upstream = variant.verification["upstream"]
        if variant.quantization == "float32":
            assert upstream["identical"] == upstream["examples"] == 3, variant
        assert upstream["token_agreement"] >= 0.5
    # the bundle's own runtime, in a process without TensorFlow, continues as keras-hub did
    run = open_run(tiny_gpt2_run)
    prompt, want = run.upstream()["prompts"][0], run.upstream()["generated"][0]
    script = (
        "import sys, json; from keras_lm.runtime.bundle import load_bundle\n"
        "from keras_lm.inference.decoding import generate_lm\n"
        "from keras_lm.inference.sampling import SamplingConfig\n"
        f"m = load_bundle({str(bundle)!r}, 'tflite')\n"
        f"out = generate_lm(m.stepper, [{prompt!r}], SamplingConfig(max_new_tokens={len(want)}), end_id=None)\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "print(json.dumps(out[0]))\n"
    )
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == want


def test_a_folder_without_the_preset_files_is_named(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match="missing tokenizer.json, model.weights.h5"):
        import_preset(ImportConfig(preset=str(tmp_path), out=str(tmp_path / "run")))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c.update(registered_name="keras_hub>MistralBackbone"),
            "keras_lm imports keras_hub>BertBackbone, keras_hub>GPT2Backbone, "
            "keras_hub>GemmaBackbone, keras_hub>Llama3Backbone, keras_hub>LlamaBackbone",
        ),
        (lambda c: c["config"].update(num_layers=-1), "num_layers"),
        (lambda c: c["config"].update(num_heads="2"), "num_heads"),
        (lambda c: c["config"].update(hidden_dim=True), "hidden_dim"),
        (lambda c: c["config"].update(rotary=True), "unexpected GPT2Backbone field"),
        (lambda c: c["config"].update(hidden_dim=15), "multiple of num_heads"),
    ],
)
def test_a_bad_backbone_config_is_refused_before_anything_is_built(
    tiny_gpt2_preset, tmp_path, edit, message, preset_copy, edit_json
):
    preset = preset_copy(tiny_gpt2_preset)
    edit_json(preset / "config.json", edit)
    with pytest.raises(InputError, match=message):
        import_preset(ImportConfig(preset=str(preset), out=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()


def test_binary_json_garbage_weights_and_a_mismatched_tokenizer(
    tiny_gpt2_preset, tmp_path, preset_copy, edit_json
):
    preset = preset_copy(tiny_gpt2_preset)
    out = str(tmp_path / "run")
    (preset / "tokenizer.json").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(InputError, match="tokenizer.json: not UTF-8"):
        import_preset(ImportConfig(preset=str(preset), out=out))
    shutil.copy(tiny_gpt2_preset / "tokenizer.json", preset / "tokenizer.json")
    edit_json(
        preset / "tokenizer.json", lambda c: c.update(registered_name="keras_hub>BertTokenizer")
    )
    with pytest.raises(InputError, match="expected the keras_hub>GPT2Tokenizer"):
        import_preset(ImportConfig(preset=str(preset), out=out))
    shutil.copy(tiny_gpt2_preset / "tokenizer.json", preset / "tokenizer.json")
    (preset / "assets" / "tokenizer" / "merges.txt").write_text("#version: 0.2\nab\n")
    with pytest.raises(InputError, match="merge 1 is 'ab'"):
        import_preset(ImportConfig(preset=str(preset), out=out))
    shutil.copytree(tiny_gpt2_preset / "assets", preset / "assets", dirs_exist_ok=True)
    (preset / "model.weights.h5").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(InputError, match="model.weights.h5: cannot load"):
        import_preset(ImportConfig(preset=str(preset), out=out))
    assert not Path(out).exists()


def test_context_beyond_the_presets_positions_and_an_existing_out(tiny_gpt2_preset, tmp_path):
    with pytest.raises(InputError, match="--context: expected 1..64"):
        import_preset(
            ImportConfig(preset=str(tiny_gpt2_preset), out=str(tmp_path / "r"), context=65)
        )
    (tmp_path / "taken").mkdir()
    with pytest.raises(InputError, match="already exists"):
        import_preset(ImportConfig(preset=str(tiny_gpt2_preset), out=str(tmp_path / "taken")))


def test_a_handle_that_cannot_be_downloaded_says_what_to_do(tmp_path, monkeypatch):
    import kagglehub

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(kagglehub, "model_download", offline)
    with pytest.raises(InputError, match="kaggle.com/models/keras/gpt2/keras/gpt2_base_en"):
        import_preset(ImportConfig(preset="gpt2_base_en", out=str(tmp_path / "run")))
