"""A keras-hub preset's SentencePiece BPE model (Llama 2, Gemma), with the specials it defines.

keras-hub presets of Llama (2), Mistral and Gemma ship their tokenizer as a serialized
SentencePiece model, `assets/tokenizer/vocabulary.spm`; here it is the asset `spm.model`.
Unlike the `sentencepiece` kind (models keras_lm trains, specials fixed at ids 0..4),
the specials come from the model, mapped onto keras_lm's roles:
- unk, start, end: the model's unk, bos and eos pieces (Llama 2: <unk>=0, <s>=1, </s>=2;
  Gemma: <unk>=3, <bos>=2, <eos>=1); a model without one of them is refused.
- pad: the model's pad piece (Gemma: <pad>=0), else id 0, the `pad_token_id` of keras-hub's
  `LlamaTokenizer` and the default of its `SentencePieceTokenizer` (Llama 2: <unk>).
- mask: the piece "<mask>" where the model has one (Gemma: 4, a user-defined piece), else
  the pad id, so that `decode(skip_special=True)` drops no piece besides those.

Encoding is `sentencepiece.SentencePieceProcessor.encode`: for BPE models the same ids as
keras-hub's `SentencePieceTokenizer` on both its paths (the Python library when eager,
tensorflow-text in `tf.data`). Unigram models are refused (see `sentence_piece._viterbi`
for why their ids need more care). Decoding gives the text of keras-hub's eager
`detokenize` (the Python library) once `decode(skip_special=True)` has dropped the
pad/start/end/mask ids: control pieces render nothing, unk its surface (" ⁇ "), byte
pieces their bytes (one U+FFFD per invalid byte), and where the model adds a dummy prefix
(Llama 2 does, Gemma does not) the first visible piece loses its leading "▁". So a pad or
mask that is not a control piece (Llama 2's <unk>, Gemma's user-defined <mask>, which the
text "<mask>" encodes to) is dropped where keras-hub renders it. keras-hub's tf.data path
(tensorflow-text) differs from its eager one after a lone leading "▁" piece: it drops the
next piece's leading space too; this kind and its TensorFlow twin follow the eager path.

Example:
>>> import io, sentencepiece as spm
>>> model = io.BytesIO()
>>> spm.SentencePieceTrainer.train(
...     sentence_iterator=iter(["hello world", "hola mundo"] * 20), model_writer=model,
...     model_type="bpe", vocab_size=300, byte_fallback=True, unk_id=0, bos_id=1, eos_id=2,
...     pad_id=-1, normalization_rule_name="identity", remove_extra_whitespaces=False,
...     hard_vocab_limit=False, minloglevel=2)
>>> tok = PresetSentencePieceTokenizer(model.getvalue())
>>> tok.specials.ids(), tok.specials.start, tok.specials.pad
((0, 0, 1, 2, 0), '<s>', '<unk>')
>>> ids = tok.encode("hello wörld", add_start=True)
>>> tok.decode(ids), tok.decode(ids, skip_special=False)
('hello wörld', '<s> hello wörld')
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sentencepiece as spm

from keras_lm.errors import InputError
from keras_lm.tokenizers.base import Tokenizer
from keras_lm.tokenizers.sentence_piece import SPACE
from keras_lm.tokenizers.specials import SpecialTokens
from keras_lm.tokenizers.spm_proto import ModelSpec
from keras_lm.tokenizers.spm_proto import read_model_spec

KERAS_HUB_PAD_ID = 0  # LlamaTokenizer.pad_token_id; SentencePieceTokenizer pads with 0 by default
MASK_PIECE = "<mask>"
# Surrogate escapes of the bytes 0x80..0xFF (what errors="surrogateescape" makes of invalid bytes).
_ESCAPED_TO_REPLACEMENT = {0xDC80 + b: "\ufffd" for b in range(128)}


class PresetSentencePieceTokenizer(Tokenizer):
    """A keras-hub preset's SentencePiece BPE model, its specials taken from the model.

    Args:
        proto: bytes of the serialized model (a preset's `vocabulary.spm`).
    """

    kind = "preset_sentencepiece"
    asset_name = "spm.model"
    fixed_specials = False

    def __init__(self, proto: bytes):
        proto = bytes(proto)
        self._sp, spec = _processor(proto)
        self._proto = proto
        super().__init__([self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())])
        self.specials = _specials(self._sp, self._vocab)
        self._build_surfaces(spec.add_dummy_prefix)

    def _build_surfaces(self, add_dummy_prefix: bool) -> None:
        """What each id decodes to, as bytes, as `SentencePieceProcessor.decode` renders it.

        `_surfaces`: control pieces nothing, unk its surface, byte pieces their byte, the
        others their piece with "▁" as " ". `_first`: the same, but a piece that starts with
        "▁" loses it when the model adds a dummy prefix. `_shown` (skip_special=False):
        control pieces and unk as their piece. `_control`: the ids that render nothing.
        """
        sp, unk = self._sp, self.specials.unk_id
        unk_surface = sp.decode([unk]).encode("utf-8")
        self._control = [sp.is_control(i) for i in range(len(self._vocab))]
        self._plain = [False] * len(self._vocab)  # neither control, unk nor byte
        surfaces, first, shown = [], [], []
        for i, piece in enumerate(self._vocab):
            surface = shown_as = piece.encode("utf-8")
            if self._control[i]:
                surface = b""
            elif i == unk:
                surface = unk_surface
            elif sp.is_byte(i):
                surface = shown_as = bytes([int(piece[3:5], 16)])
            else:
                self._plain[i] = True
                surface = shown_as = piece.replace(SPACE, " ").encode("utf-8")
            consumed = add_dummy_prefix and self._plain[i] and piece.startswith(SPACE)
            surfaces.append(surface)
            first.append(surface[1:] if consumed else surface)
            shown.append(shown_as)
        self._surfaces, self._first, self._shown = surfaces, first, shown

    def surfaces(self) -> tuple[list[bytes], list[bytes]]:
        """(bytes of each id, bytes of each id as the first visible piece): what decode joins."""
        return list(self._surfaces), list(self._first)

    def visible(self) -> list[bool]:
        """Per id, False for the control pieces, which `decode(skip_special=True)` drops."""
        return [not c for c in self._control]

    def _encode(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def encode_batch(
        self, texts: Iterable[str], add_start: bool = False, add_end: bool = False
    ) -> list[list[int]]:
        return [self._frame(ids, add_start, add_end) for ids in self._sp.encode(list(texts))]

    def _decode(self, ids: list[int], skip_special: bool) -> str:
        """Join the surfaces (the first visible piece's without the dummy-prefix "▁"), then
        UTF-8 with one U+FFFD per invalid byte, as sentencepiece's decoder does (Python's
        errors="replace" gives one per invalid sequence). Without skip_special, control
        pieces show as their piece and count as text before the first piece."""
        if skip_special:
            ids = [i for i in ids if not self._control[i]]
        if not ids:
            return ""
        table = self._surfaces if skip_special else self._shown
        head = self._first[ids[0]] if self._plain[ids[0]] else table[ids[0]]
        data = head + b"".join([table[i] for i in ids[1:]])
        return data.decode("utf-8", errors="surrogateescape").translate(_ESCAPED_TO_REPLACEMENT)

    @property
    def proto(self) -> bytes:
        """The serialized SentencePiece model."""
        return self._proto

    def options(self) -> dict[str, Any]:
        return {}

    def _write_asset(self, path: Path) -> None:
        path.write_bytes(self._proto)

    @classmethod
    def _from_asset(
        cls, path: Path | None, options: dict[str, Any]
    ) -> PresetSentencePieceTokenizer:
        try:
            return cls(path.read_bytes())
        except InputError as err:
            raise InputError(str(path), err.message) from None


def from_preset_proto(path: str | Path, *, max_bytes: int) -> PresetSentencePieceTokenizer:
    """The tokenizer of a preset's `vocabulary.spm`: `InputError` naming the file when it is
    missing, larger than `max_bytes` (the importer passes `presets.folder.MAX_VOCABULARY_BYTES`),
    not a SentencePiece model, or one this kind does not support.

    >>> from_preset_proto("/nonexistent/vocabulary.spm", max_bytes=1 << 20)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    keras_lm.errors.InputError: /nonexistent/vocabulary.spm: file not found...
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "file not found: expected a serialized SentencePiece model")
    if path.stat().st_size > max_bytes:
        raise InputError(
            str(path), f"larger than {max_bytes} bytes: not the SentencePiece model of a preset"
        )
    try:
        return PresetSentencePieceTokenizer(path.read_bytes())
    except OSError as err:
        raise InputError(str(path), f"cannot read the model: {err}") from None
    except InputError as err:
        raise InputError(str(path), err.message) from None


