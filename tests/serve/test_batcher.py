"""The in-flight batcher without a server: rows join and leave between steps, text streams."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from keras_lm.inference.rows import fill_from_tail
from keras_lm.inference.rows import move_rows
from keras_lm.inference.sampling import SamplingConfig
from keras_lm.inference.steppers import CachedSeq2SeqStepper
from keras_lm.inference.steppers import RecurrentLMStepper
from keras_lm.inference.text_model import TextModel
from keras_lm.serving.batcher import Batcher
from keras_lm.serving.batcher import Job
from keras_lm.serving.text import TextStream
from keras_lm.tokenizers.char import CharTokenizer

TOK = CharTokenizer.train(["abcdefghijklmnopqrstuvwxyz"])


class CountingGraphs:
    """An LSTM-shaped decode graph whose next token is the previous one + 1; `h` counts steps."""

    def __init__(self):
        self.batches: list[int] = []

    def run(self, name, token_ids, past_h, past_c):
        self.batches.append(len(token_ids))
        logits = np.eye(TOK.vocab_size)[(token_ids + 1) % TOK.vocab_size]
        return {"logits": logits, "h": past_h + 1, "c": past_c}


def job(text: str, tokens: int, events: list) -> Job:
    return Job(
        TOK.encode(text), SamplingConfig(max_new_tokens=tokens), TextStream(TOK), events.append
    )


@pytest.mark.parametrize("seed", range(5))
def test_rows_move_from_the_tail_into_the_holes(seed):
    alive = (np.random.default_rng(seed).random(9) > 0.5).tolist()
    rows = fill_from_tail(alive)
    assert sorted(rows) == [i for i, a in enumerate(alive) if a]
    data = np.arange(9) * 10
    move_rows([data], rows)
    assert data[: len(rows)].tolist() == [r * 10 for r in rows]


def test_requests_join_and_leave_between_steps():
    graphs = CountingGraphs()
    batcher = Batcher(TextModel(RecurrentLMStepper(graphs, (1, 2)), TOK, "lm"), max_batch=4)
    short, long, late, gone = [], [], [], []
    batcher.run_once([job("a", 2, short), job("k", 5, long)])
    cancelled = job("p", 50, gone)
    batcher.run_once([job("e", 3, late), cancelled])
    cancelled.cancelled = True
    for _ in range(4):
        batcher.run_once()
    assert "".join(e.text for e in short) == "bc"
    assert "".join(e.text for e in long) == "lmnop"
    assert "".join(e.text for e in late) == "fgh"
    assert [e.finish for e in (short[-1], long[-1], late[-1])] == ["length"] * 3
    assert batcher.jobs == [] and batcher.state is None
    assert graphs.batches == [2, 2, 2, 3, 2, 1]  # prefill, step; prefill, 3 rows; then they leave


class SourceGraphs:
    """A seq2seq pair of graphs: the token at target position t is the source's first id + t + 1."""

    def __init__(self):
        self.calls: list[tuple[str, int]] = []
        self.threads: set[tuple[str, str]] = set()

    def run(self, name, **inputs):
        if name == "encode":
            ids = inputs["encoder_token_ids"]
            self.calls.append(("encode", len(ids)))
            self.threads.add(("encode", threading.current_thread().name))
            cross = np.zeros((len(ids), 1, ids.shape[1], 1, 1), np.float32)
            cross[:, 0, 0, 0, 0] = ids[:, 0]
            return {"cross_cache": cross}
        cross, positions = inputs["cross_cache"], inputs["positions"]
        self.calls.append(("decode", len(positions)))
        self.threads.add(("decode", threading.current_thread().name))
        token = (cross[:, 0, 0, 0, 0].astype(int) + positions[:, 0] + 1) % TOK.vocab_size
        logits = np.eye(TOK.vocab_size)[token][:, None]
        return {"logits": logits, "cache": inputs["past_cache"]}


def test_seq2seq_rows_join_encoded_and_take_their_first_token_in_the_batch_step():
    graphs = SourceGraphs()
    stepper = CachedSeq2SeqStepper(graphs, max_target_length=8, cache_shape=(1, 1, 8, 1, 1))
    batcher = Batcher(TextModel(stepper, TOK, "seq2seq"), max_batch=4)
    alone, first, second = [], [], []
    lone = Batcher(TextModel(stepper, TOK, "seq2seq"), max_batch=1)
    lone.run_once([job("k", 3, alone)])
    for _ in range(2):
        lone.run_once()
    graphs.calls.clear()
    batcher.run_once([job("a", 4, first)])
    batcher.run_once([job("k", 3, second)])
    for _ in range(3):
        batcher.run_once()
    assert "".join(e.text for e in first) == "bcde"
    assert "".join(e.text for e in second) == "".join(e.text for e in alone) == "lmn"
    # one decode step a turn: a joining row is encoded, and its first token comes from the batch step
    assert graphs.calls == [("encode", 1), ("decode", 1), ("encode", 1), *[("decode", 2)] * 3]


