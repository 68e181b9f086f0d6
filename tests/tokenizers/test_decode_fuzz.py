"""Fuzzing every tokenizer kind's `decode`: any ids in range give a str, any other id a
`ValueError` naming it (a bundle's graphs may emit any id; issue 20)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import sentencepiece as spm
from hypothesis import given
from hypothesis import strategies as st

from keras_lm.tokenizers import BertWordPieceTokenizer
from keras_lm.tokenizers import ByteBPETokenizer
from keras_lm.tokenizers import ByteTokenizer
from keras_lm.tokenizers import CharTokenizer
from keras_lm.tokenizers import PresetSentencePieceTokenizer
from keras_lm.tokenizers import Tokenizer
from keras_lm.tokenizers import TokenizerConfig
from keras_lm.tokenizers import WordPieceTokenizer
from keras_lm.tokenizers import train_tokenizer
from keras_lm.tokenizers.saving import KINDS
from keras_lm.tokenizers.specials import SPECIALS
from tests.conftest import TINY_LINES
from tests.inference.fuzzing import fuzz_settings


def _preset_sentence_piece() -> PresetSentencePieceTokenizer:
    """A Llama-2-like byte-fallback BPE model (what a preset ships as vocabulary.spm)."""
    model = io.BytesIO()
    spm.set_random_generator_seed(0)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TINY_LINES * 5),
        model_writer=model,
        model_type="bpe",
        vocab_size=400,
        byte_fallback=True,
        hard_vocab_limit=False,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    return PresetSentencePieceTokenizer(model.getvalue())


@pytest.fixture(scope="module")
def tokenizers() -> dict[str, Tokenizer]:
    """One tiny tokenizer of every kind `load_tokenizer` knows."""
    pieces = ["a", "b", "é", "数", "##a", "##b", "##", "#", "the", "##s"]
    made = {
        "char": CharTokenizer.train(TINY_LINES),
        "byte": ByteTokenizer(),
        "wordpiece": WordPieceTokenizer([*SPECIALS.tokens(), *pieces]),
        "bert_wordpiece": BertWordPieceTokenizer(
            ["[PAD]", "x", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *pieces]
        ),
        "sentencepiece": train_tokenizer(
            TINY_LINES, TokenizerConfig(kind="sentencepiece", vocab_size=400)
        ),
        "byte_bpe": ByteBPETokenizer.train(TINY_LINES, vocab_size=300),
        "preset_sentencepiece": _preset_sentence_piece(),
    }
    return made


def test_every_kind_is_fuzzed(tokenizers):
    assert {t.kind for t in tokenizers.values()} == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_decode_of_any_ids_is_a_str_or_a_value_error_naming_the_id(tokenizers, kind):
    tokenizer = tokenizers[kind]
    size = tokenizer.vocab_size

    @fuzz_settings(max_examples=200)
    @given(
        st.lists(st.integers(0, size - 1), max_size=40),
        st.lists(st.integers(-(2**64), 2**64) | st.integers(-3, size + 3), max_size=8),
        st.booleans(),
    )
    def check(ids, other, skip_special):
        assert isinstance(tokenizer.decode(ids, skip_special), str)  # any in-range ids
        assert isinstance(tokenizer.decode(np.array(ids, dtype=np.int64), skip_special), str)
        mixed = ids + other
        bad = [i for i in mixed if not 0 <= i < size]
        try:
            text = tokenizer.decode(mixed, skip_special)
        except ValueError as err:
            assert bad and f"id {bad[0]} is out of range" in str(err), str(err)
        else:
            assert not bad and isinstance(text, str)

    check()
