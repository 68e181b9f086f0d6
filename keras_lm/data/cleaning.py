"""Named cleaning rules: transforms that repair text and filters that drop records.

Every rule has a stable name, used in `CleaningConfig`, in the counts of a
`CleanResult` and in the data-quality report. Rules run in the order of `RULES`.

Transforms (applied to every text field: a line, `source` and `target`, or a labelled
`text`; never to labels or extra columns):
- `nfc`: Unicode normalisation form C.
- `control_chars`: removes C0 controls other than tab and newline (U+0000-U+0008,
  U+000B-U+001F, so also CR, vertical tab and form feed), DEL and the C1 controls
  (U+007F-U+009F), and these invisible format characters: U+00AD SOFT HYPHEN, U+180E
  MONGOLIAN VOWEL SEPARATOR, U+200B ZERO WIDTH SPACE, U+2060 WORD JOINER, U+2061-U+2064
  invisible math operators, U+FEFF BYTE ORDER MARK (zero width no-break space) and
  U+FFF9-U+FFFB interlinear annotation marks. Kept on purpose, because text needs
  them: U+200C/U+200D (ZWNJ/ZWJ: Persian, Indic scripts, emoji sequences), the
  bidirectional marks and embeddings (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069),
  variation selectors and tag characters.
- `whitespace`: every run of Unicode whitespace (tabs, no-break spaces included)
  becomes one space; leading and trailing whitespace is removed.

Filters (drop a record; a record is counted by the first rule that drops it):
- `empty`: a text field that is empty or whitespace only (after the transforms).
- `length`: a text field shorter than `min_chars` or longer than `max_chars` characters.
- `length_ratio` (parallel): longer side / max(shorter side, `ratio_min_chars`) above
  `max_length_ratio`, in characters; the floor keeps "Go."/"Ve." or "No."/"De ninguna
  manera." from counting as outliers.
- `identical_pair` (parallel): source and target have the same `near_duplicate_form`,
  at least `identical_min_chars` long (so "No."/"No." stays).
- `unknown_label` (labelled): a label outside the declared set (`CleaningConfig.labels`,
  else `corpus.labels`; skipped, and said so, when neither declares one).
- `exact_duplicates`: a record equal to an earlier kept one: the line; source and
  target (the whole pair: one English sentence may have many translations); or
  text and label.
- `near_duplicates`: the same, comparing `near_duplicate_form` of each text field
  (the first occurrence is kept): "Cheer up!" and "cheer up." are near duplicates.
- `conflicting_labels` (labelled): every record whose `near_duplicate_form` text also
  occurs with another label (the truth is unknown, so none of them is kept).

Example:
>>> from keras_lm.data.corpus import Corpus
>>> from keras_lm.data.cleaning import CleaningConfig, clean
>>> c = Corpus.from_pairs([("Go.", "Ve."), ("Go.", "Ve."), ("Hi.", " "), ("Cheer up!", "¡Ánimo!"),
...                        ("cheer up.", "¡Ánimo!")])
>>> r = clean(c, CleaningConfig.for_kind("parallel"))
>>> r.rows_out, {k: v for k, v in r.dropped.items() if v}
(2, {'empty': 1, 'exact_duplicates': 1, 'near_duplicates': 1})
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from keras_lm.config import Config
from keras_lm.config import at_least
from keras_lm.data.corpus import Corpus
from keras_lm.data.corpus import CorpusKind
from keras_lm.data.corpus import LabelledRecord
from keras_lm.data.corpus import PairRecord
from keras_lm.data.corpus import Record
from keras_lm.data.corpus import TextRecord
from keras_lm.data.splits import match_key
from keras_lm.errors import ConfigError

TRANSFORMS: tuple[str, ...] = ("nfc", "control_chars", "whitespace")
FILTERS: tuple[str, ...] = (
    "empty",
    "length",
    "length_ratio",
    "identical_pair",
    "unknown_label",
    "exact_duplicates",
    "near_duplicates",
    "conflicting_labels",
)
RULES: tuple[str, ...] = TRANSFORMS + FILTERS
# Filters that only make sense for some corpus kinds; the others apply to every kind.
RULE_KINDS: dict[str, tuple[str, ...]] = {
    "length_ratio": ("parallel",),
    "identical_pair": ("parallel",),
    "unknown_label": ("labelled",),
    "conflicting_labels": ("labelled",),
}
FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "parallel": ("source", "target"),
    "labelled": ("text",),
}

# Invisible format characters removed by `control_chars` (see the module docstring).
NOISE_FORMAT_CHARS: tuple[int, ...] = (
    0x00AD,
    0x180E,
    0x200B,
    0x2060,
    0x2061,
    0x2062,
    0x2063,
    0x2064,
    0xFEFF,
    0xFFF9,
    0xFFFA,
    0xFFFB,
)
_CONTROL_CODES = [c for c in range(0x20) if c not in (0x09, 0x0A)] + list(range(0x7F, 0xA0))
_REMOVED = "".join(chr(c) for c in (*_CONTROL_CODES, *NOISE_FORMAT_CHARS))
_REMOVED_RE = re.compile(f"[{re.escape(_REMOVED)}]+")
_PREVIEW_CHARS = 80


@dataclasses.dataclass(frozen=True)
class CleaningConfig(Config):
    """Which cleaning rules run, and their thresholds. The defaults are those of `text` corpora.

    Args:
        nfc, control_chars, whitespace: bool. Transforms (see the module docstring).
        empty, length, length_ratio, identical_pair, unknown_label, exact_duplicates,
            near_duplicates, conflicting_labels: bool. Filters; a filter that does not
            apply to the corpus kind is skipped (and listed in `CleanResult.skipped`).
        min_chars: int. `length`: fewest characters per text field.
        max_chars: int | None. `length`: most characters per text field (None: no limit).
        max_length_ratio: float. `length_ratio`: largest longer/shorter side ratio kept.
        ratio_min_chars: int. `length_ratio`: a side shorter than this counts as this long.
        identical_min_chars: int. `identical_pair`: shortest normalised text to compare.
        labels: tuple of str | None. `unknown_label`: the declared label set (else the corpus').

    >>> from keras_lm.data.cleaning import CleaningConfig
    >>> CleaningConfig.for_kind("text").exact_duplicates
    False
    >>> CleaningConfig.for_kind("parallel").with_overrides(["max_length_ratio=4"]).max_length_ratio
    4.0
    """

    RANGES = {
        "min_chars": at_least(0),
        "max_chars": at_least(1),  # None: no limit
        "max_length_ratio": at_least(1),
        "ratio_min_chars": at_least(1),
        "identical_min_chars": at_least(0),
    }

    nfc: bool = True
    control_chars: bool = True
    whitespace: bool = False
    empty: bool = False
    length: bool = False
    min_chars: int = 1
    max_chars: int | None = 2000
    length_ratio: bool = False
    max_length_ratio: float = 3.0
    ratio_min_chars: int = 10
    identical_pair: bool = False
    identical_min_chars: int = 8
    unknown_label: bool = False
    labels: tuple[str, ...] | None = None
    exact_duplicates: bool = False
    near_duplicates: bool = False
    conflicting_labels: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.max_chars is not None and self.max_chars < self.min_chars:
            raise ConfigError(f"max_chars: must be >= min_chars, got {self.max_chars}")

    @classmethod
    def for_kind(cls, kind: str) -> CleaningConfig:
        """The default rules for a corpus kind.

        `text` (a language-model corpus, one record per line): only `nfc` and
        `control_chars`; blank lines and repeated lines are text (they separate
        speeches, speaker names repeat), so nothing is dropped or collapsed.
        `parallel`: every transform, and every filter. `labelled`: every transform,
        and every filter but the parallel ones.
        """
        if kind == "text":
            return cls()
        if kind not in ("parallel", "labelled"):
            raise ConfigError(
                f"kind: expected one of ['text', 'parallel', 'labelled'], got {kind!r}"
            )
        on = {name: True for name in RULES if kind in RULE_KINDS.get(name, (kind,))}
        return cls(**on)

    def enabled(self, kind: str) -> list[str]:
        """The rules switched on that apply to `kind`, in the order they run."""
        return [
            name for name in RULES if getattr(self, name) and kind in RULE_KINDS.get(name, (kind,))
        ]


@dataclasses.dataclass(frozen=True)
class CleanResult:
    """What `clean` did.

    Args:
        corpus: Corpus. The records kept, transformed, with their original line numbers.
        rows_in, rows_out: int. Records before and after.
        dropped: dict rule -> records it dropped (every enabled filter, in rule order).
        changed: dict rule -> records it modified (every enabled transform).
        examples: dict rule -> up to a few dropped records: line, text preview, detail.
        skipped: dict rule -> why an enabled rule did not run (e.g. no declared labels).
        config: CleaningConfig. The rules used.
    """

    corpus: Corpus
    rows_in: int
    rows_out: int
    dropped: dict[str, int]
    changed: dict[str, int]
    examples: dict[str, list[dict[str, Any]]]
    skipped: dict[str, str]
    config: CleaningConfig

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible summary (everything but the records)."""
        return {
            "name": self.corpus.name,
            "kind": self.corpus.kind,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(self.dropped),
            "changed": dict(self.changed),
            "skipped": dict(self.skipped),
            "examples": {rule: list(items) for rule, items in self.examples.items()},
            "config": self.config.to_dict(),
        }


def near_duplicate_form(text: str) -> str:
    """The form near duplicates share: NFC, case-folded, only letters, digits and single spaces.

    The same rule as `keras_lm.data.splits.match_key` (plus NFC), so a near duplicate
    here is a "match" for the splits.

    >>> from keras_lm.data.cleaning import near_duplicate_form
    >>> near_duplicate_form("  Cheer   up!") == near_duplicate_form("cheer up.")
    True
    """
    return match_key(unicodedata.normalize("NFC", text))


def record_fields(record: Record) -> tuple[str, ...]:
    """The text fields of a record: (text,), (source, target) or (text,)."""
    if isinstance(record, PairRecord):
        return (record.source, record.target)
    return (record.text,)


def exact_key(record: Record) -> tuple[str, ...]:
    """What two exact-duplicate records share: the line, the pair, or text and label."""
    if isinstance(record, LabelledRecord):
        return (record.text, record.label)
    return record_fields(record)


def near_key(record: Record, form: Callable[[str], str] = near_duplicate_form) -> tuple[str, ...]:
    """What two near-duplicate records share: `near_duplicate_form` of each field (and the label)."""
    key = tuple(form(text) for text in record_fields(record))
    return (*key, record.label) if isinstance(record, LabelledRecord) else key


def length_ratio(a: str, b: str, min_chars: int = 10) -> float:
    """Longer / shorter length in characters, each length counted as at least `min_chars`.

    >>> from keras_lm.data.cleaning import length_ratio
    >>> length_ratio("Go.", "Ve."), length_ratio("Yes.", "Sí, por supuesto que sí.", 10)
    (1.0, 2.4)
    """
    short, long = sorted((len(a), len(b)))
    floor = max(min_chars, 1)
    return max(long, floor) / max(short, floor)


def is_blank(text: str) -> bool:
    """True for an empty or whitespace-only string."""
    return not text or text.isspace()


def nfc(text: str) -> str:
    """Unicode NFC.

    >>> from keras_lm.data.cleaning import nfc
    >>> nfc("e\\u0301") == "\\u00e9"
    True
    """
    return unicodedata.normalize("NFC", text)


def remove_control_chars(text: str) -> str:
    """Remove the control and invisible format characters listed in the module docstring.

    >>> from keras_lm.data.cleaning import remove_control_chars
    >>> remove_control_chars("a\\x00b\\u200bc\\td")
    'abc\\td'
    """
    return _REMOVED_RE.sub("", text)


def collapse_whitespace(text: str) -> str:
    """Runs of whitespace become one space; the ends are stripped.

    >>> from keras_lm.data.cleaning import collapse_whitespace
    >>> collapse_whitespace("  to \\t be\\u00a0 ")
    'to be'
    """
    return " ".join(text.split())


TRANSFORM_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "nfc": nfc,
    "control_chars": remove_control_chars,
    "whitespace": collapse_whitespace,
}


