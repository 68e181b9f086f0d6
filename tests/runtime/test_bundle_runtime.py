"""`keras_lm.runtime`: bundles run with ONNX Runtime and LiteRT, decode like Keras, import no TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from keras_lm.errors import InputError
from keras_lm.generation import Generator
from keras_lm.runtime.bundle import load_bundle

pytestmark = pytest.mark.slow
PROMPTS = ["def ", "class Foo", "return the"]


@pytest.fixture(scope="module")
def bundles(tiny_bundle):
    """The session's shared tiny bundles (the LM one is the int8 bundle the export tests use)."""
    return lambda name: tiny_bundle(name, ("int8",) if name == "tiny-transformer-lm" else ())


@pytest.mark.parametrize("backend", ["onnx", "tflite"])
def test_generate_from_a_bundle_equals_keras_token_for_token(tiny_run, bundles, backend):
    keras_text = Generator.from_run(tiny_run("tiny-transformer-lm")).generate(
        PROMPTS, max_new_tokens=30
    )
    bundle_text = load_bundle(bundles("tiny-transformer-lm"), backend).generate(
        PROMPTS, max_new_tokens=30
    )
    assert bundle_text == keras_text


def test_litert_keeps_a_batch_one_cache_in_its_own_buffers(tiny_run, bundles):
    """One prompt at a time decodes in the interpreter's memory, like Keras; a stale state is
    refused; and a cache passed through a view is the one the graph reads."""
    import numpy as np

    model = load_bundle(bundles("tiny-transformer-lm"), "tflite")
    keras = Generator.from_run(tiny_run("tiny-transformer-lm"))
    for prompt in PROMPTS:  # one row each: the lent-buffer path
        assert model.generate(prompt, max_new_tokens=20) == keras.generate(
            prompt, max_new_tokens=20
        )
    stepper, ids = model.stepper, np.array([[5, 6, 7]])
    _, first = stepper.prefill(ids, np.ones_like(ids))
    assert all(np.shares_memory(c, stepper._views[f"past_{k}"]) for k, c in first["caches"].items())
    stepper.prefill(ids, np.ones_like(ids))
    with pytest.raises(RuntimeError, match="later prefill has reused"):
        stepper.step(np.array([8]), first)
    views = model.graphs.input_views("decode")
    inputs = {
        k: np.zeros(shape, dtype) for k, (shape, dtype) in model.graphs.inputs("decode").items()
    }
    for key, view in views.items():
        view[...] = np.random.default_rng(len(key)).standard_normal(view.shape)
        inputs[key] = view.copy()
    inputs["positions"][:] = next(iter(views.values())).shape[2] - 1  # every slot is seen
    through_views = model.graphs.run("decode", **{**inputs, **views})
    copied = model.graphs.run("decode", **inputs)
    np.testing.assert_array_equal(through_views["logits"], copied["logits"])
    for view in views.values():
        view[...] = 0.0
    zeroed = model.graphs.run("decode", **{**inputs, **views})
    assert not np.allclose(zeroed["logits"], copied["logits"])  # the graph read the views


@pytest.mark.parametrize("name", ["tiny-transformer-seq2seq", "tiny-lstm-seq2seq"])
@pytest.mark.parametrize("backend", ["onnx", "tflite"])
def test_translate_from_a_bundle_equals_keras(tiny_run, bundles, name, backend):
    sources = ["Return the sum of two numbers.", "Open a file.", "Close it."]
    keras_text = Generator.from_run(tiny_run(name)).translate(sources, max_new_tokens=12)
    assert load_bundle(bundles(name), backend).translate(sources, max_new_tokens=12) == keras_text


@pytest.mark.parametrize("backend", ["onnx", "tflite"])
def test_classify_from_a_bundle_equals_keras(tiny_run, bundles, backend):
    texts = ["Return the sum.", "A class for files.", "x " * 500]  # the last is cut to max_length
    keras_out = Generator.from_run(tiny_run("tiny-classifier")).classify(texts)
    model = load_bundle(bundles("tiny-classifier"), backend)
    out = model.classify(texts)
    assert [o["label"] for o in out] == [o["label"] for o in keras_out]
    for got, want in zip(out, keras_out, strict=True):
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-4)
        assert sum(got["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert set(out[0]["probabilities"]) == set(model.labels)
    assert model.classify("Open a file.")["label"] in model.labels  # one text in, one dict out
    assert model.overflow == model.manifest.data["overflow"]
    with pytest.raises(InputError, match="cannot classify"):
        load_bundle(bundles("tiny-transformer-lm"), backend).classify("def ")


def test_a_changed_file_is_refused(bundles, tmp_path):
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(bundles("tiny-transformer-lm"), copy)
    with open(copy / "onnx" / "float32" / "decode.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(InputError, match="decode.onnx: .*the file changed after export"):
        load_bundle(copy, "onnx")


def test_a_bundle_opened_without_its_runtime_knows_its_text_and_context_and_runs_nothing(
    bundles, tmp_path
):
    """As `keras-lm serve`'s HTTP process opens it: the engine process runs the graphs."""
    import shutil

    full = load_bundle(bundles("tiny-transformer-lm"))
    front = load_bundle(bundles("tiny-transformer-lm"), runtime=False)
    assert front.graphs is None and front.stepper is None
    assert front.context == full.context == 32 and front.prompt_head == full.prompt_head
    assert front.tokenizer.encode(PROMPTS[0]) == full.tokenizer.encode(PROMPTS[0])
    copy = tmp_path / "bundle"  # its files are still checked before anything is read
    shutil.copytree(bundles("tiny-transformer-lm"), copy)
    with open(copy / "onnx" / "float32" / "decode.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(InputError, match="the file changed after export"):
        load_bundle(copy, "onnx", runtime=False)


def test_missing_variant_and_not_a_bundle_are_named(bundles, tmp_path):
    with pytest.raises(InputError, match=r"no onnx/fp16 variant.*tflite/float32"):
        load_bundle(bundles("tiny-transformer-lm"), "onnx", "fp16")
    with pytest.raises(InputError, match="not an export bundle"):
        load_bundle(tmp_path)


def test_the_runtime_never_imports_tensorflow_or_keras(bundles):
    bundle = bundles("tiny-transformer-lm")
    code = (
        "import sys, json; from keras_lm.runtime.bundle import load_bundle\n"
        f"out = [load_bundle({str(bundle)!r}, b).generate('def ', max_new_tokens=5) for b in ('onnx', 'tflite')]\n"
        "print(json.dumps({'out': out, 'tf': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["tf"] is False and result["keras"] is False
    assert result["out"][0] == result["out"][1]
