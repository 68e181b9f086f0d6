"""The TensorFlow-free tokenizer interface every kind implements, and its on-disk format.

A tokenizer directory holds `tokenizer.json` (kind, format version, special tokens with
their ids, options, vocabulary size, the asset file's name and sha256) and the asset
(the vocabulary or model), both written atomically. `to_tf()` builds the TensorFlow
graph twin from `keras_lm.tokenizers.tf_graph`, importing TensorFlow only then.

Example:
>>> from keras_lm.tokenizers import ByteTokenizer
>>> tok = ByteTokenizer()
>>> tok.encode("hé", add_end=True)
[109, 200, 174, 3]
>>> tok.decode([2, 109, 200, 174, 3])
'hé'
"""

from __future__ import annotations

import abc
import json
import os
from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar

from keras_lm.errors import InputError
from keras_lm.io import atomic_dir
from keras_lm.io import sha256_file
from keras_lm.tokenizers.specials import SPECIALS
from keras_lm.tokenizers.specials import SpecialTokens

if TYPE_CHECKING:
    from keras_lm.tokenizers.tf_graph import TFTokenizer

FORMAT = "keras_lm.tokenizer"
FORMAT_VERSION = 1
CONFIG_NAME = "tokenizer.json"


class Tokenizer(abc.ABC):
    """Text <-> ids, in pure Python (stdlib, numpy, regex, sentencepiece; no TensorFlow, no Keras).

    Subclasses pass their vocabulary (token strings by id) to `__init__`, set `kind` and
    `asset_name`, and implement `_encode`, `_decode`, `options`, `_write_asset` and
    `_from_asset`. Kinds with `fixed_specials` use `SPECIALS` (ids 0..4); the others set
    `specials` per instance from their asset, and loading checks tokenizer.json against it.
    """

    kind: ClassVar[str] = ""
    asset_name: ClassVar[str | None] = None
    # False for a kind whose special tokens come from its asset (byte_bpe: GPT-2's one token).
    fixed_specials: ClassVar[bool] = True
    specials: SpecialTokens = SPECIALS

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self._vocab = list(vocabulary)
        self._index = {t: i for i, t in enumerate(self._vocab)}
        self._graph: TFTokenizer | None = None
        self.training: dict[str, Any] | None = None

    # -- vocabulary -------------------------------------------------------------------------

    def vocabulary(self) -> list[str]:
        """Every token string, indexed by id (with fixed specials: those at 0..4)."""
        return list(self._vocab)

    @property
    def vocab_size(self) -> int:
        """Number of ids: every id is in `range(vocab_size)`."""
        return len(self._vocab)

    def id_to_token(self, i: int) -> str:
        """The token string of id `i` (ValueError when out of range)."""
        self._check_ids([int(i)])
        return self._vocab[int(i)]

    def token_to_id(self, token: str) -> int:
        """The id of a token string (ValueError when it is not in the vocabulary)."""
        if token not in self._index:
            raise ValueError(f"{token!r} is not in the {self.kind} vocabulary")
        return self._index[token]

    # -- encode / decode --------------------------------------------------------------------

    def encode(self, text: str, add_start: bool = False, add_end: bool = False) -> list[int]:
        """Token ids of `text`, optionally framed by the start and end ids."""
        ids = self._encode(text)
        return self._frame(ids, add_start, add_end)

    def encode_batch(
        self, texts: Iterable[str], add_start: bool = False, add_end: bool = False
    ) -> list[list[int]]:
        """`encode` applied to each text."""
        return [self._frame(self._encode(t), add_start, add_end) for t in texts]

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        """The text of `ids`. With `skip_special`, pad/start/end/mask ids are dropped first;
        unk decodes to "[UNK]". Without it, specials decode to their token strings."""
        ids = _as_int_list(ids)
        self._check_ids(ids)
        if skip_special:
            skip = self.specials.skip_ids
            ids = [i for i in ids if i not in skip]
        return self._decode(ids, skip_special)

    def decode_batch(self, batch: Iterable[Iterable[int]], skip_special: bool = True) -> list[str]:
        """`decode` applied to each sequence (a list of lists or a 2-D array)."""
        return [self.decode(ids, skip_special) for ids in batch]

    def clear_cache(self) -> None:
        """Forget memoized results (WordPiece caches word -> ids); ids are unaffected."""
        return None

    @abc.abstractmethod
    def _encode(self, text: str) -> list[int]: ...

    @abc.abstractmethod
    def _decode(self, ids: list[int], skip_special: bool) -> str: ...

    def _frame(self, ids: list[int], add_start: bool, add_end: bool) -> list[int]:
        if add_start:
            ids = [self.specials.start_id, *ids]
        if add_end:
            ids = [*ids, self.specials.end_id]
        return ids

    def _check_ids(self, ids: Sequence[int]) -> None:
        size = len(self._vocab)
        for i in ids:
            if not 0 <= i < size:
                raise ValueError(
                    f"id {i} is out of range for a {self.kind} vocabulary of {size} ids"
                )

    # -- options, saving, the TensorFlow twin ----------------------------------------------

    @abc.abstractmethod
    def options(self) -> dict[str, Any]:
        """Kind-specific settings saved in tokenizer.json and passed back to `_from_asset`."""

    @abc.abstractmethod
    def _write_asset(self, path: Path) -> None: ...

    @classmethod
    @abc.abstractmethod
    def _from_asset(cls, path: Path | None, options: dict[str, Any]) -> Tokenizer: ...

    def save(self, directory: str | os.PathLike, overwrite: bool = True) -> Path:
        """Write tokenizer.json and the asset into `directory`, atomically; return its path.

        An existing tokenizer directory is replaced (unless `overwrite=False`); a non-empty
        directory that holds no tokenizer.json is never replaced.
        """
        directory = Path(directory)
        _check_replaceable(directory)
        with atomic_dir(directory, overwrite=overwrite) as tmp:
            asset = None
            if self.asset_name:
                self._write_asset(tmp / self.asset_name)
                asset = {"file": self.asset_name, "sha256": sha256_file(tmp / self.asset_name)}
            config = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "kind": self.kind,
                "vocab_size": self.vocab_size,
                "special_tokens": self.specials.to_dict(),
                "options": self.options(),
                "asset": asset,
                "training": self.training,
            }
            text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
            (tmp / CONFIG_NAME).write_text(text, encoding="utf-8")
        return directory

    def to_tf(self) -> TFTokenizer:
        """The TensorFlow graph twin (imports TensorFlow and keras_hub; built once, then cached)."""
        if self._graph is None:
            from keras_lm.tokenizers.tf_graph import build_graph_tokenizer

            self._graph = build_graph_tokenizer(self)
        return self._graph

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}(vocab_size={self.vocab_size}{', ' if opts else ''}{opts})"


