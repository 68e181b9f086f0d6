"""WordPiece, replicating keras_hub's WordPieceTokenizer (tensorflow-text FastWordpiece) exactly.

keras_hub 0.32 has a Python path of its own, but it imports keras, so this is a
TensorFlow- and Keras-free copy of the same algorithm:

1. optional accent stripping (NFD, then drop category Mn) and, per word, case folding
   (NFKC_Casefold: NFKC, casefold, NFKC, drop default-ignorable code points);
2. split on ASCII whitespace, control (Cc) and format (Cf) characters (dropped) and on
   punctuation and CJK ideographs (kept, one character per word), using the same
   character classes as TensorFlow's RE2 (see `_RE2_UNKNOWN_PUNCT`);
3. greedy longest-match-first WordPiece per word, "##" marking a word-internal piece; a
   word that cannot be covered, or is longer than 100 UTF-8 bytes, becomes "[UNK]".

Decoding joins "##" pieces to the previous piece and the rest with spaces (not an exact
inverse: spacing around punctuation is lost).

Example:
>>> vocab = ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "[MASK]", "the", "qu", "##ick", ".", "Á"]
>>> tok = WordPieceTokenizer(vocab)
>>> tok.encode("the quick. Áz")
[5, 6, 7, 8, 1]
>>> tok.decode([2, 5, 6, 7, 8, 1, 3])
'the quick . [UNK]'
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import regex

from keras_lm.errors import InputError
from keras_lm.tokenizers.base import Tokenizer
from keras_lm.tokenizers.base import check_vocabulary

# tf-text FastWordpieceTokenizer maps longer words to the unknown token.
MAX_BYTES_PER_WORD = 100
SUFFIX = "##"
_CACHE_LIMIT = 500_000

# Dropped delimiters: RE2's `\s` is ASCII whitespace only; plus control and format characters.
_WHITESPACE = r"\t\n\f\r \p{Cc}\p{Cf}"
# Code points the `regex` module (Unicode 16) puts in \p{P} that TensorFlow's RE2 does not
# (Unicode 15.1); they stay word characters, as in TensorFlow. The parity tests check every
# code point against RE2, so a library upgrade that moves these is caught.
_RE2_UNKNOWN_PUNCT = (
    r"\u1B4E\u1B4F\u1B7F\u2E60-\u2E63\U00010D6E\U00010ED0\U000113D4\U000113D5"
    r"\U000113D7\U000113D8\U00011BE1\U00016D6D-\U00016D6F\U0001E5FF"
)
_PUNCTUATION = rf"!-/:-@\[-`{{-~[\p{{P}}--[{_RE2_UNKNOWN_PUNCT}]]"
_CJK = (
    r"\u4E00-\u9FFF\u3400-\u4DBF\U00020000-\U0002A6DF\U0002A700-\U0002B73F"
    r"\U0002B740-\U0002B81F\U0002B820-\U0002CEAF\uF900-\uFAFF\U0002F800-\U0002FA1F"
)
# Unicode Default_Ignorable_Code_Point ranges, dropped by tf-text's case_fold_utf8.
_DEFAULT_IGNORABLE = regex.compile(
    r"[\u00AD\u034F\u061C\u115F-\u1160\u17B4-\u17B5\u180B-\u180F\u200B-\u200F"
    r"\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFF8"
    r"\U0001BCA0-\U0001BCA3\U0001D173-\U0001D17A\U000E0000-\U000E0FFF]"
)


@functools.lru_cache(maxsize=4)
def _word_pattern(split_on_cjk: bool) -> regex.Pattern:
    """A kept delimiter (one punctuation or CJK character), or a run of word characters."""
    keep = _PUNCTUATION + (_CJK if split_on_cjk else "")
    return regex.compile(rf"[{keep}]|[^{_WHITESPACE}{keep}]+", flags=regex.V1)


def case_fold(text: str) -> str:
    """NFKC_Casefold as tf-text's `case_fold_utf8` applies it (ICU), with Python's tables.

    >>> case_fold("Straße Ǆ")
    'strasse dž'
    """
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return _DEFAULT_IGNORABLE.sub("", text)


def strip_accents(text: str) -> str:
    """NFD, then drop nonspacing marks (category Mn).

    >>> strip_accents("Ñandú")
    'Nandu'
    """
    text = unicodedata.normalize("NFD", text)
    return "".join([c for c in text if unicodedata.category(c) != "Mn"])


def pretokenize(
    text: str, lowercase: bool = False, strip: bool = False, split_on_cjk: bool = True
) -> list[str]:
    """Split `text` into the words WordPiece sees, as keras_hub's `pretokenize` does.

    >>> pretokenize("¿Dónde? 数据x")
    ['¿', 'Dónde', '?', '数', '据', 'x']
    """
    # tf-text's regex_split ignores everything from the first NUL character on.
    text = text.partition("\0")[0]
    if strip:
        text = strip_accents(text)
    words = _word_pattern(split_on_cjk).findall(text)
    if lowercase:
        words = [case_fold(w) for w in words]
    return words


class WordPieceTokenizer(Tokenizer):
    """WordPiece with keras_hub's pre-tokenization.

    Args:
        vocabulary: token strings by id, the specials at 0..4; "##x" marks a suffix piece.
        lowercase: case-fold words (NFKC_Casefold) before lookup.
        strip_accents: drop accents (NFD, remove Mn) before splitting.
        split_on_cjk: make every CJK ideograph its own word.
    """

    kind = "wordpiece"
    asset_name = "vocab.txt"

    def __init__(
        self,
        vocabulary: Sequence[str],
        lowercase: bool = False,
        strip_accents: bool = False,
        split_on_cjk: bool = True,
    ):
        super().__init__(self._checked_vocabulary(vocabulary))
        bad = [t for t in self._vocab if not t or "\n" in t or "\r" in t]
        if bad:
            raise InputError(
                f"{self.kind} vocabulary",
                f"tokens must be non-empty and hold no line break: {bad[:5]!r}",
            )
        self._max_chars = max(len(t) for t in self._vocab)
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.split_on_cjk = split_on_cjk
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def _checked_vocabulary(cls, vocabulary: Sequence[str]) -> list[str]:
        """The specials at ids 0..4, every token once (a subclass may place its specials)."""
        return check_vocabulary(vocabulary, f"{cls.kind} vocabulary")

    def clear_cache(self) -> None:
        self._cache.clear()

    def _encode(self, text: str) -> list[int]:
        cache, ids = self._cache, []
        for word in pretokenize(text, self.lowercase, self.strip_accents, self.split_on_cjk):
            pieces = cache.get(word)
            if pieces is None:
                if len(cache) > _CACHE_LIMIT:
                    cache.clear()
                pieces = cache[word] = self._word_ids(word)
            ids.extend(pieces)
        return ids

    def _word_ids(self, word: str) -> list[int]:
        """Greedy longest-match-first, as tf-text's FastWordpiece (same result, simpler)."""
        unk = [self.specials.unk_id]
        if not word:
            return []
        if len(word.encode("utf-8")) > MAX_BYTES_PER_WORD:
            return unk
        index, ids, start, n = self._index, [], 0, len(word)
        while start < n:
            end = min(n, start + self._max_chars)
            while end > start:
                piece = word[start:end] if start == 0 else SUFFIX + word[start:end]
                found = index.get(piece)
                if found is not None:
                    break
                end -= 1
            else:
                return unk
            ids.append(found)
            start = end
        return ids

    def _decode(self, ids: list[int], skip_special: bool) -> str:
        """FastWordpiece detokenization: "##x" joins the previous word; words join with " "."""
        vocab, words = self._vocab, []
        for i in ids:
            token = vocab[i]
            if words and len(token) > len(SUFFIX) and token.startswith(SUFFIX):
                words[-1] += token[len(SUFFIX) :]
            else:
                words.append(token)
        return " ".join(words)

    def options(self) -> dict[str, Any]:
        return {
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "split_on_cjk": self.split_on_cjk,
            "suffix_indicator": SUFFIX,
        }

    def _write_asset(self, path: Path) -> None:
        path.write_bytes("".join(t + "\n" for t in self._vocab).encode("utf-8"))

    @classmethod
    def _from_asset(cls, path: Path | None, options: dict[str, Any]) -> WordPieceTokenizer:
        if options.get("suffix_indicator", SUFFIX) != SUFFIX:
            raise ValueError(f"options.suffix_indicator: expected {SUFFIX!r}")
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(str(path), f"not valid UTF-8: {err}") from None
        # Split on "\n" only: a token may hold other line separators (U+2028, U+0085 ...).
        vocab = text.split("\n")
        if vocab and vocab[-1] == "":
            vocab.pop()
        try:
            return cls(
                vocab,
                lowercase=bool(options["lowercase"]),
                strip_accents=bool(options["strip_accents"]),
                split_on_cjk=bool(options["split_on_cjk"]),
            )
        except InputError as err:
            raise InputError(str(path), err.message) from None
