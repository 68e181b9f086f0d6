"""`Generator` and `keras-lm generate|translate` on tiny trained runs, and their errors."""

from __future__ import annotations

import json
import shutil

import pytest

from keras_lm.cli.main import main
from keras_lm.errors import InputError
from keras_lm.generation import Generator


@pytest.mark.slow
def test_generate_cached_equals_recompute_from_a_run(tiny_run):
    run = tiny_run("tiny-transformer-lm")
    cached = Generator.from_run(run).generate(["def ", "class Foo"], max_new_tokens=20)
    naive = Generator.from_run(run, cached=False).generate(["def ", "class Foo"], max_new_tokens=20)
    assert cached == naive
    assert all(isinstance(t, str) and t for t in cached)


@pytest.mark.slow
def test_one_string_in_one_string_out(tiny_run):
    out = Generator.from_run(tiny_run("tiny-lstm-lm")).generate(
        "x", max_new_tokens=5, strategy="top_k", top_k=3, seed=1
    )
    assert isinstance(out, str)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tiny-transformer-seq2seq", "tiny-lstm-seq2seq"])
def test_translate_from_a_run_greedy_and_beam(tiny_run, name):
    gen = Generator.from_run(tiny_run(name))
    sources = ["Return the sum.", "Open a file and read it."]
    greedy = gen.translate(sources, max_new_tokens=10)
    beam = gen.translate(sources, strategy="beam", num_beams=3, max_new_tokens=10)
    assert len(greedy) == len(beam) == 2
    assert gen.translate(sources[0], max_new_tokens=10) == greedy[0]


@pytest.mark.slow
def test_a_classifier_run_cannot_generate_or_translate(tiny_run):
    classifier = Generator.from_run(tiny_run("tiny-classifier"))
    with pytest.raises(InputError, match="encoder_classifier model cannot generate"):
        classifier.generate("def ")
    with pytest.raises(InputError, match="encoder_classifier model cannot translate"):
        classifier.translate("def ")


@pytest.mark.slow
def test_an_lm_cannot_translate(tiny_run):
    with pytest.raises(InputError, match="cannot translate"):
        Generator.from_run(tiny_run("tiny-transformer-lm")).translate("hello")


@pytest.mark.slow
def test_cli_generate_prints_prompt_and_continuation(tiny_run, capsys):
    run = tiny_run("tiny-transformer-lm")
    code = main(["generate", str(run), "def ", "--max-new-tokens", "8", "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["outputs"][0].startswith("def ") and printed["sampling"]["max_new_tokens"] == 8


@pytest.mark.slow
def test_cli_translate_reads_an_input_file(tiny_run, tmp_path, capsys):
    sources = tmp_path / "in.txt"
    sources.write_text("Return the sum.\nOpen a file.\n", encoding="utf-8")
    code = main(
        [
            "translate",
            str(tiny_run("tiny-transformer-seq2seq")),
            "--input",
            str(sources),
            "--max-new-tokens",
            "6",
            "--json",
        ]
    )
    assert code == 0
    assert len(json.loads(capsys.readouterr().out)["outputs"]) == 2


def test_cli_not_a_run_directory_exits_2(tmp_path, capsys):
    assert main(["generate", str(tmp_path), "x"]) == 2
    assert "not a run directory" in capsys.readouterr().err


def _copy_without_checkpoints(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "model.keras").unlink()
    shutil.rmtree(copy / "checkpoints")
    return copy


@pytest.mark.slow
def test_cli_run_without_a_checkpoint_exits_2(tiny_run, tmp_path, capsys):
    copy = _copy_without_checkpoints(tiny_run("tiny-transformer-lm"), tmp_path)
    assert main(["generate", str(copy), "x"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_corrupted_checkpoint_exits_2_and_names_it(tiny_run, tmp_path, capsys):
    copy = _copy_without_checkpoints(tiny_run("tiny-transformer-lm"), tmp_path)
    (copy / "checkpoints").mkdir()
    (copy / "checkpoints" / "best.keras").write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["generate", str(copy), "x"]) == 2
    err = capsys.readouterr().err
    assert "best.keras" in err and "cannot be loaded" in err


@pytest.mark.slow
def test_classify_on_keras_labels_each_text_the_same_alone_or_batched(tiny_run, caplog):
    from keras_lm.runs import open_run

    run_dir = tiny_run("tiny-classifier")
    classifier = Generator.from_run(run_dir)
    texts = open_run(run_dir).splits()["valid"].texts()[:6]
    batched = classifier.classify(texts)
    alone = [classifier.classify(t) for t in texts]  # no padding at all
    assert [o["label"] for o in batched] == [o["label"] for o in alone]
    for b, a in zip(batched, alone, strict=True):
        assert b["probabilities"] == pytest.approx(a["probabilities"], abs=1e-5)
    assert set(batched[0]["probabilities"]) == set(open_run(run_dir).labels())
    with caplog.at_level("WARNING", logger="keras_lm.generation.api"):
        classifier.classify([texts[0], "x " * 500])
    assert "cut 1 of 2 texts to 32 tokens" in caplog.text
    with pytest.raises(InputError, match="cannot classify"):
        Generator.from_run(tiny_run("tiny-lstm-lm")).classify("x")


@pytest.mark.slow
def test_classify_refuses_a_long_text_when_the_run_trained_with_overflow_error(tiny_run):
    from keras_lm.runs import open_run

    run = open_run(tiny_run("tiny-classifier"))
    assert Generator.from_run(tiny_run("tiny-classifier")).overflow == run.config.data.overflow
    strict = Generator(
        run.model("best"), run.tokenizer, labels=run.labels(), max_length=32, overflow="error"
    )
    assert strict.classify("Return the sum.")["label"] in run.labels()
    with pytest.raises(InputError, match=r"text 1 \('x x x.*is 500 tokens.*at most 32"):
        strict.classify(["Return the sum.", "x " * 500])