def check_vocabulary(vocabulary: Sequence[str], where: str) -> list[str]:
    """Check that the specials sit at ids 0..4 and tokens are unique; return a list copy."""
    vocab = list(vocabulary)
    specials = list(SPECIALS.tokens())
    if vocab[: len(specials)] != specials:
        raise InputError(
            where, f"expected the special tokens {specials} at ids 0..4, found {vocab[:5]}"
        )
    return check_unique(vocab, where)


def check_unique(vocabulary: Sequence[str], where: str) -> list[str]:
    """Check that every token is there once; return a list copy."""
    vocab = list(vocabulary)
    if len(set(vocab)) != len(vocab):
        seen: set[str] = set()
        dupes = [t for t in vocab if t in seen or seen.add(t)]
        raise InputError(where, f"duplicate tokens in the vocabulary: {dupes[:5]!r}")
    return vocab


def _as_int_list(ids: Iterable[int]) -> list[int]:
    tolist = getattr(ids, "tolist", None)
    values = tolist() if tolist is not None else ids
    if isinstance(values, int):
        return [values]
    return [int(i) for i in values]


def _check_replaceable(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise InputError(
            str(directory), "exists and is not a directory; expected a tokenizer directory"
        )
    if directory.is_dir() and any(directory.iterdir()) and not (directory / CONFIG_NAME).is_file():
        raise InputError(
            str(directory),
            f"is a non-empty directory without {CONFIG_NAME}; refusing to replace it",
        )
