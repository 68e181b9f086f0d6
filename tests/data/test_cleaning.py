"""Cleaning rules: each rule on hand-made rows, counting, line numbers, configs, real spa-eng."""

from __future__ import annotations

import json

import pytest

from keras_lm.data.cleaning import FILTERS
from keras_lm.data.cleaning import CleaningConfig
from keras_lm.data.cleaning import clean
from keras_lm.data.cleaning import exact_key
from keras_lm.data.cleaning import near_duplicate_form
from keras_lm.data.corpus import Corpus
from keras_lm.data.readers import read_parallel
from keras_lm.data.splits import match_key
from keras_lm.errors import ConfigError

PARALLEL = CleaningConfig.for_kind("parallel")
LABELLED = CleaningConfig.for_kind("labelled")


def only(**switches) -> CleaningConfig:
    """A config with every rule off except the transforms/filters named."""
    off = dict.fromkeys(["nfc", "control_chars", "whitespace", *FILTERS], False)
    return CleaningConfig(**{**off, **switches})


def texts(result) -> list[str]:
    return result.corpus.texts()


def test_nfc_composes_and_is_counted():
    result = clean(Corpus.from_texts(["cafe\u0301", "café", "plain"]), only(nfc=True))
    assert texts(result) == ["café", "café", "plain"]
    assert result.changed == {"nfc": 1}


def test_control_chars_removes_noise_and_keeps_tabs_zwj_and_bidi_marks():
    rows = [
        "a\x00b\x07c\x1bd\x7fe\x85f\r",
        "zero\u200bwidth\ufeff soft\u00adhyphen",
        "keep\ttab",
        "👩\u200d💻 \u200fשלום",
    ]
    result = clean(Corpus.from_texts(rows), only(control_chars=True))
    assert texts(result) == ["abcdef", "zerowidth softhyphen", "keep\ttab", "👩\u200d💻 \u200fשלום"]
    assert result.changed == {"control_chars": 2}


def test_whitespace_collapses_runs_and_strips():
    result = clean(Corpus.from_texts([" to \t be\u00a0\u00a0or ", "ok"]), only(whitespace=True))
    assert texts(result) == ["to be or", "ok"]
    assert result.changed == {"whitespace": 1}


def test_transforms_touch_text_fields_only():
    corpus = Corpus.from_labelled([("  good  movie ", "1")], labels=["0", "1"])
    record = clean(corpus, LABELLED).corpus[0]
    assert (record.text, record.label) == ("good movie", "1")


def test_empty_after_transforms():
    corpus = Corpus.from_pairs(
        [("Hi.", "Hola."), ("Hi.", " \u200b "), ("", "Algo."), ("Run!", "¡Corre!")]
    )
    result = clean(corpus, only(control_chars=True, whitespace=True, empty=True))
    assert [r.line for r in result.corpus] == [1, 4]
    assert result.dropped == {"empty": 2}
    assert [e["line"] for e in result.examples["empty"]] == [2, 3]


def test_length_bounds_per_field():
    corpus = Corpus.from_pairs([("ab", "abc"), ("abcd", "abcd"), ("abcd", "a" * 11)])
    result = clean(corpus, only(length=True, min_chars=3, max_chars=10))
    assert [r.line for r in result.corpus] == [2]
    assert result.dropped == {"length": 2}
    assert result.examples["length"][1]["chars"] == [4, 11]


def test_exact_duplicates_keep_the_first_and_count_the_rest():
    corpus = Corpus.from_texts(["to be", "or not", "to be", "to be", "To be"])
    result = clean(corpus, only(exact_duplicates=True))
    assert texts(result) == ["to be", "or not", "To be"]
    assert result.dropped == {"exact_duplicates": 2}
    assert result.examples["exact_duplicates"][0] == {"line": 3, "text": "to be", "first_line": 1}


def test_duplicates_are_whole_pairs_one_sentence_many_translations():
    corpus = Corpus.from_pairs([("Go.", "Ve."), ("Go.", "Vete."), ("Go.", "Vaya."), ("Go.", "Ve.")])
    result = clean(corpus, PARALLEL)
    assert [r.target for r in result.corpus] == ["Ve.", "Vete.", "Vaya."]
    assert result.dropped["exact_duplicates"] == 1