def clean(
    corpus: Corpus,
    config: CleaningConfig | None = None,
    max_examples: int = 3,
    forms: dict[str, str] | None = None,
) -> CleanResult:
    """Apply the enabled rules of `config` (default: `CleaningConfig.for_kind(corpus.kind)`).

    Deterministic: the kept records keep their order and original line numbers.
    `forms` is an optional memo text -> `near_duplicate_form(text)`, filled as it goes,
    to share between calls on the same texts (the quality report does).

    >>> from keras_lm.data.corpus import Corpus
    >>> from keras_lm.data.cleaning import CleaningConfig, clean
    >>> c = Corpus.from_texts(["To be", "", "To be"])
    >>> len(clean(c).corpus), len(clean(c, CleaningConfig.for_kind("parallel")).corpus)
    (3, 1)
    """
    config = config or CleaningConfig.for_kind(corpus.kind)
    rules = config.enabled(corpus.kind)
    records, changed = _transform(corpus.records, [r for r in rules if r in TRANSFORMS])
    labels = config.labels if config.labels is not None else corpus.labels
    skipped = {}
    if "unknown_label" in rules and labels is None:
        skipped["unknown_label"] = "no declared label set (corpus.labels or CleaningConfig.labels)"
    context = _Context(config, set(labels) if labels is not None else None, forms)
    alive = list(range(len(records)))
    dropped: dict[str, int] = {}
    examples: dict[str, list[dict[str, Any]]] = {}
    for rule in (r for r in rules if r in FILTERS and r not in skipped):
        hits = _FILTERS[rule]([records[i] for i in alive], context)
        dropped[rule] = len(hits)
        examples[rule] = [
            {
                "line": corpus.records[alive[pos]].line,
                "text": preview(corpus.records[alive[pos]]),
                **detail,
            }
            for pos, detail in hits[:max_examples]
        ]
        gone = {pos for pos, _ in hits}
        alive = [i for pos, i in enumerate(alive) if pos not in gone]
    new_labels = config.labels if config.labels is not None else corpus.labels
    out = corpus.replace((records[i] for i in alive), labels=new_labels)
    return CleanResult(out, len(corpus), len(out), dropped, changed, examples, skipped, config)


