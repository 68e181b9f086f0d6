"""BERT's WordPiece: keras_lm's `WordPieceTokenizer` with BERT's special tokens where its vocabulary has them.

The ids are keras_hub's `BertTokenizer`'s (the same WordPiece, see `word_piece`); only
the specials differ from the `wordpiece` kind's fixed ids 0..4. A BERT vocabulary
holds "[PAD]", "[UNK]", "[CLS]", "[SEP]" and "[MASK]" anywhere (bert_base_en_uncased:
0, 100, 101, 102, 103), and they play keras_lm's roles pad, unk, start, end and mask,
so a classifier's `[CLS] text [SEP]` is `Framing`'s start and end. `specials` comes
from the vocabulary (the asset), and loading checks tokenizer.json against it.

Example:
>>> vocab = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "qu", "##ick"]
>>> tok = BertWordPieceTokenizer(vocab, lowercase=True)
>>> tok.specials.ids(), tok.encode("The quick fox", add_start=True, add_end=True)
((0, 2, 3, 4, 5), [3, 6, 7, 8, 2, 4])
>>> tok.decode([3, 6, 7, 8, 4, 0])
'the quick'
"""

from __future__ import annotations

from collections.abc import Sequence

from keras_lm.errors import InputError
from keras_lm.tokenizers.base import check_unique
from keras_lm.tokenizers.specials import ROLES
from keras_lm.tokenizers.specials import SpecialTokens
from keras_lm.tokenizers.word_piece import WordPieceTokenizer

# keras_lm's role -> BERT's token (keras_hub BertTokenizer's cls/sep are start/end).
BERT_TOKENS = {"pad": "[PAD]", "unk": "[UNK]", "start": "[CLS]", "end": "[SEP]", "mask": "[MASK]"}


class BertWordPieceTokenizer(WordPieceTokenizer):
    """WordPiece with BERT's special tokens at the ids its vocabulary gives them.

    Args: as `WordPieceTokenizer`, but `vocabulary` holds the five BERT tokens anywhere.
    """

    kind = "bert_wordpiece"
    fixed_specials = False

    def __init__(
        self,
        vocabulary: Sequence[str],
        lowercase: bool = False,
        strip_accents: bool = False,
        split_on_cjk: bool = True,
    ):
        super().__init__(vocabulary, lowercase, strip_accents, split_on_cjk)
        ids = {role: self._index[token] for role, token in BERT_TOKENS.items()}
        self.specials = SpecialTokens(**BERT_TOKENS, **{f"{role}_id": ids[role] for role in ROLES})

    @classmethod
    def _checked_vocabulary(cls, vocabulary: Sequence[str]) -> list[str]:
        vocab = check_unique(vocabulary, f"{cls.kind} vocabulary")
        missing = [t for t in BERT_TOKENS.values() if t not in vocab]
        if missing:
            raise InputError(
                f"{cls.kind} vocabulary", f"BERT's special tokens {missing} are not in it"
            )
        return vocab
