"""`keras-lm import` of a keras-hub BERT classifier: a run that classifies text as keras-hub does.

The tiny preset (conftest: a 3-class BertTextClassifier, [UNK] [CLS] [SEP] [MASK] at ids
7..10) is made offline, and checked on the built-in `stdlib-kinds` (3 labels); these
tests need no network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_lm.errors import InputError
from keras_lm.presets.importer import ImportConfig
from keras_lm.presets.importer import import_preset
from keras_lm.runs import open_run

TEXTS = [
    "Return the number of items in a container.",
    "A class that holds   two  spaces, don't stop; ÜNÏCÖDÉ café.",
    "Module for 数据 handling",
    " ".join(["Create a new dictionary with keys from iterable and values set to value."] * 8),
]


def test_the_run_classifies_raw_text_as_keras_hub_does(tiny_bert_run, tiny_bert_preset):
    import keras_hub

    from keras_lm.generation.api import Generator

    run = open_run(tiny_bert_run)
    assert run.family == "encoder_classifier"
    model = run.config.model
    assert (model["activation"], model["pooler"], model["frame_specials"]) == (
        "gelu_approximate",
        True,
        True,
    )
    assert model["layer_norm_epsilon"] == 1e-12 and run.config.data.max_length == 64
    assert run.labels() == ["module", "class", "function"]  # stdlib-kinds' declared order
    upstream = run.upstream()
    assert len(upstream["prompts"]) == 8 and len(set(upstream["classes"])) > 1
    assert all(p[0] == 8 and p[-1] == 9 for p in upstream["prompts"])  # [CLS] ... [SEP]
    # keras-hub end to end: its own preprocessor frames, truncates (the last text is > 64
    # tokens) and pads the raw strings
    hub = keras_hub.models.BertTextClassifier.from_preset(str(tiny_bert_preset))
    want = np.asarray(hub.predict(TEXTS, verbose=0))
    got = Generator.from_run(tiny_bert_run).classify(TEXTS)
    with pytest.raises(InputError, match="empty or blank"):  # a blank text has no class to give
        Generator.from_run(tiny_bert_run).classify(["a text", " "])
    assert len(run.tokenizer.encode(TEXTS[-1])) > 64
    assert [r["label"] for r in got] == [run.labels()[i] for i in want.argmax(-1)]
    softmax = np.exp(want) / np.exp(want).sum(-1, keepdims=True)
    ours = np.array([[r["probabilities"][name] for name in run.labels()] for r in got])
    np.testing.assert_allclose(ours, softmax, atol=1e-5)


def test_the_tokenizer_gives_keras_hubs_ids_and_keeps_berts_specials(
    tiny_bert_run, tiny_bert_preset
):
    import keras_hub

    from keras_lm.data.embedded import stdlib_kinds_corpus
    from keras_lm.tokenizers import load_tokenizer

    run = open_run(tiny_bert_run)
    tok = run.tokenizer
    assert tok.kind == "bert_wordpiece"
    assert tok.specials.ids() == (0, 7, 8, 9, 10)  # [PAD] [UNK] [CLS] [SEP] [MASK]
    # keras-hub's graph path: what its preprocessor runs inside tf.data and predict()
    hub = keras_hub.models.BertTokenizer.from_preset(
        str(tiny_bert_preset), _allow_python_workflow=False
    )
    lines = [*TEXTS, "", *stdlib_kinds_corpus().texts()[:300], "[CLS] [UNK] zzzqqq ǅ Straße"]
    want = [[int(i) for i in row] for row in hub(lines)]
    assert tok.encode_batch(lines) == want
    assert tok.to_tf().tokenize(lines).to_list() == want
    assert [int(i) for i in hub(TEXTS[0])] == tok.encode(TEXTS[0])
    # tokenizer.json records the specials, and a tampered record is refused on load
    saved = tiny_bert_run / "tokenizer" / "tokenizer.json"
    assert json.loads(saved.read_text())["special_tokens"]["start"] == {"token": "[CLS]", "id": 8}
    assert load_tokenizer(tiny_bert_run / "tokenizer").specials == tok.specials


def test_a_tampered_special_token_record_is_refused(tiny_bert_run, tmp_path, edit_json):
    from keras_lm.tokenizers import load_tokenizer

    folder = Path(shutil.copytree(tiny_bert_run / "tokenizer", tmp_path / "tokenizer"))
    edit_json(folder / "tokenizer.json", lambda c: c["special_tokens"]["end"].update(id=3))
    with pytest.raises(InputError, match="special_tokens"):
        load_tokenizer(folder)


@pytest.mark.parametrize(
    ("file", "edit", "message"),
    [
        ("config.json", lambda c: c["config"].update(num_segments=0), "num_segments"),
        ("config.json", lambda c: c["config"].update(hidden_dim=True), "hidden_dim"),
        ("config.json", lambda c: c["config"].update(type_vocab=2), "unexpected BertBackbone"),
        ("config.json", lambda c: c["config"].update(hidden_dim=15), "multiple of num_heads"),
        ("tokenizer.json", lambda c: c["config"].update(lowercase="yes"), "lowercase"),
        ("tokenizer.json", lambda c: c["config"].update(split=False), "split"),
        (
            "tokenizer.json",
            lambda c: c["config"].update(special_tokens_in_strings=True),
            "special_tokens_in_strings",
        ),
        ("task.json", lambda c: c["config"].update(num_classes=0), "num_classes"),
        ("task.json", lambda c: c["config"].update(activation="softmax"), "activation"),
    ],
)
def test_a_malformed_field_is_refused_naming_it(
    tiny_bert_preset, tmp_path, file, edit, message, preset_copy, edit_json
):
    preset = preset_copy(tiny_bert_preset)
    edit_json(preset / file, edit)
    out = tmp_path / "run"
    with pytest.raises(InputError, match=message) as err:
        import_preset(ImportConfig(preset=str(preset), out=str(out), dataset="stdlib-kinds"))
    assert file in str(err.value)
    assert not out.exists()


def test_classes_context_and_labels_that_do_not_fit_are_refused(tiny_bert_preset, tmp_path):
    out = str(tmp_path / "run")
    preset = str(tiny_bert_preset)
    with pytest.raises(InputError, match="--classes: the preset's .* has 3 classes, not 2"):
        import_preset(ImportConfig(preset=preset, out=out, dataset="stdlib-kinds", classes=2))
    with pytest.raises(InputError, match="--context: expected 3..64"):
        import_preset(ImportConfig(preset=preset, out=out, dataset="stdlib-kinds", context=2))
    two = tmp_path / "two.tsv"
    two.write_text("sentence\tlabel\n" + "".join(f"text {i}\t{i % 2}\n" for i in range(8)))
    with pytest.raises(InputError, match="2 labels .* the classifier has 3 classes"):
        import_preset(ImportConfig(preset=preset, out=out, dataset=str(two)))
    assert not Path(out).exists()


def test_a_backbone_without_a_head_gets_a_new_one_of_classes(
    tiny_bert_preset, tmp_path, preset_copy
):
    preset = preset_copy(tiny_bert_preset)
    (preset / "task.json").unlink()
    (preset / "task.weights.h5").unlink()
    with pytest.raises(InputError, match="pass --classes N or a labelled --data"):
        import_preset(ImportConfig(preset=str(preset), out=str(tmp_path / "run")))
    run = open_run(
        import_preset(ImportConfig(preset=str(preset), out=str(tmp_path / "run"), classes=2))
    )
    assert run.labels() == ["0", "1"] and run.config.model["num_classes"] == 2
    assert len(run.upstream()["classes"]) == 4  # stdlib-docs' valid lines, checked


def test_finetuning_from_the_imported_run_frames_like_bert(tiny_bert_run, tmp_path):
    from keras_lm.training.fit import train
    from keras_lm.training.presets import load_config
    from keras_lm.training.tasks import build_task

    corpus = tmp_path / "kinds.tsv"
    rows = [("Return a new list of values.", "function"), ("A queue of tasks.", "class")]
    rows += [("Utilities for dates and times.", "module")]
    corpus.write_text(
        "sentence\tlabel\n" + "".join(f"{t} {i}\t{lab}\n" for i in range(12) for t, lab in rows)
    )
    overrides = ["loop.max_steps=4", "loop.steps_per_epoch=2", "loop.eval_steps=1"]
    # tiny-classifier says data.max_length 32: the source's 64 positions win.
    overrides += [f"finetune.from_run={tiny_bert_run}", f"data.dataset={corpus}"]
    config = load_config("tiny-classifier", overrides)
    result = train(config, tmp_path / "ft", verbose=0)
    assert result.steps == 4 and result.metrics["labels"] == ["class", "function", "module"]
    run = open_run(tmp_path / "ft")
    assert run.config.model["frame_specials"] and run.tokenizer.kind == "bert_wordpiece"
    assert run.config.data.max_length == run.config.model["max_length"] == 64
    task = build_task("classify", run.splits(), run.tokenizer, run.config)
    features, _ = next(iter(task.train))
    ids, mask = features["token_ids"].numpy(), features["padding_mask"].numpy()
    lengths = mask.sum(1)
    assert (ids[:, 0] == 8).all() and (ids[np.arange(len(ids)), lengths - 1] == 9).all()


def test_evaluation_frames_as_classify_does(tiny_bert_run, tmp_path):
    from keras_lm.evaluation.evaluate import evaluate_run
    from keras_lm.generation.api import Generator

    run_dir = Path(shutil.copytree(tiny_bert_run, tmp_path / "run"))  # evaluation writes there
    report = evaluate_run(run_dir, limit=64)
    run = open_run(run_dir)
    framing = run.framing()
    records = run.splits()["valid"].records[:64]
    # data.overflow: drop, counting [CLS] and [SEP]: a few summaries are too long
    kept = [r for r in records if framing.length(run.tokenizer.encode(r.text)) <= 64]
    assert 0 < len(records) - len(kept) < 10
    got = Generator.from_run(run_dir).classify([r.text for r in kept])
    right = sum(g["label"] == r.label for g, r in zip(got, kept, strict=True))
    assert report["accuracy"] == pytest.approx(right / len(kept))


@pytest.mark.slow
def test_exports_classify_as_keras_hub_without_tensorflow(tiny_bert_run, tmp_path):
    from keras_lm.export.bundle import ExportConfig
    from keras_lm.export.bundle import export_run
    from keras_lm.generation.api import Generator
    from keras_lm.runtime.bundle import read_manifest

    # float32 only: the tiny random model's classes are near ties that fp16/int8 flip
    bundle = export_run(
        tiny_bert_run, ExportConfig(formats=("savedmodel", "tflite", "onnx"), out=str(tmp_path))
    )
    manifest = read_manifest(bundle)
    assert manifest.extra["text_signatures"]["classify_text"]["identical"] == 5
    for variant in manifest.variants:
        upstream = variant.verification["upstream"]
        assert upstream["identical"] == upstream["examples"] == 8, variant
    want = [r["label"] for r in Generator.from_run(tiny_bert_run).classify(TEXTS)]
    script = (
        "import sys, json; from keras_lm.runtime.bundle import load_bundle\n"
        f"texts = {TEXTS!r}\n"
        "out = {b: [r['label'] for r in load_bundle(%r, b).classify(texts)] for b in ('onnx', 'tflite')}\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "print(json.dumps(out))\n"
    ) % str(bundle)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"onnx": want, "tflite": want}