def _processor(proto: bytes) -> tuple[spm.SentencePieceProcessor, ModelSpec]:
    """The model's processor and its `ModelSpec`, after checking it is a model this kind reads."""
    where = "sentencepiece model"
    try:
        spec = read_model_spec(proto)
        if spec.pieces == 0:
            raise ValueError("it has no pieces")
        spm.set_min_log_level(2)
        sp = spm.SentencePieceProcessor(model_proto=proto)
    except (ValueError, RuntimeError, OSError, TypeError) as err:
        raise InputError(where, f"not a serialized SentencePiece model: {err}") from None
    if spec.model_type != "bpe":
        raise InputError(
            where,
            f"a {spec.model_type} model; preset_sentencepiece reads BPE models (Llama 2, Gemma) only",
        )
    if spec.remove_extra_whitespaces or spec.denormalizes:
        raise InputError(
            where,
            "removes extra whitespace or denormalizes when decoding, which the TensorFlow twin "
            "does not reproduce (Llama 2 and Gemma do neither)",
        )
    return sp, spec


def _specials(sp: spm.SentencePieceProcessor, vocab: list[str]) -> SpecialTokens:
    """The model's specials in keras_lm's roles (the rule is in the module docstring)."""
    ids = {"unk": sp.unk_id(), "start": sp.bos_id(), "end": sp.eos_id()}
    names = {"unk": "unk", "start": "bos", "end": "eos"}
    missing = [names[role] for role, i in ids.items() if i < 0]
    if missing:
        raise InputError(
            "sentencepiece model",
            f"has no {'/'.join(missing)} piece: a preset's model defines unk, bos and eos",
        )
    ids["pad"] = sp.pad_id() if sp.pad_id() >= 0 else KERAS_HUB_PAD_ID
    mask = sp.piece_to_id(MASK_PIECE)  # the unk id when there is no such piece
    ids["mask"] = mask if vocab[mask] == MASK_PIECE else ids["pad"]
    return SpecialTokens(
        **{role: vocab[i] for role, i in ids.items()},
        **{f"{role}_id": i for role, i in ids.items()},
    )
