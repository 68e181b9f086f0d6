"""SentencePiece (unigram or BPE, byte fallback), the same ids as keras_hub's SentencePieceTokenizer.

The model is a serialized SentencePiece proto (`spm.model`), trained with identity
normalization and `remove_extra_whitespaces=False`, so `decode(encode(x)) == x` for
text without "[MASK]" (a user-defined symbol: the literal text encodes to the mask id).

TensorFlow's twin runs tensorflow-text's bundled SentencePiece 0.1.96. For BPE the
Python `sentencepiece` library gives the same ids. For unigram it does not always:
0.1.96 compares a candidate path score held in double precision against the best
score stored in float32, newer versions compare in float32, so the two pick different
(equally scored) segmentations of, e.g., "000" ("0"+"00" vs "00"+"0"). `_viterbi` below
re-implements the 0.1.96 search exactly, on the pieces and scores of the same model.
Decoding is table-driven on both sides too (see `_decode`).

Example:
>>> from keras_lm.tokenizers.training import TokenizerConfig, train_tokenizer
>>> tok = train_tokenizer(["hello world"] * 50, TokenizerConfig(kind="sentencepiece", vocab_size=300))
>>> tok.id_to_token(4), tok.decode(tok.encode("hello, wörld"))
('[MASK]', 'hello, wörld')
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sentencepiece as spm

from keras_lm.errors import InputError
from keras_lm.tokenizers.base import Tokenizer
from keras_lm.tokenizers.specials import SPECIALS

SPACE = "\u2581"
FLT_MIN = 1.1754943508222875e-38
UNK_PENALTY = 10.0
_F32 = struct.Struct("f")
MODEL_TYPES = ("unigram", "bpe")


def _f32(x: float) -> float:
    """Round a double to the nearest float32 (what storing into a C++ float does)."""
    return _F32.unpack(_F32.pack(x))[0]


class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece model (pure twin: `sentencepiece.SentencePieceProcessor`).

    Args:
        proto: bytes of the serialized model.
        model_type: "unigram" or "bpe", as trained.
    """

    kind = "sentencepiece"
    asset_name = "spm.model"

    def __init__(self, proto: bytes, model_type: str = "unigram"):
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model_type: expected one of {MODEL_TYPES}, found {model_type!r}")
        spm.set_min_log_level(2)
        try:
            self._sp = spm.SentencePieceProcessor(model_proto=proto)
        except (RuntimeError, OSError, TypeError) as err:
            raise InputError(
                "sentencepiece model", f"not a valid SentencePiece model: {err}"
            ) from None
        self._proto = bytes(proto)
        self.model_type = model_type
        super().__init__([self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())])
        self._check_specials()
        self._build_surfaces()
        if model_type == "unigram":
            self._build_lattice_tables()

    def _check_specials(self) -> None:
        sp, expected = self._sp, list(SPECIALS.tokens())
        if self._vocab[: len(expected)] != expected:
            raise InputError(
                "sentencepiece model", f"expected {expected} at ids 0..4, found {self._vocab[:5]}"
            )
        kinds = [sp.is_control(0), sp.is_unknown(1), sp.is_control(2), sp.is_control(3)]
        if not all(kinds) or sp.is_control(4) or sp.is_byte(4):
            raise InputError(
                "sentencepiece model",
                "pad/start/end must be control pieces, unk unknown, mask user-defined",
            )
        if sum(sp.is_byte(i) for i in range(len(self._vocab))) != 256:
            raise InputError(
                "sentencepiece model", "expected 256 byte-fallback pieces (<0x00> .. <0xFF>)"
            )

    def _build_lattice_tables(self) -> None:
        """Pieces the unigram search can match (normal and user-defined), with their scores."""
        sp, mask = self._sp, SPECIALS.mask_id
        normal = [
            i
            for i in range(len(self._vocab))
            if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i) or sp.is_unused(i))
            and i != mask
        ]
        scores = [sp.get_score(i) for i in normal]
        self._unk_score = _f32(min(scores) - UNK_PENALTY)
        # User-defined symbols get a bonus so that they always win: length * max score - 0.1.
        mask_piece = self._vocab[mask]
        bonus = len(mask_piece.encode("utf-8")) * max([FLT_MIN, *scores]) - 0.1
        pieces = {self._vocab[i]: (i, s) for i, s in zip(normal, scores, strict=True)}
        pieces[mask_piece] = (mask, bonus)
        # One lookup per step: every piece and every proper prefix of one ->
        # (piece id or -1, score, whether a longer piece starts with it).
        prefixes = {p[:k] for p in pieces for k in range(1, len(p))}
        lattice = {p: (-1, 0.0, True) for p in prefixes}
        lattice.update({p: (i, score, p in prefixes) for p, (i, score) in pieces.items()})
        self._lattice = lattice
        self._byte_ids = [self._index[f"<0x{b:02X}>"] for b in range(256)]

    def _encode(self, text: str) -> list[int]:
        if self.model_type == "unigram":
            return self._viterbi(text)
        return self._sp.encode(text)

    def encode_batch(
        self, texts: Iterable[str], add_start: bool = False, add_end: bool = False
    ) -> list[list[int]]:
        if self.model_type == "unigram":
            return super().encode_batch(texts, add_start, add_end)
        return [self._frame(ids, add_start, add_end) for ids in self._sp.encode(list(texts))]

    def _viterbi(self, text: str) -> list[int]:
        """Best unigram segmentation, exactly as tf-text's SentencePiece 0.1.96 finds it.

        Identity normalization: a dummy-prefix "▁", each " " as "▁". Forward search over
        start positions; each candidate = piece score + best score at the start (a double),
        compared with `>` against the best stored so far at its end (a float32). Characters
        no single piece covers become unk, then their UTF-8 byte pieces.
        """
        if not text:
            return []
        s = SPACE + text.replace(" ", SPACE)
        n = len(s)
        lattice, f32, unk_score = self._lattice, _f32, self._unk_score
        best, origin, ids = [0.0] * (n + 1), [-1] * (n + 1), [0] * (n + 1)
        for start in range(n):
            base, single, end = best[start], False, start + 1
            while end <= n:
                hit = lattice.get(s[start:end])
                if hit is None:
                    break
                if hit[0] >= 0:
                    candidate = hit[1] + base
                    if origin[end] < 0 or candidate > best[end]:
                        best[end], origin[end], ids[end] = f32(candidate), start, hit[0]
                    single = single or end == start + 1
                if not hit[2]:
                    break
                end += 1
            if not single:
                candidate = f32(unk_score + base)
                if origin[start + 1] < 0 or candidate > best[start + 1]:
                    best[start + 1], origin[start + 1], ids[start + 1] = candidate, start, -1
        return self._backtrack(s, origin, ids)

    def _backtrack(self, s: str, origin: list[int], ids: list[int]) -> list[int]:
        out, end = [], len(s)
        while end > 0:
            start = origin[end]
            if ids[end] < 0:  # unknown character: byte fallback
                out.extend(self._byte_ids[b] for b in reversed(s[start:end].encode("utf-8")))
            else:
                out.append(ids[end])
            end = start
        out.reverse()
        return out

    def _build_surfaces(self) -> None:
        """What each id decodes to, as bytes: pieces with "▁" as " ", byte pieces as their
        byte, unk as "[UNK]", control pieces as nothing (`_shown`: as their token string)."""
        sp, surfaces, shown = self._sp, [], []
        for i, piece in enumerate(self._vocab):
            if sp.is_byte(i):
                surface = bytes([int(piece[3:5], 16)])
            elif sp.is_control(i):
                surface = b""
            elif sp.is_unknown(i):
                surface = SPECIALS.unk.encode("utf-8")
            else:
                surface = piece.replace(SPACE, " ").encode("utf-8")
            surfaces.append(surface)
            shown.append(piece.encode("utf-8") if sp.is_control(i) else surface)
        self._surfaces, self._shown = surfaces, shown
        # The first piece loses the space of the dummy prefix "▁".
        self._first_surfaces = [
            s[1:] if s.startswith(b" ") and not sp.is_byte(i) else s for i, s in enumerate(surfaces)
        ]

    def surfaces(self) -> tuple[list[bytes], list[bytes]]:
        """(bytes of each id, bytes of each id as the first piece): what decode joins."""
        return list(self._surfaces), list(self._first_surfaces)

    def _decode(self, ids: list[int], skip_special: bool) -> str:
        """Join the surfaces (the first piece without its dummy-prefix space), then UTF-8 with
        errors="replace". Not `SentencePieceProcessor.decode`: tf-text's SentencePiece 0.1.96
        drops every leading space, the Python library only the dummy prefix; this keeps
        `decode(encode(x)) == x` and the TensorFlow twin does the same."""
        if not ids:
            return ""
        table = self._surfaces if skip_special else self._shown
        first = (
            self._first_surfaces[ids[0]]
            if skip_special or not self._sp.is_control(ids[0])
            else table[ids[0]]
        )
        return (first + b"".join([table[i] for i in ids[1:]])).decode("utf-8", errors="replace")

    @property
    def proto(self) -> bytes:
        """The serialized SentencePiece model."""
        return self._proto

    def options(self) -> dict[str, Any]:
        return {"model_type": self.model_type}

    def _write_asset(self, path: Path) -> None:
        path.write_bytes(self._proto)

    @classmethod
    def _from_asset(cls, path: Path | None, options: dict[str, Any]) -> SentencePieceTokenizer:
        try:
            return cls(path.read_bytes(), model_type=options["model_type"])
        except InputError as err:
            raise InputError(str(path), err.message) from None