def _finished(events: dict, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not all(e and e[-1].finish for e in events.values()):
        assert time.monotonic() < end, "the batcher did not finish the requests"
        time.sleep(0.01)


def _served(batcher: Batcher, texts: str, tokens: int) -> dict[str, str]:
    """Each one-letter text submitted to the running `batcher`: the text decoded for each."""
    events = {text: [] for text in texts}
    batcher.start()
    try:
        for text, seen in events.items():
            batcher.submit(job(text, tokens, seen))
        _finished(events)
    finally:
        batcher.stop()
    return {text: "".join(e.text for e in seen) for text, seen in events.items()}


def test_apart_a_second_thread_encodes_and_a_batch_never_passes_max_batch():
    graphs = SourceGraphs()
    stepper = CachedSeq2SeqStepper(graphs, max_target_length=8, cache_shape=(1, 1, 8, 1, 1))
    batcher = Batcher(TextModel(stepper, TOK, "seq2seq"), max_batch=2, apart=True)
    texts = _served(batcher, "aekp", 3)
    assert texts == {"a": "bcd", "e": "fgh", "k": "lmn", "p": "qrs"}
    assert graphs.threads == {("encode", "keras-lm-prepare"), ("decode", "keras-lm-decode")}
    assert max(rows for name, rows in graphs.calls if name == "decode") <= 2
    assert batcher._rows.acquire(blocking=False) and batcher._rows.acquire(blocking=False)


def test_apart_an_lm_prefills_on_the_second_thread_and_chooses_first_tokens_on_joining():
    graphs = CountingGraphs()
    model = TextModel(RecurrentLMStepper(graphs, (1, 2)), TOK, "lm")
    batcher = Batcher(model, max_batch=4, apart=True)
    assert _served(batcher, "ak", 4) == {"a": "bcde", "k": "lmno"}


class FailingSourceGraphs(SourceGraphs):
    """`SourceGraphs` whose encode fails on a source that starts with "z"."""

    def run(self, name, **inputs):
        if name == "encode" and inputs["encoder_token_ids"][0, 0] == TOK.encode("z")[0]:
            raise RuntimeError("the encoder broke")
        return super().run(name, **inputs)


@pytest.mark.parametrize("apart", [False, True])
def test_a_request_whose_encode_fails_gets_an_error_and_the_next_one_decodes(apart):
    stepper = CachedSeq2SeqStepper(
        FailingSourceGraphs(), max_target_length=8, cache_shape=(1, 1, 8, 1, 1)
    )
    batcher = Batcher(TextModel(stepper, TOK, "seq2seq"), max_batch=2, apart=apart)
    events = {"z": [], "a": []}
    batcher.start()
    try:
        batcher.submit(job("z", 3, events["z"]))
        _finished({"z": events["z"]})
        batcher.submit(job("a", 3, events["a"]))
        _finished(events)
    finally:
        batcher.stop()
    assert events["z"][-1].finish == "error" and "the encoder broke" in events["z"][-1].text
    assert "".join(e.text for e in events["a"]) == "bcd"


def test_stop_strings_are_held_back_then_cut():
    stream = TextStream(TOK, stops=("cd",))
    pieces = [stream.push(i) for i in TOK.encode("abcde")[:4]]
    assert pieces == ["a", "b", "", ""] and stream.stopped and stream.text == "ab"
    stream = TextStream(TOK, stops=("cx",))
    assert [stream.push(i) for i in TOK.encode("acd")] == ["a", "", "cd"]


def test_mailbox_delivers_a_step_of_events_in_order_with_one_wake_up():
    import asyncio
    import threading

    pytest.importorskip("fastapi")
    from keras_lm.serving.app import Mailbox

    loop = asyncio.new_event_loop()
    wakes = []
    schedule = loop.call_soon_threadsafe
    loop.call_soon_threadsafe = lambda *a: (wakes.append(a), schedule(*a))[1]
    mailbox, queues = Mailbox(loop), [asyncio.Queue() for _ in range(4)]

    def decode_step(step: int) -> None:  # the decode thread: one event per row
        for row, queue in enumerate(queues):
            mailbox.post(queue, (step, row))

    for step in range(3):
        thread = threading.Thread(target=decode_step, args=(step,))
        thread.start()
        thread.join()
        loop.run_until_complete(asyncio.sleep(0))  # the loop turns once between steps
    try:
        got = [[q.get_nowait() for _ in range(q.qsize())] for q in queues]
    finally:
        loop.close()
    assert got == [[(s, row) for s in range(3)] for row in range(4)]
    assert len(wakes) == 3  # one per step, not one per event (12)
