"""`train_tokenizer(texts, TokenizerConfig(...))`: build a vocabulary of any kind from texts.

Training reads at most `max_train_lines` texts, a seeded sample (in corpus order) when
there are more, so a few-MB corpus trains in seconds. WordPiece imports TensorFlow (its
vocabulary learner is keras_hub's `compute_word_piece_vocabulary`), inside the function;
the other kinds do not (byte_bpe learns its merges with Hugging Face `tokenizers`). SentencePiece trains in memory, single-threaded and seeded, so
the same texts and config always give the same model.

Example:
>>> tok = train_tokenizer(["to be or not to be"], TokenizerConfig(kind="char"))
>>> tok.kind, tok.vocab_size, tok.decode(tok.encode("be"))
('char', 13, 'be')
"""

from __future__ import annotations

import dataclasses
import io
import logging
import random
from collections.abc import Iterable
from typing import Literal
from typing import get_args

from keras_lm.config import Config
from keras_lm.config import Range
from keras_lm.config import at_least
from keras_lm.errors import ConfigError
from keras_lm.errors import InputError
from keras_lm.tokenizers.base import Tokenizer
from keras_lm.tokenizers.bert_word_piece import BERT_TOKENS
from keras_lm.tokenizers.bert_word_piece import BertWordPieceTokenizer
from keras_lm.tokenizers.byte import ByteTokenizer
from keras_lm.tokenizers.byte_bpe import ByteBPETokenizer
from keras_lm.tokenizers.char import CharTokenizer
from keras_lm.tokenizers.sentence_piece import SentencePieceTokenizer
from keras_lm.tokenizers.specials import SPECIALS
from keras_lm.tokenizers.word_piece import SUFFIX
from keras_lm.tokenizers.word_piece import WordPieceTokenizer
from keras_lm.tokenizers.word_piece import pretokenize

Kind = Literal[
    "char",
    "byte",
    "wordpiece",
    "sentencepiece",
    "byte_bpe",
    "bert_wordpiece",
    "preset_sentencepiece",
]
# Kinds that are loaded (from a keras-hub preset), never trained here: a run config may name
# them (an imported run's tokenizer), `train_tokenizer` refuses them.
LOADED_KINDS = ("preset_sentencepiece",)
WORDPIECE_KINDS = ("wordpiece", "bert_wordpiece")

log = logging.getLogger(__name__)
DEFAULT_SUBWORD_VOCAB = 8000


@dataclasses.dataclass(frozen=True)
class TokenizerConfig(Config):
    """How to train a tokenizer.

    Args:
        kind: "char", "byte", "wordpiece", "sentencepiece", "byte_bpe" (GPT-2's BPE) or
            "bert_wordpiece" (WordPiece with BERT's [PAD] [UNK] [CLS] [SEP] [MASK] first).
            "preset_sentencepiece" names an imported preset's tokenizer; it is never trained.
        vocab_size: int | None. Target size, specials included (subword kinds: default 8000;
            char: a cap, default none; byte: always 261; byte_bpe: 256 bytes + merges + 1).
        min_frequency: int. char: drop characters seen fewer times.
        lowercase: bool. wordpiece: case-fold words (NFKC_Casefold).
        strip_accents: bool. wordpiece: remove accents (NFD, drop Mn).
        split_on_cjk: bool. wordpiece: every CJK ideograph is a word.
        model_type: "unigram" or "bpe". sentencepiece only.
        character_coverage: float. sentencepiece: share of characters covered by pieces;
            the rest fall back to bytes.
        max_train_lines: int | None. Train on a seeded sample of at most this many texts.
        seed: int. Seed of that sample and of the SentencePiece trainer.
    """

    RANGES = {
        "vocab_size": at_least(1),  # each kind's own minimum is checked below
        "min_frequency": at_least(1),
        "character_coverage": Range(0, 1, low_open=True),
        "max_train_lines": at_least(1),  # None: every line
        "seed": at_least(0),
    }

    kind: Kind = "char"
    vocab_size: int | None = None
    min_frequency: int = 1
    lowercase: bool = False
    strip_accents: bool = False
    split_on_cjk: bool = True
    model_type: Literal["unigram", "bpe"] = "unigram"
    character_coverage: float = 0.9995
    max_train_lines: int | None = 50_000
    seed: int = 1337

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind not in get_args(Kind):
            raise ConfigError(f"kind: expected one of {list(get_args(Kind))}, got {self.kind!r}")
        minimum = {
            "char": len(SPECIALS.tokens()) + 1,
            "wordpiece": 16,
            "bert_wordpiece": 16,
            "sentencepiece": 300,
            "byte_bpe": 257,
        }.get(self.kind)
        if self.vocab_size is not None and minimum and self.vocab_size < minimum:
            raise ConfigError(
                f"vocab_size: {self.kind} needs at least {minimum}, got {self.vocab_size}"
            )
        if self.kind == "byte" and self.vocab_size not in (None, ByteTokenizer().vocab_size):
            raise ConfigError(
                f"vocab_size: a byte tokenizer always has 261 ids, got {self.vocab_size}"
            )
        if self.kind not in WORDPIECE_KINDS and (self.lowercase or self.strip_accents):
            raise ConfigError(f"lowercase/strip_accents apply to wordpiece only, not {self.kind}")


