"""The data-quality report: noise, missing values, duplicates, lengths, diversity, coverage.

`quality_report` measures a corpus as it is read (before any cleaning) and returns
a JSON-compatible dict with stable keys; `write_report` saves it, `render_report`
and `format_report_text` show its main numbers as a table.

Definitions used throughout:
- fields: `text` for text and labelled corpora, `source` and `target` for parallel ones;
- empty: a field that is empty or whitespace only;
- duplicates: records that repeat an earlier record exactly (line, pair, or text and
  label), not counting records with an empty field; near_duplicates: the same with
  `cleaning.near_key` (so they include the exact duplicates);
- length: characters, and whitespace-separated words, per field;
- words (vocabulary, coverage): case-folded runs of letters and digits ("Don't" is
  "don" and "t"), so punctuation and case do not make new words;
- leakage (with a reference): rows seen in the reference as near duplicates, inside a
  longer reference row, or containing one (`keras_lm.data.overlap`);
- odd characters: controls other than tab and newline, U+FFFD, format characters
  (category Cf, e.g. zero-width space, byte order mark, bidi marks), private-use
  characters, whitespace other than space/tab/newline (e.g. no-break space),
  unassigned code points and surrogates.

Example:
>>> from keras_lm.data.corpus import Corpus
>>> from keras_lm.data.quality import quality_report
>>> r = quality_report(Corpus.from_pairs([("Go.", "Ve."), ("Go.", "Ve."), ("Hi.", "Hola.")]))
>>> r["rows"], r["duplicates"], r["length"]["target"]["chars"]["max"]
(3, 1, 5)
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keras_lm.data.cleaning import CleaningConfig
from keras_lm.data.cleaning import clean
from keras_lm.data.cleaning import conflicting_groups
from keras_lm.data.cleaning import exact_key
from keras_lm.data.cleaning import is_blank
from keras_lm.data.cleaning import kind_fields
from keras_lm.data.cleaning import length_ratio
from keras_lm.data.cleaning import near_duplicate_form
from keras_lm.data.cleaning import near_key
from keras_lm.data.cleaning import preview
from keras_lm.data.cleaning import record_fields
from keras_lm.data.corpus import Corpus
from keras_lm.data.overlap import corpus_overlap
from keras_lm.io import write_text_atomic

PERCENTILES = (5, 50, 95, 99)
TOP_ODD = 10
TOP_EXAMPLES = 5
_WORD = re.compile(r"[^\W_]+")
_ODD_KINDS = ("control", "replacement", "format", "private_use", "unusual_whitespace")


def quality_report(
    corpus: Corpus, reference: Corpus | None = None, config: CleaningConfig | None = None
) -> dict[str, Any]:
    """Measure `corpus`; with `reference` (e.g. train when reporting valid), also its coverage.

    `config` (default `CleaningConfig.for_kind(corpus.kind)`) gives the thresholds of the
    ratio and identical-pair checks, the declared labels, and the rules of `cleaning_preview`.

    >>> from keras_lm.data.corpus import Corpus
    >>> from keras_lm.data.quality import quality_report
    >>> r = quality_report(Corpus.from_texts(["to be", "", "to be"]))
    >>> r["empty"], r["duplicates"], r["cleaning_preview"]["rows_out"]
    ({'text': 1}, 1, 3)
    """
    config = config or CleaningConfig.for_kind(corpus.kind)
    names = kind_fields(corpus.kind)
    columns = {name: [record_fields(r)[i] for r in corpus.records] for i, name in enumerate(names)}
    forms: dict[str, str] = {}

    def form(text: str) -> str:
        found = forms.get(text)
        if found is None:
            found = forms[text] = near_duplicate_form(text)
        return found

    report: dict[str, Any] = {
        "name": corpus.name,
        "kind": corpus.kind,
        "fields": list(names),
        "rows": len(corpus),
        "empty": {name: sum(1 for t in texts if is_blank(t)) for name, texts in columns.items()},
        **_duplicates(corpus, form),
        "length": {name: _lengths(texts) for name, texts in columns.items()},
    }
    counts = {name: _counts(texts) for name, texts in columns.items()}
    report["odd_characters"] = _odd_characters(
        corpus, sum((c for c, _ in counts.values()), Counter())
    )
    if corpus.kind == "parallel":
        report["ratio_outliers"] = _ratio_outliers(corpus, config)
        report["identical_pairs"] = _identical_pairs(corpus, config, form)
    if corpus.kind == "labelled":
        report["label_balance"] = _label_balance(corpus, config)
        report["conflicting_labels"] = _conflicting(corpus, form)
    report["vocabulary"] = {name: _vocabulary(*c) for name, c in counts.items()}
    if reference is not None:
        report["reference"] = reference.name
        report["coverage"] = _coverage(counts, corpus.kind, reference)
        report["leakage"] = corpus_overlap(reference, corpus)
    report["cleaning_preview"] = _cleaning_preview(corpus, config, forms)
    return report


def write_report(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write `report` as indented UTF-8 JSON, atomically; returns the path.

    >>> import pathlib, tempfile
    >>> from keras_lm.data.quality import write_report
    >>> p = write_report({"rows": 1}, pathlib.Path(tempfile.mkdtemp()) / "q.json")
    >>> p.read_text()
    '{\\n  "rows": 1\\n}\\n'
    """
    return write_text_atomic(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def _duplicates(corpus: Corpus, form) -> dict[str, int]:
    exact: set[tuple] = set()
    near: set[tuple] = set()
    counted = 0
    for record in corpus.records:
        if any(is_blank(t) for t in record_fields(record)):
            continue
        counted += 1
        exact.add(exact_key(record))
        near.add(near_key(record, form))
    return {"duplicates": counted - len(exact), "near_duplicates": counted - len(near)}


def _stats(values: list[int]) -> dict[str, float | int | None]:
    """min, p5, p50, p95, p99, max (nearest rank) and mean of `values`."""
    names = ["min", *(f"p{p}" for p in PERCENTILES), "max", "mean"]
    if not values:
        return dict.fromkeys(names)
    ordered = sorted(values)
    n = len(ordered)
    ranks = [ordered[max(math.ceil(p / 100 * n), 1) - 1] for p in PERCENTILES]
    return dict(
        zip(names, [ordered[0], *ranks, ordered[-1], round(sum(ordered) / n, 2)], strict=True)
    )


def _lengths(texts: list[str]) -> dict[str, dict]:
    return {
        "chars": _stats([len(t) for t in texts]),
        "words": _stats([len(t.split()) for t in texts]),
    }


def _odd_kind(char: str) -> str | None:
    """Which kind of odd character `char` is, or None for an ordinary one."""
    if char in "\t\n ":
        return None
    category = unicodedata.category(char)
    if category == "Cc":
        return "control"
    if char == "\ufffd":
        return "replacement"
    if category == "Cf":
        return "format"
    if category == "Co":
        return "private_use"
    if char.isspace():
        return "unusual_whitespace"
    return "other" if category in ("Cn", "Cs") else None


def _odd_characters(corpus: Corpus, chars: Counter) -> dict[str, Any]:
    rows = ["\n".join(record_fields(r)) for r in corpus.records]
    odd = {c: kind for c in chars if (kind := _odd_kind(c))}
    result: dict[str, Any] = {}
    for kind in _ODD_KINDS:
        members = "".join(sorted(c for c, k in odd.items() if k == kind))
        pattern = re.compile(f"[{re.escape(members)}]") if members else None
        result[f"rows_with_{kind}"] = (
            sum(1 for row in rows if pattern.search(row)) if pattern else 0
        )
    result["rows_not_nfc"] = sum(1 for row in rows if not unicodedata.is_normalized("NFC", row))
    top = sorted(odd, key=lambda c: (-chars[c], ord(c)))[:TOP_ODD]
    result["top"] = [
        {
            "code_point": f"U+{ord(c):04X}",
            "name": unicodedata.name(c, "<unnamed>"),
            "kind": odd[c],
            "count": chars[c],
        }
        for c in top
    ]
    return result


def _ratio_outliers(corpus: Corpus, config: CleaningConfig) -> dict[str, Any]:
    floor = config.ratio_min_chars
    ratios = [(length_ratio(r.source, r.target, floor), r) for r in corpus.records]
    outliers = [(ratio, r) for ratio, r in ratios if ratio > config.max_length_ratio]
    worst = sorted(outliers, key=lambda item: (-item[0], item[1].line))[:TOP_EXAMPLES]
    return {
        "count": len(outliers),
        "threshold": config.max_length_ratio,
        "min_chars": floor,
        "examples": [{"line": r.line, "ratio": round(x, 2), "text": preview(r)} for x, r in worst],
    }


def _identical_pairs(corpus: Corpus, config: CleaningConfig, form) -> dict[str, Any]:
    shortest = max(config.identical_min_chars, 1)
    found = []
    for r in corpus.records:
        source = form(r.source)
        if len(source) >= shortest and source == form(r.target):
            found.append(r)
    return {
        "count": len(found),
        "min_chars": shortest,
        "examples": [{"line": r.line, "text": preview(r)} for r in found[:TOP_EXAMPLES]],
    }


def _label_balance(corpus: Corpus, config: CleaningConfig) -> dict[str, Any]:
    counts = Counter(r.label for r in corpus.records)
    declared = config.labels if config.labels is not None else corpus.labels
    order = list(declared or ()) + sorted(set(counts) - set(declared or ()))
    total = len(corpus) or 1
    labels = {lab: {"count": counts[lab], "share": round(counts[lab] / total, 4)} for lab in order}
    unknown = None
    if declared is not None:
        unknown = {lab: counts[lab] for lab in order if lab not in declared}
    return {
        "labels": labels,
        "declared": list(declared) if declared is not None else None,
        "unknown": unknown,
        "majority_share": round(max(counts.values()) / total, 4) if counts else None,
    }


def _conflicting(corpus: Corpus, form) -> dict[str, Any]:
    groups = conflicting_groups(corpus.records, form)
    examples = []
    for group in groups[:TOP_EXAMPLES]:
        records = [corpus.records[i] for i in group]
        examples.append(
            {
                "lines": [r.line for r in records],
                "labels": [r.label for r in records],
                "text": preview(records[0]),
            }
        )
    return {"texts": len(groups), "rows": sum(len(g) for g in groups), "examples": examples}


def _counts(texts: Sequence[str]) -> tuple[Counter, Counter]:
    """Character and word counts of `texts`."""
    joined = "\n".join(texts)
    chars = Counter(joined)
    if len(texts) > 1:
        chars["\n"] -= len(texts) - 1
        if chars["\n"] <= 0:
            del chars["\n"]
    return chars, Counter(_WORD.findall(joined.casefold()))


def _vocabulary(chars: Counter, words: Counter) -> dict[str, Any]:
    tokens = sum(words.values())
    ranked = [n for _, n in words.most_common(10_000)]
    return {
        "characters": sum(chars.values()),
        "distinct_characters": len(chars),
        "word_tokens": tokens,
        "distinct_words": len(words),
        "top_1k_share": _share(sum(ranked[:1000]), tokens),
        "top_10k_share": _share(sum(ranked), tokens),
        "hapax_share": _share(sum(1 for n in words.values() if n == 1), len(words)),
    }


def _coverage(counts: dict[str, tuple[Counter, Counter]], kind: str, reference: Corpus) -> dict:
    """Per field: the share of word tokens, word types and characters seen in `reference`."""
    ref_names = kind_fields(reference.kind)
    ref_columns = {
        n: [record_fields(r)[i] for r in reference.records] for i, n in enumerate(ref_names)
    }
    if reference.kind != kind:  # compare every field with all of the reference's text
        ref_columns = {n: [t for texts in ref_columns.values() for t in texts] for n in counts}
    coverage = {}
    for name, (chars, words) in counts.items():
        ref_chars, ref_words = _counts(ref_columns[name])
        seen_tokens = sum(n for w, n in words.items() if w in ref_words)
        tokens = sum(words.values())
        unseen = sorted((c for c in chars if c not in ref_chars), key=lambda c: (-chars[c], ord(c)))
        coverage[name] = {
            "word_tokens_seen": _share(seen_tokens, tokens),
            "word_types_seen": _share(sum(1 for w in words if w in ref_words), len(words)),
            "oov_rate": _share(tokens - seen_tokens, tokens),
            "characters_seen": _share(
                sum(n for c, n in chars.items() if c in ref_chars), sum(chars.values())
            ),
            "unseen_characters": [
                {"code_point": f"U+{ord(c):04X}", "count": chars[c]} for c in unseen[:TOP_ODD]
            ],
        }
    return coverage


def _cleaning_preview(corpus: Corpus, config: CleaningConfig, forms: dict[str, str]) -> dict:
    result = clean(corpus, config, forms=forms)
    return {
        "rows_out": result.rows_out,
        "dropped": result.dropped,
        "changed": result.changed,
        "skipped": result.skipped,
        "config": config.to_dict(),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


# ---------------------------------------------------------------------------------------------
# Rendering


def render_report(report: dict[str, Any]):
    """The main numbers of `report` as a `rich.table.Table` (one value column per field).

    >>> from keras_lm.data.corpus import Corpus
    >>> from keras_lm.data.quality import quality_report, render_report
    >>> table = render_report(quality_report(Corpus.from_texts(["a b", "c"])))
    >>> [c.header for c in table.columns]
    ['metric', 'text']
    """
    from rich.table import Table
    from rich.text import Text

    names = report["fields"]
    table = Table(title=Text(f"{report['name']} ({report['kind']})"), title_justify="left")
    table.add_column("metric")
    for name in names:
        table.add_column(name, justify="right")
    for metric, values in _table_rows(report):
        cells = values if isinstance(values, list) else [values] + [""] * (len(names) - 1)
        table.add_row(Text(metric), *(Text(str(c)) for c in cells))
    return table


def format_report_text(report: dict[str, Any], width: int = 100) -> str:
    """`render_report` as plain text (no colours), for READMEs and logs.

    >>> from keras_lm.data.corpus import Corpus
    >>> from keras_lm.data.quality import format_report_text, quality_report
    >>> "rows" in format_report_text(quality_report(Corpus.from_texts(["a b", "c"])))
    True
    """
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, color_system=None, force_terminal=False, emoji=False
    )
    console.print(render_report(report))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


Row = tuple[str, Any]  # a metric, and one value for the whole record or a list, one per field


def _table_rows(report: dict[str, Any]) -> list[Row]:
    rows = _shape_rows(report) + _odd_rows(report["odd_characters"]) + _kind_rows(report)
    rows += _vocabulary_rows(report)
    if "coverage" in report:
        rows += _coverage_rows(report)
    if "leakage" in report:
        rows += _leakage_rows(report["leakage"])
    return rows + _preview_rows(report["cleaning_preview"], report["rows"])


def _per_field(report: dict[str, Any], value) -> list[str]:
    return [value(name) for name in report["fields"]]


def _shape_rows(report: dict[str, Any]) -> list[Row]:
    length = report["length"]
    return [
        ("rows", _int(report["rows"])),
        ("empty", _per_field(report, lambda n: _int(report["empty"][n]))),
        ("exact duplicates", _int(report["duplicates"])),
        ("near duplicates (incl. exact)", _int(report["near_duplicates"])),
        (
            "chars min/p5/p50/p95/p99/max",
            _per_field(report, lambda n: _fmt_stats(length[n]["chars"])),
        ),
        ("chars mean", _per_field(report, lambda n: _fmt_mean(length[n]["chars"]["mean"]))),
        (
            "words min/p5/p50/p95/p99/max",
            _per_field(report, lambda n: _fmt_stats(length[n]["words"])),
        ),
        ("words mean", _per_field(report, lambda n: _fmt_mean(length[n]["words"]["mean"]))),
    ]


def _odd_rows(odd: dict[str, Any]) -> list[Row]:
    def both(a: str, b: str) -> str:
        return f"{_int(odd[a])} / {_int(odd[b])}"

    top = ", ".join(f"{c['code_point']}x{c['count']}" for c in odd["top"][:3])
    return [
        ("rows with control / U+FFFD", both("rows_with_control", "rows_with_replacement")),
        ("rows with format / private use", both("rows_with_format", "rows_with_private_use")),
        (
            "rows with odd whitespace / not NFC",
            both("rows_with_unusual_whitespace", "rows_not_nfc"),
        ),
        ("top odd characters", top or "-"),
    ]


def _vocabulary_rows(report: dict[str, Any]) -> list[Row]:
    vocab = report["vocabulary"]

    def top(n: str) -> str:
        return f"{_pct(vocab[n]['top_1k_share'])} / {_pct(vocab[n]['top_10k_share'])}"

    return [
        ("characters", _per_field(report, lambda n: _int(vocab[n]["characters"]))),
        (
            "distinct characters",
            _per_field(report, lambda n: _int(vocab[n]["distinct_characters"])),
        ),
        ("word tokens", _per_field(report, lambda n: _int(vocab[n]["word_tokens"]))),
        ("distinct words", _per_field(report, lambda n: _int(vocab[n]["distinct_words"]))),
        ("tokens in top 1k / 10k words", _per_field(report, top)),
        (
            "hapax share of distinct words",
            _per_field(report, lambda n: _pct(vocab[n]["hapax_share"])),
        ),
    ]


def _coverage_rows(report: dict[str, Any]) -> list[Row]:
    cov = report["coverage"]

    def seen(n: str) -> str:
        return f"{_pct(cov[n]['word_tokens_seen'])} ({_pct(cov[n]['oov_rate'])})"

    return [
        ("coverage reference", Path(report["reference"]).name),
        ("word tokens seen (OOV rate)", _per_field(report, seen)),
        ("word types seen", _per_field(report, lambda n: _pct(cov[n]["word_types_seen"]))),
        ("characters seen", _per_field(report, lambda n: _pct(cov[n]["characters_seen"], 3))),
    ]


def _leakage_rows(leak: dict[str, Any]) -> list[Row]:
    def count(name: str) -> str:
        return f"{_int(leak[name])} ({_pct(leak[name] / leak['rows'] if leak['rows'] else None)})"

    return [
        (f"leak check ({leak['field']}): rows seen in reference", count("any")),
        ("  near duplicates of a reference row", count("near_duplicates")),
        ("  inside a longer reference row", count("inside_train_row")),
        (
            f"  containing a reference row of >= {leak['min_words']} words",
            count("contains_train_row"),
        ),
    ]


def _kind_rows(report: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if "ratio_outliers" in report:
        ratio = report["ratio_outliers"]
        name = f"length ratio > {ratio['threshold']} (floor {ratio['min_chars']})"
        rows += [
            (name, _int(ratio["count"])),
            ("identical pairs", _int(report["identical_pairs"]["count"])),
        ]
    if "label_balance" in report:
        balance = report["label_balance"]
        unknown = balance["unknown"] or {}
        for label, item in list(balance["labels"].items())[:10]:
            name = f"label {label}" + (" (unknown)" if label in unknown else "")
            rows.append((name, f"{_int(item['count'])} ({_pct(item['share'])})"))
        conflicting = report["conflicting_labels"]
        counts = f"{_int(conflicting['texts'])} / {_int(conflicting['rows'])}"
        rows.append(("conflicting labels: texts / rows", counts))
    return rows


def _preview_rows(preview_: dict[str, Any], rows_in: int) -> list[Row]:
    rows: list[Row] = [
        ("default cleaning keeps", f"{_int(preview_['rows_out'])} of {_int(rows_in)}")
    ]
    dropped = [(f"  dropped by {k}", _int(v)) for k, v in preview_["dropped"].items() if v]
    changed = [(f"  changed by {k}", _int(v)) for k, v in preview_["changed"].items() if v]
    return rows + (dropped or [("  dropped", "none")]) + changed


def _fmt_stats(stats: dict[str, Any]) -> str:
    if stats["min"] is None:
        return "-"
    return "/".join(str(stats[k]) for k in ("min", "p5", "p50", "p95", "p99", "max"))


def _fmt_mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"
