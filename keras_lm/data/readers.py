"""Readers for the three corpus formats: plain text, parallel TSV, labelled TSV/CSV.

Each reader decodes strict UTF-8 (a bad byte is an error that names its offset
and line, unless `errors="replace"` is asked for), checks the structure of every
row, and returns a `Corpus`. Nothing is skipped silently.

Example:
>>> import pathlib, tempfile
>>> p = pathlib.Path(tempfile.mkdtemp()) / "pairs.tsv"
>>> _ = p.write_text("Go.\\tVe.\\nHi.\\tHola.\\n", encoding="utf-8")
>>> [(r.source, r.target) for r in read_parallel(p)]
[('Go.', 'Ve.'), ('Hi.', 'Hola.')]
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from keras_lm.data.corpus import Corpus
from keras_lm.data.corpus import CorpusKind
from keras_lm.data.corpus import LabelledRecord
from keras_lm.data.corpus import PairRecord
from keras_lm.data.corpus import TextRecord
from keras_lm.errors import InputError

Errors = Literal["strict", "replace"]
TEXT_COLUMNS = ("sentence", "text")


def read_lines(path: str | os.PathLike, errors: Errors = "strict") -> list[str]:
    """Decode a file as UTF-8 and split it into lines (LF or CRLF; no final empty line)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(str(path), "file not found") from None
    except IsADirectoryError:
        raise InputError(str(path), "is a directory, expected a file") from None
    if not data.strip():
        raise InputError(str(path), "file is empty: expected at least one non-blank line")
    try:
        text = data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        bad = data[err.start : err.start + 4].hex(" ")
        raise InputError(
            str(path),
            f"not valid UTF-8 (bytes {bad}: {err.reason}); fix the file or pass errors='replace' "
            "(CLI: --encoding-errors replace) to substitute U+FFFD and go on",
            line=line,
            offset=err.start,
        ) from None
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def read_text(path: str | os.PathLike, errors: Errors = "strict") -> Corpus:
    """Plain text: one record per line, blank lines kept (the quality report counts them)."""
    lines = read_lines(path, errors)
    return Corpus("text", tuple(TextRecord(t, i + 1) for i, t in enumerate(lines)), str(path))


def read_parallel(
    path: str | os.PathLike,
    errors: Errors = "strict",
    num_columns: int | None = None,
    header: bool = False,
) -> Corpus:
    """Parallel TSV: `source<TAB>target[<TAB>extra...]`.

    Every row must have the same number of columns as the first one (or
    `num_columns` when given), and at least two.
    """
    lines = read_lines(path, errors)
    start = 1 if header else 0
    expected = num_columns
    records = []
    for number, line in enumerate(lines[start:], start=start + 1):
        cells = line.split("\t")
        if expected is None:
            expected = len(cells)
            if expected < 2:
                raise InputError(
                    str(path),
                    f"expected at least 2 tab-separated columns (source, target), found {expected}",
                    line=number,
                )
        if len(cells) != expected:
            raise InputError(
                str(path),
                f"expected {expected} tab-separated columns, found {len(cells)}: {_preview(line)}",
                line=number,
            )
        records.append(PairRecord(cells[0], cells[1], number, tuple(cells[2:])))
    if not records:
        raise InputError(str(path), "no rows after the header")
    return Corpus("parallel", tuple(records), str(path))


def read_labelled(
    path: str | os.PathLike,
    errors: Errors = "strict",
    text_column: str | int | None = None,
    label_column: str | int = "label",
    labels: Sequence[str] | None = None,
    header: bool = True,
    delimiter: str | None = None,
) -> Corpus:
    """Labelled TSV or CSV with a header row (`sentence`/`text` and `label` by default).

    TSV is read with quoting disabled (SST-2 sentences hold quotes and backquotes);
    CSV with standard quoting. A label outside `labels`, when given, is an error.
    """
    path = Path(path)
    delimiter = delimiter or ("," if path.suffix.lower() == ".csv" else "\t")
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    text = "\n".join(read_lines(path, errors)) + "\n"
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True
    )
    rows = _read_rows(reader, path)
    if header:
        names, rows = rows[0][1], rows[1:]
        text_idx = _column_index(names, text_column, TEXT_COLUMNS, path, "text")
        label_idx = _column_index(names, label_column, ("label",), path, "label")
    else:
        names = None
        text_idx = 0 if text_column is None else int(text_column)
        label_idx = 1 if label_column == "label" else int(label_column)
    width = max(text_idx, label_idx) + 1
    allowed = set(labels) if labels is not None else None
    label_name = names[label_idx] if names else str(label_idx)
    records = []
    for number, cells in rows:
        if len(cells) < width or (names and len(cells) != len(names)):
            want = len(names) if names else width
            raise InputError(str(path), f"expected {want} columns, found {len(cells)}", line=number)
        label = cells[label_idx].strip()
        if allowed is not None and label not in allowed:
            raise InputError(
                str(path),
                f"label {label!r} is not one of {sorted(allowed)}",
                line=number,
                field=label_name,
            )
        records.append(LabelledRecord(cells[text_idx], label, number))
    if not records:
        raise InputError(str(path), "no rows after the header")
    return Corpus(
        "labelled", tuple(records), str(path), tuple(labels) if labels is not None else None
    )


def read_corpus(path: str | os.PathLike, kind: CorpusKind | None = None, **options) -> Corpus:
    """Read `path` as `kind`, or guess it: `.csv` labelled; `.tsv` labelled if its header has a
    `label` column, else parallel; anything else plain text."""
    kind = kind or guess_kind(path)
    reader = {"text": read_text, "parallel": read_parallel, "labelled": read_labelled}[kind]
    return reader(path, **options)


def guess_kind(path: str | os.PathLike) -> CorpusKind:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "labelled"
    if suffix == ".tsv":
        with open(path, "rb") as f:
            first = (
                f.readline().decode("utf-8", errors="replace").rstrip("\r\n").lower().split("\t")
            )
        return "labelled" if "label" in first else "parallel"
    return "text"


def _read_rows(reader, path: Path) -> list[tuple[int, list[str]]]:
    rows = []
    try:
        for cells in reader:
            if cells:
                rows.append((reader.line_num, cells))
    except csv.Error as err:
        raise InputError(str(path), f"malformed row: {err}", line=reader.line_num) from None
    if not rows:
        raise InputError(str(path), "no rows")
    return rows


def _column_index(names, wanted, defaults, path: Path, what: str) -> int:
    if isinstance(wanted, int):
        return wanted
    candidates = (wanted,) if wanted else defaults
    for name in candidates:
        if name in names:
            return names.index(name)
    raise InputError(
        str(path),
        f"header {names} has no {what} column (looked for {', '.join(candidates)})",
        line=1,
        field=what,
    )


def _preview(line: str, width: int = 60) -> str:
    return repr(line if len(line) <= width else line[:width] + "...")
