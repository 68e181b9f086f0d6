"""Character tokenizer: one id per Unicode code point seen in training.

The vocabulary is the five specials, then "\\n" (always: LM streams join lines with it),
then the training characters by descending frequency, ties by code point. A character
not in the vocabulary encodes to the unk id. It is saved as `vocab.json` (a JSON list,
because the vocabulary holds " ", "\\n" and "\\t").

Example:
>>> tok = CharTokenizer.train(["abba", "cab"])
>>> tok.vocabulary()[5:]
['\\n', 'a', 'b', 'c']
>>> tok.encode("abz")
[6, 7, 1]
>>> tok.decode([6, 7, 1, 0])
'ab[UNK]'
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keras_lm.errors import InputError
from keras_lm.tokenizers.base import Tokenizer
from keras_lm.tokenizers.base import check_vocabulary
from keras_lm.tokenizers.specials import SPECIALS


class CharTokenizer(Tokenizer):
    """Characters to ids and back.

    Args:
        vocabulary: the token strings by id: the specials at 0..4, then single characters.
    """

    kind = "char"
    asset_name = "vocab.json"

    def __init__(self, vocabulary: Sequence[str]):
        vocab = check_vocabulary(vocabulary, "char vocabulary")
        bad = [t for t in vocab[len(SPECIALS.tokens()) :] if len(t) != 1]
        if bad:
            raise InputError(
                "char vocabulary",
                f"expected single characters after the specials, found {bad[:5]!r}",
            )
        super().__init__(vocab)
        self._ids = {t: i for i, t in enumerate(vocab) if i >= len(SPECIALS.tokens())}

    @classmethod
    def train(
        cls, texts: Iterable[str], max_size: int | None = None, min_frequency: int = 1
    ) -> CharTokenizer:
        """Count characters; keep those seen `min_frequency` times, at most `max_size` ids in all."""
        counts = collections.Counter()
        for text in texts:
            counts.update(text)
        counts.pop("\n", None)
        chars = sorted(
            (c for c, n in counts.items() if n >= min_frequency), key=lambda c: (-counts[c], ord(c))
        )
        vocab = [*SPECIALS.tokens(), "\n", *chars]
        if max_size is not None:
            vocab = vocab[:max_size]
        return cls(vocab)

    def _encode(self, text: str) -> list[int]:
        get, unk = self._ids.get, self.specials.unk_id
        return [get(c, unk) for c in text]

    def _decode(self, ids: list[int], skip_special: bool) -> str:
        vocab = self._vocab
        return "".join([vocab[i] for i in ids])

    def options(self) -> dict[str, Any]:
        return {}

    def _write_asset(self, path: Path) -> None:
        path.write_text(
            json.dumps(self._vocab, ensure_ascii=True, indent=0) + "\n", encoding="utf-8"
        )

    @classmethod
    def _from_asset(cls, path: Path | None, options: dict[str, Any]) -> CharTokenizer:
        try:
            vocab = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise InputError(str(path), f"not a valid JSON list of tokens: {err}") from None
        if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
            raise InputError(str(path), "expected a JSON list of token strings")
        try:
            return cls(vocab)
        except InputError as err:
            raise InputError(str(path), err.message) from None
