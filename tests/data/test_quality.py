"""The data-quality report: exact counts on constructed corpora, rendering, and the real data sets."""

from __future__ import annotations

import json
import time

import pytest

from keras_lm.data.cleaning import CleaningConfig
from keras_lm.data.cleaning import clean
from keras_lm.data.corpus import Corpus
from keras_lm.data.quality import format_report_text
from keras_lm.data.quality import quality_report
from keras_lm.data.quality import render_report
from keras_lm.data.quality import write_report
from keras_lm.data.readers import read_labelled
from keras_lm.data.readers import read_parallel
from keras_lm.data.readers import read_text


def pairs_corpus() -> Corpus:
    return Corpus.from_pairs(
        [
            ("Go.", "Ve."),
            ("Go.", "Ve."),
            ("Go.", "Ve."),
            ("Go.", "Vete."),  # another translation: not a duplicate
            ("Cheer up!", "¡Ánimo!"),
            ("cheer up.", "¡ánimo!"),  # near duplicate of the row above
            ("Yes.", "Sí, claro que sí, por supuesto que sí, amigo."),  # ratio 4.5
            ("Hello there, friend!", "hello there friend"),  # identical after normalisation
            ("Hi.", ""),  # empty target
        ],
        name="pairs.tsv",
    )


def test_counts_on_a_constructed_parallel_corpus():
    report = quality_report(pairs_corpus())
    assert report["rows"] == 9
    assert report["fields"] == ["source", "target"]
    assert report["empty"] == {"source": 0, "target": 1}
    assert report["duplicates"] == 2  # three identical rows: two repeats
    assert report["near_duplicates"] == 3  # ... plus "cheer up."
    outliers = report["ratio_outliers"]
    assert (outliers["count"], outliers["threshold"], outliers["min_chars"]) == (1, 3.0, 10)
    assert outliers["examples"][0]["line"] == 7 and outliers["examples"][0]["ratio"] == 4.5
    assert (
        report["identical_pairs"]["count"] == 1
        and report["identical_pairs"]["examples"][0]["line"] == 8
    )
    assert "label_balance" not in report and "coverage" not in report


def test_length_percentiles():
    report = quality_report(Corpus.from_texts(["x" * n for n in range(1, 101)]))
    chars = report["length"]["text"]["chars"]
    assert chars == {"min": 1, "p5": 5, "p50": 50, "p95": 95, "p99": 99, "max": 100, "mean": 50.5}
    words = quality_report(Corpus.from_texts(["a b c", "  a  ", ""]))["length"]["text"]["words"]
    assert (words["min"], words["max"], words["mean"]) == (0, 3, 1.33)


def test_odd_characters():
    rows = [
        "bell\x07",
        "bad \ufffd byte",
        "zero\u200bwidth",
        "private \ue000",
        "no\u00a0break",
        "cafe\u0301",
        "ok",
    ]
    odd = quality_report(Corpus.from_texts(rows))["odd_characters"]
    assert odd["rows_with_control"] == 1
    assert odd["rows_with_replacement"] == 1
    assert odd["rows_with_format"] == 1
    assert odd["rows_with_private_use"] == 1
    assert odd["rows_with_unusual_whitespace"] == 1
    assert odd["rows_not_nfc"] == 1
    assert {c["code_point"] for c in odd["top"]} == {
        "U+0007",
        "U+FFFD",
        "U+200B",
        "U+E000",
        "U+00A0",
    }
    assert {c["name"] for c in odd["top"]} >= {"ZERO WIDTH SPACE", "NO-BREAK SPACE"}


def test_tabs_and_plain_text_are_not_odd(tiny_lines):
    odd = quality_report(Corpus.from_texts(tiny_lines))["odd_characters"]
    assert odd["rows_with_control"] == 0 and odd["rows_with_unusual_whitespace"] == 0
    assert odd["rows_not_nfc"] == 0


def test_label_balance_unknown_and_conflicting_labels():
    items = [
        ("good", "1"),
        ("Great film!", "1"),
        ("great film", "0"),
        ("bad", "0"),
        ("meh", "2"),
        ("fine", "1"),
    ]
    report = quality_report(Corpus.from_labelled(items, labels=["0", "1"]))
    balance = report["label_balance"]
    assert balance["labels"] == {
        "0": {"count": 2, "share": 0.3333},
        "1": {"count": 3, "share": 0.5},
        "2": {"count": 1, "share": 0.1667},
    }
    assert balance["declared"] == ["0", "1"] and balance["unknown"] == {"2": 1}
    conflicting = report["conflicting_labels"]
    assert (conflicting["texts"], conflicting["rows"]) == (1, 2)
    assert conflicting["examples"][0]["lines"] == [2, 3]
    undeclared = quality_report(Corpus.from_labelled(items))["label_balance"]
    assert undeclared["unknown"] is None and list(undeclared["labels"]) == ["0", "1", "2"]


def test_vocabulary():
    report = quality_report(Corpus.from_texts(["The cat, the dog.", "A cat!"]))
    vocab = report["vocabulary"]["text"]
    assert vocab["word_tokens"] == 6 and vocab["distinct_words"] == 4  # the, cat, dog, a
    assert vocab["hapax_share"] == 0.5  # dog, a
    assert vocab["top_1k_share"] == 1.0
    assert vocab["characters"] == len("The cat, the dog.") + len("A cat!")