def test_near_duplicates_ignore_case_punctuation_and_spacing():
    assert near_duplicate_form("Cheer up!") == near_duplicate_form("cheer   up.") == "cheer up"
    assert near_duplicate_form("cafe\u0301") == near_duplicate_form("Café")
    assert near_duplicate_form("Cheer up!") == match_key("Cheer up!")  # the splits' rule
    corpus = Corpus.from_pairs(
        [("Cheer up!", "¡Ánimo!"), ("cheer up.", "¡ánimo!"), ("Cheer up!", "Anímate.")]
    )
    result = clean(corpus, only(near_duplicates=True))
    assert [r.line for r in result.corpus] == [1, 3]
    assert result.examples["near_duplicates"] == [
        {"line": 2, "text": "cheer up. => ¡ánimo!", "first_line": 1}
    ]


def test_length_ratio_has_a_floor_for_short_sentences():
    corpus = Corpus.from_pairs(
        [
            ("Go.", "Ve."),
            ("No.", "De ninguna manera."),  # 18 / max(3, 10) = 1.8
            ("Yes.", "Sí, claro que sí, por supuesto que sí, amigo."),  # 45 / 10 = 4.5
            ("A long English sentence that was cut.", "Corta."),  # 37 / 10 = 3.7
        ]
    )
    result = clean(corpus, only(length_ratio=True))
    assert [r.line for r in result.corpus] == [1, 2]
    assert [e["ratio"] for e in result.examples["length_ratio"]] == [4.5, 3.7]
    looser = clean(corpus, only(length_ratio=True, max_length_ratio=4.0))
    assert looser.dropped == {"length_ratio": 1}


def test_identical_pair_after_normalisation_with_a_length_floor():
    corpus = Corpus.from_pairs(
        [("Hello there, friend!", "hello there friend"), ("No.", "No."), ("Hi.", "Hola.")]
    )
    result = clean(corpus, only(identical_pair=True))
    assert [r.line for r in result.corpus] == [2, 3]
    assert result.dropped == {"identical_pair": 1}


def test_unknown_label_from_the_corpus_or_the_config_or_skipped():
    items = [("good", "1"), ("bad", "0"), ("meh", "neutral"), ("fine", "1 ")]
    declared = Corpus.from_labelled(items, labels=["0", "1"])
    result = clean(declared, only(unknown_label=True))
    assert [r.line for r in result.corpus] == [1, 2]
    assert [e["label"] for e in result.examples["unknown_label"]] == ["neutral", "1 "]
    undeclared = Corpus.from_labelled(items)
    by_config = clean(undeclared, only(unknown_label=True, labels=("1", "neutral")))
    assert [r.line for r in by_config.corpus] == [1, 3]
    assert by_config.corpus.labels == ("1", "neutral")
    skipped = clean(undeclared, only(unknown_label=True))
    assert len(skipped.corpus) == 4 and "unknown_label" in skipped.skipped and skipped.dropped == {}


def test_conflicting_labels_drop_every_row_of_the_group():
    items = [
        ("Great film!", "1"),
        ("great film", "0"),
        ("dull", "0"),
        ("great film.", "1"),
        ("ok", "1"),
    ]
    result = clean(Corpus.from_labelled(items), only(conflicting_labels=True))
    assert [r.text for r in result.corpus] == ["dull", "ok"]
    assert result.dropped == {"conflicting_labels": 3}
    assert result.examples["conflicting_labels"][0]["labels"] == ["0", "1"]


def test_labelled_near_duplicates_need_the_same_label():
    items = [("Great film!", "1"), ("great film", "1"), ("great film.", "0")]
    result = clean(Corpus.from_labelled(items, labels=["0", "1"]), LABELLED)
    # The second row goes as a near duplicate; the remaining two conflict.
    assert result.dropped["near_duplicates"] == 1 and result.dropped["conflicting_labels"] == 2
    assert result.rows_out == 0


def test_a_row_two_rules_would_drop_is_counted_once_by_the_first():
    too_long = "x" * 40
    corpus = Corpus.from_pairs(
        [("Go.", "Ve."), ("Hi.", too_long), ("Hi.", too_long), ("", "Ve."), ("", "Ve.")]
    )
    result = clean(corpus, PARALLEL)
    assert result.dropped == {
        "empty": 2,
        "length": 0,
        "length_ratio": 2,
        "identical_pair": 0,
        "exact_duplicates": 0,
        "near_duplicates": 0,
    }
    assert result.rows_in == 5 and result.rows_out == 1
    assert sum(result.dropped.values()) == result.rows_in - result.rows_out


