"""How a classifier's token ids are framed and cut to its length: one rule everywhere.

A BERT-style classifier reads `[CLS] ids [SEP]` (`EncoderClassifierConfig.frame_specials`:
the tokenizer's start and end ids around the text), the others read the ids as they are.
Training, evaluation, Keras and runtime `classify`, the export probes and the
SavedModel's `classify_text` (its in-graph twin, `keras_lm.export.text_signatures`) all
frame through `Framing`, so one text gets the same ids everywhere. A text longer than
`max_length` (specials included) is cut to fit, keeping the end id, as keras-hub's
preprocessors cut; `length` is what the data config's `overflow` rule counts.

Example:
>>> framing = Framing(max_length=5, start_id=101, end_id=102)
>>> framing([7, 8, 9, 10]), framing.length([7, 8, 9, 10])
([101, 7, 8, 9, 102], 6)
>>> Framing(max_length=3)([7, 8, 9, 10]), Framing.of({"frame_specials": False}, None, 3)
([7, 8, 9], Framing(max_length=3, start_id=None, end_id=None))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Framing:
    """max_length: the most ids the model reads, specials included.
    start_id / end_id: ids put before / after the text (None: nothing).
    """

    max_length: int
    start_id: int | None = None
    end_id: int | None = None

    def __post_init__(self):
        if self.room < 1:
            raise ValueError(
                f"max_length {self.max_length} leaves no room for text between the specials"
            )

    @classmethod
    def of(cls, model: Mapping[str, Any], specials, max_length: int) -> Framing:
        """The framing of a classifier whose model config (a run's `config.model`) is `model`;
        `specials` is its tokenizer's `SpecialTokens`."""
        if model.get("frame_specials"):
            return cls(max_length, specials.start_id, specials.end_id)
        return cls(max_length)

    @staticmethod
    def prompt_head(model: Mapping[str, Any], specials) -> list[int]:
        """The ids a language model's prompts start with: `[start]` when its model config says
        `frame_start` (keras-hub's Llama and Gemma preprocessors add `<s>` / `<bos>`), else none.

        >>> from keras_lm.tokenizers.specials import SPECIALS
        >>> Framing.prompt_head({"frame_start": True}, SPECIALS), Framing.prompt_head({}, SPECIALS)
        ([2], [])
        """
        return [specials.start_id] if model.get("frame_start") else []

    @property
    def head(self) -> list[int]:
        """The ids put before the text."""
        return [] if self.start_id is None else [self.start_id]

    @property
    def tail(self) -> list[int]:
        """The ids put after the text."""
        return [] if self.end_id is None else [self.end_id]

    @property
    def room(self) -> int:
        """How many of the text's own ids fit."""
        return self.max_length - len(self.head) - len(self.tail)

    def length(self, ids: Sequence[int]) -> int:
        """The framed length of `ids` before any cut (what `overflow` compares to `max_length`)."""
        return len(ids) + len(self.head) + len(self.tail)

    def __call__(self, ids: Sequence[int]) -> list[int]:
        """`ids` cut to `room`, between the head and the tail."""
        return [*self.head, *ids[: self.room], *self.tail]