def preview(record: Record, width: int = _PREVIEW_CHARS) -> str:
    """A one-line preview of a record for reports: `source => target`, `text [label]`, or the line."""
    if isinstance(record, PairRecord):
        text = f"{record.source} => {record.target}"
    elif isinstance(record, LabelledRecord):
        text = f"{record.text} [{record.label}]"
    else:
        text = record.text
    return text if len(text) <= width else text[: width - 3] + "..."


def _transform(records: Sequence[Record], names: list[str]) -> tuple[list[Record], dict[str, int]]:
    changed = dict.fromkeys(names, 0)
    if not names:
        return list(records), changed
    functions = [(name, TRANSFORM_FUNCTIONS[name]) for name in names]
    out: list[Record] = []
    for record in records:
        fields = record_fields(record)
        for name, function in functions:
            new = tuple(map(function, fields))
            if new != fields:
                changed[name] += 1
                fields = new
        out.append(record if fields == record_fields(record) else _with_fields(record, fields))
    return out, changed


def _with_fields(record: Record, fields: tuple[str, ...]) -> Record:
    if isinstance(record, PairRecord):
        return PairRecord(fields[0], fields[1], record.line, record.extra)
    if isinstance(record, LabelledRecord):
        return LabelledRecord(fields[0], record.label, record.line)
    return TextRecord(fields[0], record.line)


