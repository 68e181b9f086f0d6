"""The five special tokens every keras_lm tokenizer has, at fixed ids 0..4.

Example:
>>> SPECIALS.pad_id, SPECIALS.unk, SPECIALS.tokens()
(0, '[UNK]', ('[PAD]', '[UNK]', '[BOS]', '[EOS]', '[MASK]'))
>>> sorted(SPECIALS.skip_ids)
[0, 2, 3, 4]
"""

from __future__ import annotations

import dataclasses
from typing import Any

ROLES = ("pad", "unk", "start", "end", "mask")


@dataclasses.dataclass(frozen=True)
class SpecialTokens:
    """Strings and ids of the special tokens (the same in every kind; recorded in tokenizer.json).

    `decode(..., skip_special=True)` drops `skip_ids` (pad, start, end, mask) and keeps
    unk, which decodes to its token text "[UNK]".
    """

    pad: str = "[PAD]"
    unk: str = "[UNK]"
    start: str = "[BOS]"
    end: str = "[EOS]"
    mask: str = "[MASK]"
    pad_id: int = 0
    unk_id: int = 1
    start_id: int = 2
    end_id: int = 3
    mask_id: int = 4

    def tokens(self) -> tuple[str, ...]:
        """The token strings in id order."""
        return tuple(getattr(self, role) for role in ROLES)

    def ids(self) -> tuple[int, ...]:
        """The ids in role order (pad, unk, start, end, mask)."""
        return tuple(getattr(self, f"{role}_id") for role in ROLES)

    @property
    def skip_ids(self) -> frozenset[int]:
        """The ids `decode(skip_special=True)` drops: all but unk."""
        return frozenset((self.pad_id, self.start_id, self.end_id, self.mask_id))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """`{"pad": {"token": "[PAD]", "id": 0}, ...}` as written to tokenizer.json."""
        return {
            role: {"token": getattr(self, role), "id": getattr(self, f"{role}_id")}
            for role in ROLES
        }

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, Any]]) -> SpecialTokens:
        """Inverse of `to_dict`; raises KeyError/TypeError on a malformed mapping."""
        kwargs: dict[str, Any] = {}
        for role in ROLES:
            kwargs[role] = str(data[role]["token"])
            kwargs[f"{role}_id"] = int(data[role]["id"])
        return cls(**kwargs)


SPECIALS = SpecialTokens()
