"""`TextModel`'s input checks, with fake steppers: blank texts refused, prompts past the context by rule."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from keras_lm.errors import InputError
from keras_lm.inference.text_model import TextModel
from keras_lm.tokenizers.char import CharTokenizer

TOKENIZER = CharTokenizer.train(["abcdefghij "])


class SumStepper:
    """Next token: a non-special id picked by the sum of the ids it sees (a full recompute, no cache).

    (`keras_lm.generation.testing` has richer fakes, but importing it imports Keras.)
    """

    def __init__(self, context: int | None):
        self.context = context

    def prefill(self, ids, mask):
        state = [row[m.astype(bool)].tolist() for row, m in zip(ids, mask, strict=True)]
        return self._logits(state), state

    def step(self, tokens, state):
        state = [s + [int(t)] for s, t in zip(state, tokens, strict=True)]
        return self._logits(state), state

    def select(self, state, rows):
        return [list(state[r]) for r in rows]

    def full(self, state) -> bool:
        return self.context is not None and max(map(len, state)) >= self.context

    @staticmethod
    def _one_hot(token: int):
        return 10.0 * np.eye(TOKENIZER.vocab_size)[token]

    def _logits(self, state):
        return np.stack([self._one_hot(5 + sum(s) % (TOKENIZER.vocab_size - 5)) for s in state])


def lm(context: int | None = None, overflow: str = "truncate") -> TextModel:
    model = TextModel(SumStepper(context), TOKENIZER, "lm")
    model.overflow = overflow
    return model


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_an_empty_or_blank_source_or_text_is_refused(text):
    with pytest.raises(InputError, match=r"source: source 0 \(.*\) is empty or blank"):
        TextModel(None, TOKENIZER, "seq2seq").translate(text)
    with pytest.raises(InputError, match=r"text: text 1 \(.*\) is empty or blank"):
        TextModel(None, TOKENIZER, "classify").classify(["fine", text])


def test_an_lm_refuses_an_empty_prompt_but_continues_whitespace():
    with pytest.raises(InputError, match=r"prompt 1 \(''\) encodes to no tokens"):
        lm().generate(["abc", ""])
    assert lm().generate("    ", max_new_tokens=2)  # indentation is text to a code model


def test_a_prompt_past_the_context_is_refused_when_the_run_trained_with_overflow_error():
    with pytest.raises(InputError, match=r"prompt 1 \('abcdefghij'...\) is 10 tokens.*at most 4"):
        lm(context=4, overflow="error").generate(["ab", "abcdefghij"], max_new_tokens=2)


@pytest.mark.parametrize("overflow", ["truncate", "drop"])
def test_a_prompt_past_the_context_keeps_its_last_tokens_and_says_how_many_were_dropped(
    overflow, caplog
):
    with caplog.at_level(logging.WARNING, logger="keras_lm.inference.text_model"):
        out = lm(context=4, overflow=overflow).generate("abcdefghij", max_new_tokens=2)
    assert out == lm(context=4).generate("ghij", max_new_tokens=2)  # it saw the last 4 tokens
    (record,) = caplog.records
    assert record.getMessage() == (
        "generate: the model's context is 4 tokens: dropped the first 6 of prompt 0's 10 tokens "
        f"(data.overflow: {overflow})"
    )
    caplog.clear()
    lm(context=4, overflow=overflow).generate("abcd", max_new_tokens=2)
    assert not caplog.records