def train_tokenizer(texts: Iterable[str], config: TokenizerConfig) -> Tokenizer:
    """Train a tokenizer of `config.kind` on `texts` (InputError when there is no text)."""
    if config.kind in LOADED_KINDS:
        raise ConfigError(
            f"tokenizer.kind: {config.kind} is the tokenizer of an imported keras-hub preset and "
            "cannot be trained; train a 'sentencepiece' tokenizer instead"
        )
    texts = sample_texts(texts, config.max_train_lines, config.seed)
    if not any(texts):
        raise InputError(
            "training texts", "no text to train a tokenizer on (empty, or only empty lines)"
        )
    if config.kind == "char":
        tokenizer = CharTokenizer.train(texts, config.vocab_size, config.min_frequency)
    elif config.kind == "byte":
        tokenizer = ByteTokenizer()
    elif config.kind in WORDPIECE_KINDS:
        tokenizer = _train_wordpiece(texts, config)
    elif config.kind == "byte_bpe":
        tokenizer = ByteBPETokenizer.train(texts, config.vocab_size or DEFAULT_SUBWORD_VOCAB)
    else:
        tokenizer = _train_sentencepiece(texts, config)
    tokenizer.training = {**config.to_dict(), "train_lines": len(texts)}
    _say_if_smaller(tokenizer, config)
    return tokenizer


def _say_if_smaller(tokenizer: Tokenizer, config: TokenizerConfig) -> None:
    """A learner that stops short of `vocab_size` (WordPiece keeps only pieces seen often enough)."""
    if config.vocab_size and tokenizer.vocab_size < config.vocab_size and config.kind != "char":
        log.warning(
            "tokenizer.vocab_size: asked for %d ids, the %s learner found %d in the training text",
            config.vocab_size,
            config.kind,
            tokenizer.vocab_size,
        )


def sample_texts(texts: Iterable[str], limit: int | None, seed: int) -> list[str]:
    """All texts, or a seeded sample of `limit` of them kept in their original order.

    >>> sample_texts(["a", "b", "c", "d"], 2, seed=0)
    ['b', 'd']
    """
    texts = list(texts)
    if limit is None or len(texts) <= limit:
        return texts
    keep = sorted(random.Random(seed).sample(range(len(texts)), limit))
    return [texts[i] for i in keep]


def _train_wordpiece(texts: list[str], config: TokenizerConfig) -> WordPieceTokenizer:
    import keras_hub
    import tensorflow as tf

    bert = config.kind == "bert_wordpiece"
    cls = BertWordPieceTokenizer if bert else WordPieceTokenizer
    reserved = BERT_TOKENS.values() if bert else SPECIALS.tokens()
    options = (config.lowercase, config.strip_accents, config.split_on_cjk)
    if not any(pretokenize(t, *options) for t in texts):
        raise InputError(
            "training texts",
            "no words to train WordPiece on (only whitespace and control characters)",
        )
    data = tf.data.Dataset.from_tensor_slices([t for t in texts if t]).batch(4096)
    vocab = keras_hub.tokenizers.compute_word_piece_vocabulary(
        data,
        vocabulary_size=config.vocab_size or DEFAULT_SUBWORD_VOCAB,
        lowercase=config.lowercase,
        strip_accents=config.strip_accents,
        split=True,
        split_on_cjk=config.split_on_cjk,
        suffix_indicator=SUFFIX,
        reserved_tokens=list(reserved),
    )
    return cls(vocab, config.lowercase, config.strip_accents, config.split_on_cjk)


def _train_sentencepiece(texts: list[str], config: TokenizerConfig) -> SentencePieceTokenizer:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.set_random_generator_seed(config.seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter([t for t in texts if t]),
            model_writer=model,
            vocab_size=config.vocab_size or DEFAULT_SUBWORD_VOCAB,
            model_type=config.model_type,
            character_coverage=config.character_coverage,
            pad_id=SPECIALS.pad_id,
            pad_piece=SPECIALS.pad,
            unk_id=SPECIALS.unk_id,
            unk_piece=SPECIALS.unk,
            unk_surface=SPECIALS.unk,
            bos_id=SPECIALS.start_id,
            bos_piece=SPECIALS.start,
            eos_id=SPECIALS.end_id,
            eos_piece=SPECIALS.end,
            user_defined_symbols=[SPECIALS.mask],
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            byte_fallback=True,
            hard_vocab_limit=False,
            input_sentence_size=0,
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as err:
        if "sentences_.empty()" in str(err):
            raise InputError("training texts", "no sentences to train SentencePiece on") from None
        raise ConfigError(
            f"SentencePiece training failed ({config.kind}, vocab_size={config.vocab_size}): {err}"
        ) from None
    return SentencePieceTokenizer(model.getvalue(), model_type=config.model_type)
