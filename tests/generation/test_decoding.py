"""Decoding loops on fake steppers with known outputs: no model needed."""

from __future__ import annotations

import numpy as np
import pytest

from keras_lm.errors import InputError
from keras_lm.generation.testing import CountingStepper
from keras_lm.generation.testing import SequenceStepper
from keras_lm.generation.testing import TableSeq2SeqStepper
from keras_lm.inference.decoding import generate_lm
from keras_lm.inference.decoding import translate_ids
from keras_lm.inference.sampling import SamplingConfig

END = 5


def _table_lm(table: dict[tuple, dict[int, float]], vocab: int = 8):
    """A fake LM: probabilities of the next token given the whole sequence (default: END)."""

    def next_logits(seq):
        probs = np.full(vocab, 1e-9)
        for token, p in table.get(tuple(seq), {END: 1.0}).items():
            probs[token] = p
        return np.log(probs)

    return SequenceStepper(next_logits)


def test_greedy_batched_rows_stop_at_the_end_token_each_on_its_own():
    out = generate_lm(
        CountingStepper(vocab=10), [[1], [6, 7]], SamplingConfig(max_new_tokens=6), END
    )
    assert out == [[2, 3, 4], [8, 9, 0, 1, 2, 3]]


def test_beam_search_finds_the_likelier_sequence_greedy_misses():
    table = {
        (0,): {1: 0.6, 2: 0.4},
        (0, 1): {3: 0.25, 4: 0.25, 6: 0.25, 7: 0.25},
        (0, 2): {3: 0.95, 4: 0.05},
    }
    config = SamplingConfig(max_new_tokens=2, length_penalty=0.0)
    greedy = generate_lm(_table_lm(table), [[0]], config, END)
    beam = generate_lm(
        _table_lm(table), [[0]], SamplingConfig(strategy="beam", num_beams=2, max_new_tokens=2), END
    )
    assert greedy[0][0] == 1
    assert beam == [[2, 3]]


@pytest.mark.parametrize(("penalty", "expected"), [(0.0, []), (1.0, [1, 2])])
def test_length_penalty_decides_between_a_short_and_a_long_hypothesis(penalty, expected):
    table = {(0,): {END: 0.5, 1: 0.5}, (0, 1): {2: 0.9, 7: 0.1}, (0, 1, 2): {END: 0.9, 7: 0.1}}
    config = SamplingConfig(strategy="beam", num_beams=2, max_new_tokens=5, length_penalty=penalty)
    assert generate_lm(_table_lm(table), [[0]], config, END) == [expected]


def test_beam_search_batches_prompts_independently():
    table = {
        (0,): {1: 0.6, 2: 0.4},
        (0, 1): {3: 0.3, 4: 0.3, 6: 0.4},
        (0, 2): {3: 0.95},
        (7,): {4: 1.0},
        (7, 4): {6: 1.0},
    }
    config = SamplingConfig(strategy="beam", num_beams=3, max_new_tokens=2, length_penalty=0.0)
    assert generate_lm(_table_lm(table), [[0], [7]], config, END) == [[2, 3], [4, 6]]


def test_past_the_context_the_loop_reprefills_on_the_last_window():
    seen: list[int] = []

    def next_logits(seq):
        seen.append(len(seq))
        return 10.0 * np.eye(10)[(seq[-1] + 1) % 10]

    stepper = SequenceStepper(next_logits, context=4)
    out = generate_lm(stepper, [[1, 2, 3]], SamplingConfig(max_new_tokens=6))
    assert out == [[4, 5, 6, 7, 8, 9]]
    assert max(seen) == 4 and stepper.calls.count("prefill") > 1


def test_sampling_with_a_seed_is_reproducible_and_seeds_differ():
    stepper = SequenceStepper(lambda seq: np.zeros(50))
    config = SamplingConfig(strategy="random", max_new_tokens=20, seed=11)
    first = generate_lm(stepper, [[1], [2]], config)
    assert first == generate_lm(stepper, [[1], [2]], config)
    other = generate_lm(
        stepper, [[1], [2]], SamplingConfig(strategy="random", max_new_tokens=20, seed=12)
    )
    assert first != other


def test_an_empty_prompt_is_refused():
    with pytest.raises(InputError, match="at least one token"):
        generate_lm(CountingStepper(vocab=10), [[1], []], SamplingConfig())


def _copy_stepper(max_target_length=32):
    """Seq2seq fake: emits the source token by token, then the end token."""

    def next_logits(source, target):
        i = len(target) - 1
        token = source[i] if i < len(source) else END
        return 10.0 * np.eye(12)[token]

    return TableSeq2SeqStepper(next_logits, max_target_length)


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_translate_ids_copies_sources_of_different_lengths(strategy):
    sources = [[7, 8, 9], [10], [11, 6, 7, 8]]
    config = SamplingConfig(strategy=strategy, num_beams=3, max_new_tokens=20)
    assert translate_ids(_copy_stepper(), sources, config, start_id=2, end_id=END) == sources


def test_translate_ids_stops_at_the_models_target_length():
    out = translate_ids(
        _copy_stepper(max_target_length=3), [[7, 8, 9, 10]], SamplingConfig(), 2, END
    )
    assert out == [[7, 8]]


@pytest.mark.parametrize("strategy", ["greedy", "beam", "top_k", "random"])
def test_banned_ids_are_never_chosen_even_when_likeliest(strategy):
    # The fake LM puts 0.7 on token 1 (an [UNK]-like id) after every token, 0.3 on token 7.
    stepper = SequenceStepper(
        lambda seq: np.log(np.array([1e-9, 0.7, 1e-9, 1e-9, 1e-9, 1e-9, 1e-9, 0.3]))
    )
    config = SamplingConfig(strategy=strategy, max_new_tokens=5, top_k=2, num_beams=2, seed=0)
    assert generate_lm(stepper, [[3]], config, END, banned=(1,)) == [[7] * 5]
    free = generate_lm(stepper, [[3]], config, END)
    assert 1 in free[0]  # without the ban the likeliest token does appear


def test_translate_never_emits_banned_ids():
    stepper = TableSeq2SeqStepper(
        lambda src, tgt: np.log(np.array([0.6, 1e-9, 1e-9, 1e-9, 1e-9, 0.4] + [1e-9] * 2))
    )
    out = translate_ids(stepper, [[4, 4]], SamplingConfig(), start_id=2, end_id=END, banned=(0,))
    assert out == [[]]  # pad (0) is banned, so greedy takes the end token at once
    assert translate_ids(stepper, [[4, 4]], SamplingConfig(max_new_tokens=3), 2, END) == [[0, 0, 0]]
