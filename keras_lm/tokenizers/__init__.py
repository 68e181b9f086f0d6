"""Tokenizers: char, byte, WordPiece, SentencePiece and GPT-2's byte-level BPE, each as a
TensorFlow-free twin and a TensorFlow graph twin that give the same ids, and the
SentencePiece models of keras-hub presets (Llama 2, Gemma), which are loaded, not trained.

Importing this package, loading a tokenizer and using it import neither TensorFlow nor
Keras; `tokenizer.to_tf()` builds the graph twin (`keras_lm.tokenizers.tf_graph`) for
`tf.data` and SavedModel signatures. The special tokens have fixed ids in every kind but
byte_bpe, bert_wordpiece and preset_sentencepiece: [PAD]=0, [UNK]=1, [BOS]=2, [EOS]=3,
[MASK]=4. A byte_bpe tokenizer has GPT-2's one special token, "<|endoftext|>", in every
role, at the id its vocabulary gives it (a preset's own start token, Llama 3's, in the
start role); a bert_wordpiece one BERT's [PAD] [UNK] [CLS] [SEP] [MASK], wherever its
vocabulary has them; a preset_sentencepiece one the unk, bos,
eos (and pad, "<mask>") pieces of its model (`preset_sentence_piece` gives the rule).

Example:
>>> import tempfile
>>> from keras_lm.tokenizers import TokenizerConfig, train_tokenizer
>>> tok = train_tokenizer(["¿Qué tal?", "Muy bien."], TokenizerConfig(kind="char"))
>>> ids = tok.encode("¿Qué?", add_start=True, add_end=True)
>>> ids[0], ids[-1], tok.decode(ids)
(2, 3, '¿Qué?')
>>> load_tokenizer(tok.save(tempfile.mkdtemp() + "/tok")).encode("¿Qué?") == ids[1:-1]
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from keras_lm.tokenizers.base import Tokenizer
from keras_lm.tokenizers.saving import load_tokenizer
from keras_lm.tokenizers.specials import SpecialTokens

if TYPE_CHECKING:
    from keras_lm.tokenizers.bert_word_piece import BertWordPieceTokenizer
    from keras_lm.tokenizers.byte import ByteTokenizer
    from keras_lm.tokenizers.byte_bpe import ByteBPETokenizer
    from keras_lm.tokenizers.char import CharTokenizer
    from keras_lm.tokenizers.preset_sentence_piece import PresetSentencePieceTokenizer
    from keras_lm.tokenizers.sentence_piece import SentencePieceTokenizer
    from keras_lm.tokenizers.training import TokenizerConfig
    from keras_lm.tokenizers.training import train_tokenizer
    from keras_lm.tokenizers.word_piece import WordPieceTokenizer

# Imported on first use: a runtime that loads one char tokenizer skips the libraries of the
# other kinds (Hugging Face tokenizers, sentencepiece, regex), about 10 MB of its memory.
_LAZY = {
    "BertWordPieceTokenizer": "bert_word_piece",
    "ByteBPETokenizer": "byte_bpe",
    "ByteTokenizer": "byte",
    "CharTokenizer": "char",
    "PresetSentencePieceTokenizer": "preset_sentence_piece",
    "SentencePieceTokenizer": "sentence_piece",
    "TokenizerConfig": "training",
    "WordPieceTokenizer": "word_piece",
    "train_tokenizer": "training",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"keras_lm.tokenizers.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BertWordPieceTokenizer",
    "ByteBPETokenizer",
    "ByteTokenizer",
    "CharTokenizer",
    "PresetSentencePieceTokenizer",
    "SentencePieceTokenizer",
    "SpecialTokens",
    "Tokenizer",
    "TokenizerConfig",
    "WordPieceTokenizer",
    "load_tokenizer",
    "train_tokenizer",
]