class _Context:
    """What the filters share within one `clean` call: the config, labels, a memo of forms."""

    def __init__(
        self, config: CleaningConfig, labels: set[str] | None, forms: dict[str, str] | None
    ):
        self.config = config
        self.labels = labels
        self._forms = {} if forms is None else forms

    def form(self, text: str) -> str:
        found = self._forms.get(text)
        if found is None:
            found = self._forms[text] = near_duplicate_form(text)
        return found


Hit = tuple[int, dict[str, Any]]  # position in the records given to the filter, detail


def _drop_empty(records: list[Record], ctx: _Context) -> list[Hit]:
    return [(i, {}) for i, r in enumerate(records) if any(is_blank(t) for t in record_fields(r))]


def _drop_length(records: list[Record], ctx: _Context) -> list[Hit]:
    low, high = ctx.config.min_chars, ctx.config.max_chars or float("inf")
    hits = []
    for i, record in enumerate(records):
        sizes = [len(t) for t in record_fields(record)]
        if min(sizes) < low or max(sizes) > high:
            hits.append((i, {"chars": sizes}))
    return hits


def _drop_length_ratio(records: list[Record], ctx: _Context) -> list[Hit]:
    limit, floor = ctx.config.max_length_ratio, ctx.config.ratio_min_chars
    hits = []
    for i, r in enumerate(records):
        ratio = length_ratio(r.source, r.target, floor)
        if ratio > limit:
            hits.append((i, {"ratio": round(ratio, 2)}))
    return hits


