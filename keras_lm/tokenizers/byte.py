"""Byte tokenizer: the UTF-8 bytes of the text, id = byte value + 5 (261 ids, no asset).

Decoding joins the bytes and decodes them as UTF-8 with errors="replace" (each invalid
sequence becomes U+FFFD), as the TensorFlow twin does with `unicode_transcode`.

Example:
>>> tok = ByteTokenizer()
>>> tok.vocab_size, tok.encode("A"), tok.id_to_token(70)
(261, [70], 'A')
>>> tok.decode([200, 70])
'\\ufffdA'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keras_lm.tokenizers.base import Tokenizer
from keras_lm.tokenizers.specials import SPECIALS

OFFSET = len(SPECIALS.tokens())


def byte_token(value: int) -> str:
    """The display string of a byte: itself for printable ASCII, else `<0xNN>`."""
    return chr(value) if 0x21 <= value <= 0x7E else f"<0x{value:02X}>"


class ByteTokenizer(Tokenizer):
    """UTF-8 bytes to ids (byte + 5) and back."""

    kind = "byte"
    asset_name = None

    def __init__(self) -> None:
        super().__init__([*SPECIALS.tokens(), *(byte_token(b) for b in range(256))])
        # What each id contributes to the decoded byte string (specials: their token text).
        self._bytes = [t.encode("ascii") for t in SPECIALS.tokens()] + [
            bytes([b]) for b in range(256)
        ]

    def _encode(self, text: str) -> list[int]:
        return [b + OFFSET for b in text.encode("utf-8")]

    def _decode(self, ids: list[int], skip_special: bool) -> str:
        table = self._bytes
        return b"".join([table[i] for i in ids]).decode("utf-8", errors="replace")

    def options(self) -> dict[str, Any]:
        return {"offset": OFFSET}

    def _write_asset(self, path: Path) -> None:  # pragma: no cover - no asset
        raise NotImplementedError

    @classmethod
    def _from_asset(cls, path: Path | None, options: dict[str, Any]) -> ByteTokenizer:
        if options.get("offset") != OFFSET:
            raise ValueError(f"options.offset: expected {OFFSET}, found {options.get('offset')!r}")
        return cls()
