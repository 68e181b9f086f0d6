"""`evaluate_run` and `keras-lm evaluate` on tiny trained runs, checked against Keras' own numbers."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from keras_lm.cli.main import main  # noqa: E402
from keras_lm.data.pipelines import lm_dataset  # noqa: E402
from keras_lm.data.pipelines import seq2seq_dataset  # noqa: E402
from keras_lm.errors import InputError  # noqa: E402
from keras_lm.evaluation.evaluate import eval_path  # noqa: E402
from keras_lm.evaluation.evaluate import evaluate_run  # noqa: E402
from keras_lm.evaluation.metrics import translation_scores  # noqa: E402
from keras_lm.models.losses import SmoothedSparseCrossentropy  # noqa: E402
from keras_lm.runs import Run  # noqa: E402
from keras_lm.runs import open_run  # noqa: E402


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A private copy of a session-trained tiny run, so each test sees an empty `eval/`."""

    def copy(name: str) -> Path:
        return Path(shutil.copytree(tiny_run(name), tmp_path / name))

    return copy


def keras_evaluate(run: Run, dataset) -> dict:
    """Keras' `model.evaluate` of the final model, compiled with the training loss and accuracy."""
    model = run.model("final")
    model.compile(
        loss=SmoothedSparseCrossentropy(0.0),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model.evaluate(dataset, verbose=0, return_dict=True)


def read_report(run_dir: Path, split: str) -> dict:
    return json.loads(eval_path(run_dir, split).read_text(encoding="utf-8"))


# --- language model -----------------------------------------------------------------------


@pytest.mark.slow
def test_lm_loss_matches_keras_evaluate_on_the_same_windows(run_copy):
    run_dir = run_copy("tiny-transformer-lm")
    report = evaluate_run(run_dir, "test", checkpoint="final")
    run = open_run(run_dir)
    length, batch = run.config.loop.sequence_length, run.config.loop.batch_size
    ids = run.tokenizer.encode("\n".join(run.splits()["test"].texts()))
    dataset = lm_dataset(ids, length, batch, shuffle=False, drop_remainder=False)
    expected = keras_evaluate(run, dataset)
    assert report["loss"] == pytest.approx(expected["loss"], abs=1e-4)
    assert report["token_accuracy"] == pytest.approx(expected["accuracy"], abs=1e-5)
    assert report["perplexity"] == pytest.approx(math.exp(report["loss"]))
    windows = (len(ids) - 1) // length
    assert (report["examples"], report["tokens"]) == (windows, windows * length)
    assert report["split"] == "test" and report["family"] == "transformer_lm"
    assert report["checkpoint"] == str(run_dir / "model.keras")
    assert read_report(run_dir, "test") == report


@pytest.mark.slow
def test_lm_valid_loss_is_the_one_training_reported(run_copy):
    """Training ends with `model.evaluate` on its whole validation set: the same windows must score the same."""
    run_dir = run_copy("tiny-transformer-lm")
    trained = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["valid"]
    report = evaluate_run(run_dir, "valid", checkpoint="final")
    assert report["loss"] == pytest.approx(trained["loss"], abs=1e-4)
    assert report["token_accuracy"] == pytest.approx(trained["accuracy"], abs=1e-5)


@pytest.mark.slow
def test_lm_limit_scores_the_first_windows_only(run_copy):
    run_dir = run_copy("tiny-transformer-lm")
    length = open_run(run_dir).config.loop.sequence_length
    first = evaluate_run(run_dir, "valid", limit=3, batch_size=2)
    assert (first["examples"], first["tokens"], first["limit"]) == (3, 3 * length, 3)
    whole = evaluate_run(run_dir, "valid", batch_size=2)
    assert whole["limit"] is None and whole["examples"] > 3
    assert read_report(run_dir, "valid") == whole  # the later run replaced the report


# --- classifier ---------------------------------------------------------------------------


@pytest.mark.slow
def test_classifier_report_plot_and_keras_agreement(run_copy):
    run_dir = run_copy("tiny-classifier")
    report = evaluate_run(run_dir, "valid", checkpoint="final")
    run = open_run(run_dir)
    valid = run.splits()["valid"]
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (len(report["labels"]),) * 2
    assert matrix.sum() == report["examples"] == len(valid)  # overflow is "truncate": none dropped
    assert report["labels"] == run.labels()
    assert report["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    trained = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["valid"]
    assert report["accuracy"] == pytest.approx(trained["accuracy"], abs=1e-6)
    assert report["loss"] == pytest.approx(trained["loss"], abs=1e-4)
    png = run_dir / "eval" / "valid_confusion.png"
    assert report["confusion_plot"] == str(png)
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert read_report(run_dir, "valid") == report


@pytest.mark.slow
def test_classifier_limit(run_copy):
    run_dir = run_copy("tiny-classifier")
    report = evaluate_run(run_dir, "test", limit=10)
    assert report["examples"] == 10 and sum(map(sum, report["confusion_matrix"])) == 10
    assert (run_dir / "eval" / "test_confusion.png").is_file()


# --- seq2seq ------------------------------------------------------------------------------

LIMIT = 48  # rows scored per seq2seq test: the whole split's loss costs a minute in CI


@pytest.mark.slow
def test_seq2seq_scores_the_translations_it_is_given(run_copy):
    run_dir = run_copy("tiny-transformer-seq2seq")
    run = open_run(run_dir)
    first = run.splits()["valid"].replace(run.splits()["valid"].records[:LIMIT])
    asked: list[list[str]] = []
    # the config drops over-long rows; they are not scored
    valid = first.replace([r for r, ok in zip(first, _fits(run, first), strict=True) if ok])

    def perfect(sources: list[str]) -> list[str]:
        asked.append(list(sources))
        return valid.targets()[: len(sources)]

    report = evaluate_run(run_dir, "valid", limit=LIMIT, translate=perfect)
    assert asked == [valid.sources()]
    assert report["bleu"] == pytest.approx(100.0) and report["chrf"] == pytest.approx(100.0)
    assert report["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|")
    assert report["examples"] == len(valid)
    first = report["samples"][0]
    assert first == {
        "source": valid.sources()[0],
        "reference": valid.targets()[0],
        "hypothesis": valid.targets()[0],
    }


@pytest.mark.slow
def test_seq2seq_imperfect_translations_and_limit(run_copy):
    run_dir = run_copy("tiny-transformer-seq2seq")
    run = open_run(run_dir)
    first = run.splits()["valid"].replace(run.splits()["valid"].records[:20])
    valid = first.replace([r for r, ok in zip(first, _fits(run, first), strict=True) if ok])
    report = evaluate_run(
        run_dir, "valid", limit=20, translate=lambda sources: [s.upper() for s in sources]
    )
    expected = translation_scores([s.upper() for s in valid.sources()], valid.targets())
    assert report["bleu"] == pytest.approx(expected["bleu"]) and report["bleu"] < 100.0
    assert report["chrf"] == pytest.approx(expected["chrf"])
    assert report["examples"] == len(valid) and report["limit"] == 20
    assert report["dropped_over_length"] == 20 - len(valid)
    # the trivial baselines are scored on the same rows: copying the source, the commonest target
    copy = translation_scores(valid.sources(), valid.targets())
    assert report["baselines"]["copy_source"] == {"bleu": copy["bleu"], "chrf": copy["chrf"]}
    frequent = report["baselines"]["most_frequent_target"]
    assert frequent["text"] in run.splits()["train"].targets()


def _fits(run, corpus) -> list[bool]:
    """Which rows fit the run's source and target limits (the target counts its end token)."""
    data, tok = run.config.data, run.tokenizer
    return [
        len(tok.encode(r.source)) <= data.max_source_length
        and len(tok.encode(r.target)) + 1 <= data.max_target_length
        for r in corpus
    ]


@pytest.mark.slow
def test_seq2seq_translate_of_the_wrong_length_is_an_error(run_copy):
    run_dir = run_copy("tiny-transformer-seq2seq")
    with pytest.raises(ValueError, match="hypotheses but"):
        evaluate_run(run_dir, "valid", limit=4, translate=lambda sources: sources[:3])
    assert not (run_dir / "eval").exists()


@pytest.mark.slow
def test_seq2seq_teacher_forced_loss_is_a_mean_over_real_tokens(run_copy):
    """Not Keras' batch-weighted mean of batch means: it must not depend on the batch size,
    and must equal Keras when the whole split is one batch (where both are the token mean)."""
    run_dir = run_copy("tiny-transformer-seq2seq")
    run = open_run(run_dir)
    valid, data, sp = run.splits()["valid"], run.config.data, run.tokenizer.specials

    def echo(sources: list[str]) -> list[str]:
        return sources

    small = evaluate_run(run_dir, "valid", "final", translate=echo, batch_size=3)
    large = evaluate_run(run_dir, "valid", "final", translate=echo, batch_size=64)
    assert small["loss"] == pytest.approx(large["loss"], abs=1e-5)
    assert small["tokens"] == large["tokens"]
    one_batch = seq2seq_dataset(
        run.tokenizer.encode_batch(valid.sources()),
        run.tokenizer.encode_batch(valid.targets()),
        len(valid),
        start_id=sp.start_id,
        end_id=sp.end_id,
        max_source_length=data.max_source_length,
        max_target_length=data.max_target_length,
        overflow=data.overflow,
        shuffle=False,
    )
    expected = keras_evaluate(run, one_batch)
    assert small["loss"] == pytest.approx(expected["loss"], abs=1e-4)
    assert small["token_accuracy"] == pytest.approx(expected["accuracy"], abs=1e-5)


# --- refusals -----------------------------------------------------------------------------


@pytest.fixture
def no_model_loading(monkeypatch):
    def refuse(self, which="best"):
        raise AssertionError("a model was loaded before the split was checked")

    monkeypatch.setattr(Run, "model", refuse)


@pytest.mark.slow
def test_train_split_is_refused_before_any_model_and_nothing_is_written(run_copy, no_model_loading):
    run_dir = run_copy("tiny-transformer-lm")
    with pytest.raises(InputError) as err:
        evaluate_run(run_dir, "train")
    message = str(err.value)
    assert "'train'" in message and "fitted" in message
    assert "test, valid" in message
    assert not (run_dir / "eval").exists()


@pytest.mark.slow
def test_unknown_split_lists_the_available_ones(run_copy, no_model_loading):
    run_dir = run_copy("tiny-classifier")
    with pytest.raises(InputError, match=r"no 'dev' split; it has test, train, valid"):
        evaluate_run(run_dir, "dev")
    assert not (run_dir / "eval").exists()


def test_not_a_run_directory(tmp_path):
    with pytest.raises(InputError, match="not a run directory"):
        evaluate_run(tmp_path, "valid")


# --- command line -------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_refuses_the_train_split_with_exit_code_2(run_copy, capsys):
    run_dir = run_copy("tiny-transformer-lm")
    code = main(["evaluate", str(run_dir), "--split", "train"])
    captured = capsys.readouterr()
    assert code == 2
    assert "error:" in captured.err and "'train'" in captured.err
    assert not (run_dir / "eval").exists()


@pytest.mark.slow
def test_cli_prints_the_metrics_and_the_report_path(run_copy, capsys):
    run_dir = run_copy("tiny-transformer-lm")
    code = main(["evaluate", str(run_dir), "--split", "valid", "--limit", "4"])
    out = capsys.readouterr().out
    assert code == 0
    report = read_report(run_dir, "valid")
    assert report["limit"] == 4
    assert "perplexity" in out and f"{report['perplexity']:.4f}" in out
    assert str(eval_path(run_dir, "valid")) in out


@pytest.mark.slow
def test_cli_json_output_is_the_report(run_copy, capsys):
    run_dir = run_copy("tiny-classifier")
    code = main(["evaluate", str(run_dir), "--split", "test", "--checkpoint", "final", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out) == read_report(run_dir, "test")
    assert str(eval_path(run_dir, "test")) in captured.err


@pytest.mark.slow
def test_cli_rejects_a_non_positive_limit(run_copy, capsys):
    run_dir = run_copy("tiny-classifier")
    assert main(["evaluate", str(run_dir), "--limit", "0"]) == 2
    assert "positive" in capsys.readouterr().err


@pytest.mark.slow
def test_seq2seq_drops_and_counts_the_rows_training_would_drop(run_copy):
    """With `overflow: drop`, sources too long for the model are not translated (nor scored)."""
    import yaml

    run_dir = run_copy("tiny-lstm-seq2seq")
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["data"].update(max_source_length=12, overflow="drop")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    run = open_run(run_dir)
    valid, tokenizer = run.splits()["valid"], run.tokenizer
    valid = valid.replace(valid.records[:LIMIT])
    target_limit = config["data"]["max_target_length"]
    fits = [
        len(tokenizer.encode(r.source)) <= 12
        and len(tokenizer.encode(r.target)) + 1 <= target_limit
        for r in valid
    ]
    assert 0 < sum(fits) < len(valid), "the limit should cut some rows and keep others"
    asked: list[str] = []
    report = evaluate_run(
        run_dir, "valid", limit=LIMIT, translate=lambda s: asked.extend(s) or list(s)
    )
    assert asked == [r.source for r, ok in zip(valid, fits, strict=True) if ok]
    assert report["dropped_over_length"] == fits.count(False)
    assert report["examples"] == sum(fits)


@pytest.mark.slow
def test_cli_beam_search_translations_are_the_generators_and_recorded(run_copy, capsys):
    from keras_lm.generation import Generator

    run_dir = run_copy("tiny-transformer-seq2seq")
    args = ["evaluate", str(run_dir), "--limit", "6", "--strategy", "beam", "--num-beams", "3"]
    assert main(args) == 0
    report = read_report(run_dir, "valid")
    assert report["decoding"]["strategy"] == "beam" and report["decoding"]["num_beams"] == 3
    sources = [s["source"] for s in report["samples"]]
    beams = Generator.from_run(run_dir).translate(sources, strategy="beam", num_beams=3)
    assert [s["hypothesis"] for s in report["samples"]] == beams
    assert main(["evaluate", str(run_dir), "--limit", "6"]) == 0
    assert read_report(run_dir, "valid")["decoding"]["strategy"] == "greedy"