def test_coverage_against_a_reference():
    train = Corpus.from_pairs([("the cat sleeps", "el gato duerme")])
    valid = Corpus.from_pairs([("the dog sleeps", "el perro duerme")])
    report = quality_report(valid, reference=train)
    source = report["coverage"]["source"]
    assert source["word_tokens_seen"] == pytest.approx(2 / 3, abs=1e-6)
    assert source["oov_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert source["characters_seen"] == pytest.approx(11 / 14, abs=1e-6)  # d, o, g are new
    assert [c["code_point"] for c in source["unseen_characters"]] == ["U+0064", "U+0067", "U+006F"]
    assert set(report["coverage"]) == {"source", "target"}


def test_cleaning_preview_is_what_clean_would_do():
    corpus = pairs_corpus()
    preview = quality_report(corpus)["cleaning_preview"]
    result = clean(corpus, CleaningConfig.for_kind("parallel"))
    assert preview["dropped"] == result.dropped and preview["rows_out"] == result.rows_out
    assert preview["dropped"]["exact_duplicates"] == 2
    looser = quality_report(
        corpus, config=CleaningConfig.for_kind("parallel").with_overrides(["length_ratio=false"])
    )
    assert "length_ratio" not in looser["cleaning_preview"]["dropped"]


def test_text_report_counts_blank_lines_and_preview_keeps_them():
    report = quality_report(Corpus.from_texts(["ROMEO:", "Hi.", "", "ROMEO:", "Bye.", ""]))
    assert report["empty"] == {"text": 2}
    assert report["duplicates"] == 1  # blank lines are counted as empty, not as duplicates
    assert report["cleaning_preview"]["rows_out"] == 6


def test_json_serialisable_deterministic_and_written_atomically(tmp_path, tiny_pairs):
    corpus = Corpus.from_pairs(tiny_pairs)
    first = quality_report(corpus, reference=corpus)
    assert json.dumps(first) == json.dumps(quality_report(corpus, reference=corpus))
    path = write_report(first, tmp_path / "reports" / "q.json")
    assert json.loads(path.read_text(encoding="utf-8")) == first
    assert [p.name for p in path.parent.iterdir()] == ["q.json"]


def test_rendered_table_is_compact_and_has_the_main_numbers(tiny_pairs):
    report = quality_report(
        Corpus.from_pairs(tiny_pairs, name="tiny.tsv"), reference=pairs_corpus()
    )
    table = render_report(report)
    assert [c.header for c in table.columns] == ["metric", "source", "target"]
    assert 20 <= table.row_count <= 40
    text = format_report_text(report)
    assert "tiny.tsv (parallel)" in text and "rows" in text and "word tokens seen" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "\x1b[" not in text  # no colour codes


def test_rendering_escapes_markup_in_data():
    report = quality_report(Corpus.from_labelled([("x", "[bold]"), ("y", "[/]")]))
    assert "label [bold]" in format_report_text(report)


@pytest.mark.slow
@pytest.mark.needs_data
def test_reports_on_the_real_data_sets_match_their_readme(data_dir):
    start = time.perf_counter()
    spa = read_parallel(data_dir / "spa-eng" / "train.txt")
    report = quality_report(spa)
    assert report["rows"] == 110_895
    assert report["empty"] == {"source": 0, "target": 0}
    assert report["duplicates"] == 0  # every pair of spa.txt is distinct
    assert report["odd_characters"]["rows_not_nfc"] == 0
    assert report["cleaning_preview"]["dropped"]["exact_duplicates"] == 0
    text = format_report_text(report)
    assert "110,895" in text

    sst_train = read_labelled(data_dir / "sst2" / "train.tsv", labels=("0", "1"))
    sst_valid = read_labelled(data_dir / "sst2" / "valid.tsv", labels=("0", "1"))
    sst = quality_report(sst_valid, reference=sst_train)
    assert sst["rows"] == 2_000
    assert {k: v["count"] for k, v in sst["label_balance"]["labels"].items()} == {
        "0": 880,
        "1": 1_120,
    }
    balance = quality_report(sst_train)["label_balance"]
    assert {k: v["count"] for k, v in balance["labels"].items()} == {"0": 28_893, "1": 36_438}
    assert balance["unknown"] == {}
    assert sst["coverage"]["text"]["oov_rate"] < 0.05

    train = read_text(data_dir / "tinyshakespeare" / "train.txt")
    valid = read_text(data_dir / "tinyshakespeare" / "valid.txt")
    shakespeare = quality_report(valid, reference=train)
    # The file's characters are those of its lines plus the newlines between them.
    assert shakespeare["vocabulary"]["text"]["characters"] + shakespeare["rows"] - 1 == 100_386
    assert (
        shakespeare["coverage"]["text"]["characters_seen"] == 1.0
    )  # all 65 characters are in train
    assert quality_report(train)["vocabulary"]["text"]["distinct_characters"] == 64  # 65 with "\n"
    assert shakespeare["cleaning_preview"]["rows_out"] == shakespeare["rows"]
    assert time.perf_counter() - start < 30