def _drop_identical_pair(records: list[Record], ctx: _Context) -> list[Hit]:
    shortest = ctx.config.identical_min_chars
    hits = []
    for i, r in enumerate(records):
        source = ctx.form(r.source)
        if len(source) >= max(shortest, 1) and source == ctx.form(r.target):
            hits.append((i, {}))
    return hits


def _drop_unknown_label(records: list[Record], ctx: _Context) -> list[Hit]:
    return [(i, {"label": r.label}) for i, r in enumerate(records) if r.label not in ctx.labels]


def _drop_repeats(records: list[Record], key: Callable[[Record], tuple]) -> list[Hit]:
    first: dict[tuple, int] = {}
    hits = []
    for i, record in enumerate(records):
        k = key(record)
        if k in first:
            hits.append((i, {"first_line": first[k]}))
        else:
            first[k] = record.line
    return hits


def _drop_exact(records: list[Record], ctx: _Context) -> list[Hit]:
    return _drop_repeats(records, exact_key)


def _drop_near(records: list[Record], ctx: _Context) -> list[Hit]:
    return _drop_repeats(records, lambda r: near_key(r, ctx.form))


def _drop_conflicting(records: list[Record], ctx: _Context) -> list[Hit]:
    groups = conflicting_groups(records, ctx.form)
    hits = []
    for positions in groups:
        labels = sorted({records[i].label for i in positions})
        hits.extend((i, {"labels": labels}) for i in positions)
    return sorted(hits, key=lambda hit: hit[0])


def conflicting_groups(
    records: Sequence[Record], form: Callable[[str], str] = near_duplicate_form
) -> list[list[int]]:
    """Positions of labelled records grouped by `near_duplicate_form` text, where a group has
    more than one label; groups in order of first occurrence.

    >>> from keras_lm.data.corpus import Corpus
    >>> from keras_lm.data.cleaning import conflicting_groups
    >>> conflicting_groups(Corpus.from_labelled([("Good!", "1"), ("meh", "0"), ("good", "0")]).records)
    [[0, 2]]
    """
    groups: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        groups.setdefault(form(record.text), []).append(i)
    return [g for g in groups.values() if len(g) > 1 and len({records[i].label for i in g}) > 1]


_FILTERS: dict[str, Callable[[list[Record], _Context], list[Hit]]] = {
    "empty": _drop_empty,
    "length": _drop_length,
    "length_ratio": _drop_length_ratio,
    "identical_pair": _drop_identical_pair,
    "unknown_label": _drop_unknown_label,
    "exact_duplicates": _drop_exact,
    "near_duplicates": _drop_near,
    "conflicting_labels": _drop_conflicting,
}


def kind_fields(kind: CorpusKind | str) -> tuple[str, ...]:
    """The text field names of a corpus kind, as the report names them."""
    return FIELDS[kind]
