"""GPT-2's byte-level BPE, giving the ids of keras_hub's `GPT2Tokenizer` in graph mode.

Text is split into words, each word's UTF-8 bytes become GPT-2's printable stand-ins
(" " -> "Ġ"), and the merges join them into vocabulary tokens. The merges run in Hugging
Face `tokenizers` (`models.BPE` behind `pre_tokenizers.ByteLevel(use_regex=False)`, on
words split by `byte_level.pretokenize`). That split is keras_hub's TensorFlow path (what
`tf.data` and SavedModels run), which differs from GPT-2's regex on whitespace runs and
from keras_hub's own eager path (Llama 3's regex); see `byte_level`.

One special token, `end_token` ("<|endoftext|>"), plays every role (pad, unk, start, end,
mask) at its own id, as in keras_hub's GPT-2 preprocessor; the literal text encodes to it.
A preset may name a second one, `start_token` (Llama 3's "<|begin_of_text|>"), which then
plays the start role only; its literal text stays text (framing adds it, not `encode`).
The asset `bpe.json` holds the vocabulary ({token: id}), the merges ("a b", by rank), the
end token and the start token when there is one, so `specials` comes from it.

Example:
>>> tok = ByteBPETokenizer.train(["hello world, hello there"] * 20, vocab_size=270)
>>> tok.vocab_size, tok.specials.end, tok.specials.end_id, tok.specials.pad_id
(270, '<|endoftext|>', 269, 269)
>>> ids = tok.encode("hello, wörld", add_end=True)
>>> [tok.id_to_token(i) for i in ids]
['hello', ',', 'Ġ', 'w', 'Ã', '¶', 'r', 'ld', '<|endoftext|>']
>>> tok.decode(ids), tok.decode(ids, skip_special=False)
('hello, wörld', 'hello, wörld<|endoftext|>')
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tokenizers
from tokenizers import models
from tokenizers import pre_tokenizers
from tokenizers import trainers

from keras_lm.errors import InputError
from keras_lm.tokenizers.base import Tokenizer
from keras_lm.tokenizers.byte_level import END_TOKEN
from keras_lm.tokenizers.byte_level import byte_chars
from keras_lm.tokenizers.byte_level import pretokenize
from keras_lm.tokenizers.specials import ROLES
from keras_lm.tokenizers.specials import SpecialTokens

_BYTE_OF_CHAR = {c: b for b, c in enumerate(byte_chars())}


class ByteBPETokenizer(Tokenizer):
    """Byte-level BPE (GPT-2), with one special token in every role.

    Args:
        vocabulary: {token: id}, the ids 0..N-1 each used once; every token is made of
            GPT-2's byte stand-ins (`byte_chars()`), all 256 of which are tokens.
        merges: "a b" merge rules by rank; a, b and "ab" are tokens.
        end_token: the special token (pad, unk, start, end and mask), in the vocabulary.
        start_token: None, or a second token of the vocabulary that takes the start role.
    """

    kind = "byte_bpe"
    asset_name = "bpe.json"
    fixed_specials = False

    def __init__(
        self,
        vocabulary: Mapping[str, int],
        merges: Sequence[str],
        end_token: str = END_TOKEN,
        start_token: str | None = None,
    ):
        tokens = _tokens_by_id(vocabulary)
        pairs = _checked_merges(merges, vocabulary)
        _check_special("end_token", end_token, vocabulary)
        if start_token is not None:
            _check_special("start_token", start_token, vocabulary)
        super().__init__(tokens)
        roles = {role: end_token for role in ROLES}
        if start_token is not None and start_token != end_token:
            roles["start"] = start_token
        self.specials = SpecialTokens(
            **roles, **{f"{role}_id": vocabulary[token] for role, token in roles.items()}
        )
        self._end_token = end_token
        self._start_token = roles["start"] if roles["start"] != end_token else None
        self._merges = [f"{a} {b}" for a, b in pairs]
        self._surfaces = [bytes(_BYTE_OF_CHAR[c] for c in t) for t in tokens]
        self._bpe = tokenizers.Tokenizer(models.BPE(vocab=dict(vocabulary), merges=pairs))
        self._bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)

    @classmethod
    def from_vocabulary(
        cls,
        vocabulary: Mapping[str, int] | str | os.PathLike,
        merges: Iterable[str] | str | os.PathLike,
        end_token: str = END_TOKEN,
        start_token: str | None = None,
    ) -> ByteBPETokenizer:
        """From GPT-2's vocabulary and merges: objects, or the paths of `vocabulary.json`
        ({token: id}) and `merges.txt` (one "a b" a line; "#version" lines and blank lines
        are skipped), as keras_hub presets and OpenAI's files hold them.

        >>> vocab = {c: i for i, c in enumerate(sorted(byte_chars()))}
        >>> vocab.update({"Ġa": 256, "Ġab": 257, END_TOKEN: 258})
        >>> tok = ByteBPETokenizer.from_vocabulary(vocab, ["#version: 0.2", "Ġ a", "Ġa b"])
        >>> tok.encode(" ab ba"), tok.specials.end_id
        ([257, 220, 65, 64], 258)
        """
        if isinstance(vocabulary, str | os.PathLike):
            vocabulary = _read_json(Path(vocabulary))
        if isinstance(merges, str | os.PathLike):
            path = Path(merges)
            try:
                merges = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as err:
                raise InputError(str(path), f"cannot read the merges: {err}") from None
        merges = [m for m in merges if m.strip() and not m.lstrip().startswith("#version")]
        return cls(vocabulary, merges, end_token, start_token)

    @classmethod
    def train(
        cls, texts: Iterable[str], vocab_size: int, end_token: str = END_TOKEN
    ) -> ByteBPETokenizer:
        """Learn merges on the words of `texts` (Hugging Face `BpeTrainer`), `end_token` included.

        The vocabulary is laid out as GPT-2's: the 256 byte stand-ins, then each merge's
        token by rank, then `end_token` last; `vocab_size` counts all three (at least 257).
        """
        if vocab_size < 257:
            raise ValueError(f"vocab_size: byte_bpe needs at least 257, got {vocab_size}")
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[end_token],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        learner = tokenizers.Tokenizer(models.BPE())
        learner.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        words = (w for t in texts for w in pretokenize(t, end_token) if w != end_token)
        learner.train_from_iterator(words, trainer)
        learned = json.loads(learner.to_str())["model"]["merges"]
        merges = [m if isinstance(m, str) else " ".join(m) for m in learned]
        tokens = dict.fromkeys(sorted(byte_chars()))
        tokens.update(dict.fromkeys(m.replace(" ", "") for m in merges))
        tokens[end_token] = None
        return cls({t: i for i, t in enumerate(tokens)}, merges, end_token)

    # -- encode / decode ----------------------------------------------------------------------

    def _encode(self, text: str) -> list[int]:
        return self._encode_many([text])[0]

    def encode_batch(
        self, texts: Iterable[str], add_start: bool = False, add_end: bool = False
    ) -> list[list[int]]:
        return [self._frame(ids, add_start, add_end) for ids in self._encode_many(texts)]

    def _encode_many(self, texts: Iterable[str]) -> list[list[int]]:
        """Split each text, then merge every run of words between end tokens in one batch."""
        end, end_id = self._end_token, self.specials.end_id
        runs: list[list[str]] = []
        layouts: list[list[int]] = []  # per text: run indices, -1 for the end token
        for text in texts:
            layout, run = [], []
            for word in pretokenize(text, end):
                if word != end:
                    run.append(word)
                    continue
                if run:
                    layout.append(len(runs))
                    runs.append(run)
                    run = []
                layout.append(-1)
            if run:
                layout.append(len(runs))
                runs.append(run)
            layouts.append(layout)
        merged = self._bpe.encode_batch(runs, is_pretokenized=True, add_special_tokens=False)
        return [
            [i for r in layout for i in ([end_id] if r < 0 else merged[r].ids)]
            for layout in layouts
        ]

    def _decode(self, ids: list[int], skip_special: bool) -> str:
        table = self._surfaces
        return b"".join([table[i] for i in ids]).decode("utf-8", errors="replace")

    def surfaces(self) -> list[bytes]:
        """The bytes each id decodes to (the end token: its own text)."""
        return list(self._surfaces)

    @property
    def merges(self) -> list[str]:
        """The merge rules, "a b", by rank."""
        return list(self._merges)

    @property
    def end_token(self) -> str:
        """The special token of every role but (when there is a `start_token`) start."""
        return self._end_token

    @property
    def start_token(self) -> str | None:
        """The start role's own token (Llama 3's "<|begin_of_text|>"), or None."""
        return self._start_token

    # -- saving ---------------------------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        return {}

    def _write_asset(self, path: Path) -> None:
        asset = {
            "end_token": self._end_token,
            "vocabulary": {t: i for i, t in enumerate(self._vocab)},
            "merges": self._merges,
        }
        if self._start_token is not None:
            asset["start_token"] = self._start_token
        path.write_text(json.dumps(asset, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")

    @classmethod
    def _from_asset(cls, path: Path | None, options: dict[str, Any]) -> ByteBPETokenizer:
        asset = _read_json(path)
        required = {"end_token", "vocabulary", "merges"}
        if not isinstance(asset, dict) or not required <= set(asset) <= {*required, "start_token"}:
            raise InputError(
                str(path),
                'expected an object with "end_token", "vocabulary", "merges" and optionally'
                ' "start_token"',
            )
        if not isinstance(asset["merges"], list) or not all(
            isinstance(m, str) for m in asset["merges"]
        ):
            raise InputError(str(path), "expected a list of strings", field="merges")
        try:
            return cls(
                asset["vocabulary"], asset["merges"], asset["end_token"], asset.get("start_token")
            )
        except InputError as err:
            raise InputError(str(path), err.message, field=err.field) from None


def _check_special(field: str, token: Any, vocabulary: Mapping[str, int]) -> None:
    if not isinstance(token, str) or token not in vocabulary:
        raise InputError(
            "byte_bpe vocabulary", f"{field} {token!r} is not in the vocabulary", field=field
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(path), "file not found") from None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(str(path), f"not valid JSON: {err}") from None


def _tokens_by_id(vocabulary: Mapping[str, int]) -> list[str]:
    """The tokens in id order, after checking the ids are 0..N-1 and the tokens byte-level."""
    where = "byte_bpe vocabulary"
    if not isinstance(vocabulary, Mapping) or not all(
        isinstance(t, str) and type(i) is int for t, i in vocabulary.items()
    ):
        raise InputError(where, "expected an object of token -> integer id")
    tokens: list[str | None] = [None] * len(vocabulary)
    for token, i in vocabulary.items():
        if not 0 <= i < len(tokens) or tokens[i] is not None:
            raise InputError(
                where, f"ids must be 0..{len(tokens) - 1}, each used once; {token!r} has id {i}"
            )
        tokens[i] = token
    bad = [t for t in tokens if not t or any(c not in _BYTE_OF_CHAR for c in t)]
    if bad:
        raise InputError(
            where, f"tokens must be made of GPT-2's byte characters, found {bad[:5]!r}"
        )
    missing = [c for c in byte_chars() if c not in vocabulary]
    if missing:
        raise InputError(where, f"every byte must be a token; missing {missing[:5]!r}")
    return tokens


def _checked_merges(merges: Sequence[str], vocabulary: Mapping[str, int]) -> list[tuple[str, str]]:
    pairs, seen = [], set()
    for rank, merge in enumerate(merges):
        parts = merge.split(" ") if isinstance(merge, str) else []
        if len(parts) != 2 or not all(parts):
            raise InputError("byte_bpe merges", f"merge {rank} is {merge!r}: expected 'a b'")
        a, b = parts
        if a not in vocabulary or b not in vocabulary or a + b not in vocabulary:
            raise InputError(
                "byte_bpe merges",
                f"merge {rank} {merge!r}: {a!r}, {b!r} and {a + b!r} must be tokens",
            )
        if merge in seen:
            raise InputError("byte_bpe merges", f"merge {rank} {merge!r} is a duplicate")
        seen.add(merge)
        pairs.append((a, b))
    return pairs
