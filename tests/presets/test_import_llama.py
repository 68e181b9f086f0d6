"""`keras-lm import` of Llama-style presets (Llama 3, Llama 2, Gemma): each tiny preset (conftest,
made offline) becomes a `llama_lm` run that decodes as keras-hub does, in Keras and in its exports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from keras_lm.errors import InputError
from keras_lm.runs import open_run
from tests.presets.conftest import import_tiny

RUNS = ["tiny_llama3_run", "tiny_llama_run", "tiny_gemma_run"]


@pytest.mark.parametrize("run_fixture", RUNS)
def test_the_run_is_a_llama_lm_that_generates_keras_hubs_greedy_tokens(run_fixture, request):
    from keras_lm.generation.api import Generator
    from keras_lm.inference.decoding import generate_lm
    from keras_lm.inference.sampling import SamplingConfig

    run_dir = request.getfixturevalue(run_fixture)
    run = open_run(run_dir)
    assert run.family == "llama_lm" and run.config.model["context"] == 48
    upstream = run.upstream()
    reference = json.loads((run_dir / "reference.json").read_text())
    assert len(upstream["prompts"]) == 3 and reference["logits_max_abs_diff"] < 1e-4
    stepper = Generator(run.model("final"), run.tokenizer).stepper
    for prompt, want in zip(upstream["prompts"], upstream["generated"], strict=True):
        got = generate_lm(stepper, [prompt], SamplingConfig(max_new_tokens=len(want)), end_id=None)
        assert got[0] == want


@pytest.mark.parametrize(
    ("run_fixture", "start"),
    [
        ("tiny_llama_run", "<s>"),
        ("tiny_gemma_run", "<bos>"),
        ("tiny_llama3_run", "<|begin_of_text|>"),
    ],
)
def test_prompts_begin_with_the_start_token_as_keras_hubs_preprocessor(run_fixture, start, request):
    """keras-hub's Llama, Gemma and Llama 3 preprocessors begin each prompt with their start
    token: so do the
    checked prompts and `generate` (bundles: the export test; pair rows: test_tasks)."""
    from keras_lm.generation.api import Generator

    run_dir = request.getfixturevalue(run_fixture)
    run = open_run(run_dir)
    start_id = run.tokenizer.token_to_id(start)
    assert run.config.model["frame_start"] is True
    assert all(prompt[0] == start_id for prompt in run.upstream()["prompts"])
    generator = Generator.from_run(run_dir, "final")
    fed = []
    prefill = generator.stepper.prefill
    generator.stepper.prefill = lambda ids, mask: (
        fed.append(ids[mask.astype(bool)]) or prefill(ids, mask)
    )
    generator.generate("Return the", max_new_tokens=2)
    assert fed[0].tolist() == [start_id, *run.tokenizer.encode("Return the")]


def test_llama3_tokenizer_gives_keras_hubs_ids(tiny_llama3_run, tiny_llama3_preset):
    import keras_hub

    assert open_run(tiny_llama3_run).config.model["tie_embeddings"] is True  # from the weights
    assert open_run(tiny_llama3_run).config.model["rope_max_wavelength"] == 500_000
    hub = keras_hub.models.Llama3Tokenizer.from_preset(
        str(tiny_llama3_preset), _allow_python_workflow=False
    )
    text = "Return the number of items in a container.\n  Two  spaces, don't stop."
    tokenizer = open_run(tiny_llama3_run).tokenizer
    assert tokenizer.encode(text) == [int(i) for i in hub(text)]
    assert tokenizer.id_to_token(tokenizer.specials.end_id) == "<|end_of_text|>"
    assert tokenizer.id_to_token(tokenizer.specials.start_id) == "<|begin_of_text|>"
    assert tokenizer.specials.start_id == int(hub.start_token_id)
    assert tokenizer.specials.pad_id == tokenizer.specials.end_id  # one special in other roles


@pytest.mark.slow
@pytest.mark.parametrize(
    "run_fixture", ["tiny_llama3_run", "tiny_gemma_run"]
)  # Llama 2: 3's graphs
def test_exports_decode_keras_hubs_tokens_without_tensorflow(run_fixture, request, tmp_path):
    from keras_lm.export.bundle import ExportConfig
    from keras_lm.export.bundle import export_run
    from keras_lm.runtime.bundle import read_manifest

    run_dir = request.getfixturevalue(run_fixture)
    # Gemma's prompts begin with <bos>: its SavedModel `generate` signature must add it too.
    # Gemma's bundle is the llama_lm one with every format and quantization; Llama 3's adds what
    # Gemma's lacks (SwiGLU, 2 key/value heads, byte_bpe's start token in the runtime), which goes
    # through the same runtime-cache graphs in both converters: ONNX alone shows it, and spares a
    # second TFLite conversion of these graphs (Gemma's converts them, float32 and int8).
    formats = ("savedmodel", "tflite", "onnx") if "gemma" in run_fixture else ("onnx",)
    backends = ("tflite", "onnx") if "tflite" in formats else ("onnx",)
    # int8 on Gemma's bundle; the tied random Llama 3's near-tie logits flip under int8
    quantize = ("int8",) if "gemma" in run_fixture else ()
    bundle = export_run(
        run_dir, ExportConfig(formats=formats, quantize=quantize, out=str(tmp_path))
    )
    for variant in read_manifest(bundle).variants:
        upstream = variant.verification["upstream"]
        if variant.quantization == "float32":
            assert upstream["identical"] == upstream["examples"] == 3, variant
    run = open_run(run_dir)
    prompt, want = run.upstream()["prompts"][0], run.upstream()["generated"][0]
    script = (
        "import sys, json; from keras_lm.runtime.bundle import load_bundle\n"
        "from keras_lm.inference.decoding import generate_lm\n"
        "from keras_lm.inference.sampling import SamplingConfig\n"
        f"config = SamplingConfig(max_new_tokens={len(want)})\n"
        f"out = [generate_lm(load_bundle({str(bundle)!r}, b).stepper, [{prompt!r}], config,\n"
        f"                    end_id=None)[0] for b in {backends!r}]\n"
        f"out.append(load_bundle({str(bundle)!r}, 'onnx').generate('Return the', max_new_tokens=6))\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    from keras_lm.generation.api import Generator

    keras_text = Generator.from_run(run_dir).generate("Return the", max_new_tokens=6)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got == [*[want] * len(backends), keras_text]


def test_bad_llama_configs_are_refused_naming_the_field(
    tiny_llama3_preset, preset_copy, edit_json, tmp_path
):
    preset = preset_copy(tiny_llama3_preset)
    edit_json(preset / "config.json", lambda c: c["config"].update(num_key_value_heads=3))
    with pytest.raises(InputError, match="num_key_value_heads"):
        import_tiny(preset, tmp_path / "out")
    edit_json(
        preset / "config.json",
        lambda c: c["config"].update(num_key_value_heads=2, rope_position_scaling_factor=8.0),
    )
    with pytest.raises(InputError, match="rope_position_scaling_factor"):
        import_tiny(preset, tmp_path / "out")
    edit_json(
        preset / "config.json",
        lambda c: c["config"].update(rope_position_scaling_factor=1.0, rope_low_freq_factor=1.0),
    )
    with pytest.raises(InputError, match="give all of"):
        import_tiny(preset, tmp_path / "out")
    assert not (tmp_path / "out").exists()