def test_dropped_follows_rule_order_and_lists_only_rules_that_ran():
    assert list(clean(Corpus.from_pairs([("a", "b")]), PARALLEL).dropped) == [
        "empty",
        "length",
        "length_ratio",
        "identical_pair",
        "exact_duplicates",
        "near_duplicates",
    ]
    labelled = clean(Corpus.from_labelled([("a", "1")], labels=["1"]), LABELLED)
    assert list(labelled.dropped) == [
        "empty",
        "length",
        "unknown_label",
        "exact_duplicates",
        "near_duplicates",
        "conflicting_labels",
    ]
    assert list(labelled.changed) == ["nfc", "control_chars", "whitespace"]


def test_line_numbers_and_extra_columns_survive(tiny_pairs):
    records = Corpus.from_pairs(tiny_pairs).records
    corpus = Corpus(
        "parallel", tuple(r.__class__(r.source, r.target, r.line * 10, ("x",)) for r in records)
    )
    result = clean(corpus.replace([*corpus.records, corpus.records[0]]), PARALLEL)
    assert [r.line for r in result.corpus] == [10 * i for i in range(1, len(tiny_pairs) + 1)]
    assert all(r.extra == ("x",) for r in result.corpus)


def test_text_defaults_keep_blank_and_repeated_lines(tiny_lines):
    lines = ["ROMEO:", "Hello,  there.  ", "", "ROMEO:", "Hello,  there.  ", "", *tiny_lines]
    result = clean(Corpus.from_texts(lines, name="play.txt"))
    assert texts(result) == lines
    assert result.rows_in == result.rows_out == len(lines) and result.dropped == {}
    assert result.corpus.name == "play.txt"


def test_text_defaults_still_remove_control_chars():
    result = clean(Corpus.from_texts(["a\x00b", "\ufeffstart"]))
    assert texts(result) == ["ab", "start"] and result.changed == {"nfc": 0, "control_chars": 2}


def test_for_kind_defaults():
    text = CleaningConfig.for_kind("text")
    assert text.enabled("text") == ["nfc", "control_chars"]
    assert PARALLEL.enabled("parallel") == [
        "nfc",
        "control_chars",
        "whitespace",
        "empty",
        "length",
        "length_ratio",
        "identical_pair",
        "exact_duplicates",
        "near_duplicates",
    ]
    assert "conflicting_labels" in LABELLED.enabled("labelled") and not LABELLED.length_ratio
    with pytest.raises(ConfigError, match="kind"):
        CleaningConfig.for_kind("images")


def test_config_round_trips_through_json_and_yaml(tmp_path):
    config = LABELLED.with_overrides(
        ["labels=['neg', 'pos']", "max_chars=500", "near_duplicates=false"]
    )
    assert (
        config.labels == ("neg", "pos") and config.max_chars == 500 and not config.near_duplicates
    )
    assert CleaningConfig.from_dict(json.loads(config.to_json())) == config
    for name in ("rules.json", "rules.yaml"):
        assert CleaningConfig.load(config.save(tmp_path / name)) == config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["bogus=1"], "bogus"),
        (["max_length_ratio=0.5"], "max_length_ratio"),
        (["min_chars=-1"], "min_chars"),
        (["empty=maybe"], "empty"),
    ],
)
def test_bad_config_values_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        PARALLEL.with_overrides(overrides)


def test_deterministic_and_json_serialisable(tiny_pairs):
    pairs = tiny_pairs + [(s.upper(), t) for s, t in tiny_pairs] + [("Go.", "Ve."), ("x", "y" * 50)]
    corpus = Corpus.from_pairs(pairs)
    first, second = clean(corpus, PARALLEL), clean(corpus, PARALLEL)
    assert first.corpus == second.corpus
    assert json.dumps(first.to_dict()) == json.dumps(second.to_dict())
    summary = json.loads(json.dumps(first.to_dict()))
    assert summary["rows_in"] == len(pairs) and summary["config"] == PARALLEL.to_dict()


@pytest.mark.slow
@pytest.mark.needs_data
def test_clean_real_spa_eng_leaves_no_duplicate_pairs(data_dir):
    corpus = read_parallel(data_dir / "spa-eng" / "train.txt")
    result = clean(corpus, PARALLEL)
    kept = result.corpus.records
    assert len({exact_key(r) for r in kept}) == len(kept)
    forms = {(near_duplicate_form(r.source), near_duplicate_form(r.target)) for r in kept}
    assert len(forms) == len(kept)
    assert result.rows_in == 110_895
    assert result.rows_out == result.rows_in - sum(result.dropped.values())
    assert 0 < result.rows_in - result.rows_out < 1000  # a clean corpus: few rows go
    assert result.changed["control_chars"] >= 1  # the Spanish side has zero-width spaces
    lines = [r.line for r in kept]
    assert lines == sorted(lines) and lines[0] == 1
