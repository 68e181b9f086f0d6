"""The engine process: decoding in a process of its own, its events on the server's loop."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from keras_lm.inference.sampling import SamplingConfig
from keras_lm.serving.batcher import Job
from keras_lm.serving.config import ServeConfig
from keras_lm.serving.engine import EngineProcess
from keras_lm.serving.metrics import Metrics
from keras_lm.serving.text import TextStream
from tests.serve.conftest import sample

PROMPTS = ["The ", "def f(x):\n    ", "A list of "]


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    return tiny_bundle("tiny-transformer-lm", ("int8",))


@pytest.fixture(scope="module")
def model(bundle):
    from keras_lm.runtime.bundle import load_bundle

    return load_bundle(bundle)


def job(model, prompt: str, events: asyncio.Queue, max_tokens: int = 12) -> Job:
    sampling = SamplingConfig(strategy="greedy", max_new_tokens=max_tokens)
    ids = [*model.prompt_head, *model.tokenizer.encode(prompt)]
    return Job(ids, sampling, TextStream(model.tokenizer), events.put_nowait)


async def answer(events: asyncio.Queue, timeout: float = 60) -> tuple[str, str]:
    """The text of a job's events and why it ended."""
    text = []
    while True:
        event = await asyncio.wait_for(events.get(), timeout)
        text.append(event.text)
        if event.finish:
            return "".join(text), event.finish


def test_the_engine_decodes_in_a_process_of_its_own_as_the_runtime_does(bundle, model):
    metrics = Metrics()

    async def run():
        engine = EngineProcess(ServeConfig(bundle=str(bundle), max_batch=4), metrics)
        engine.start()
        try:
            assert engine.process.pid != os.getpid() and engine.process.is_alive()
            queues = [asyncio.Queue() for _ in PROMPTS]
            jobs = [job(model, p, q) for p, q in zip(PROMPTS, queues, strict=True)]
            for each in jobs:  # submitted together: they decode as one batch
                engine.submit(each)
            answers = await asyncio.gather(*(answer(q) for q in queues))
            return answers, jobs, engine.jobs
        finally:
            engine.stop()

    answers, jobs, left = asyncio.run(run())
    for prompt, (text, _), each in zip(PROMPTS, answers, jobs, strict=True):
        assert text == model.generate(prompt, max_new_tokens=12)
        assert each.done and each.tokens >= 1
    assert not left  # every finished job left the server's table
    exposition = metrics.exposition().decode()
    steps = sample(exposition, "keras_lm_decode_steps_total")
    tokens = sample(exposition, "keras_lm_completion_tokens_total")
    assert steps >= 11 and tokens == sum(j.tokens for j in jobs)
    assert (
        sample(exposition, "keras_lm_decode_rows_total") > steps
    )  # rows shared steps (a prefill chose each first token)


def test_a_cancelled_job_gets_no_more_events_and_its_row_leaves(bundle, model):
    metrics = Metrics()

    async def run():
        engine = EngineProcess(ServeConfig(bundle=str(bundle)), metrics)
        engine.start()
        try:
            events, after = asyncio.Queue(), asyncio.Queue()
            first = job(model, "The ", events, max_tokens=30)
            os.kill(engine.process.pid, signal.SIGSTOP)  # the cancel reaches it before a step
            engine.submit(first)
            engine.cancel(first)
            os.kill(engine.process.pid, signal.SIGCONT)
            engine.submit(job(model, "x", after, max_tokens=3))  # the engine goes on
            await answer(after)
            await asyncio.sleep(0.2)
            return events.qsize(), first, metrics.exposition().decode()
        finally:
            engine.stop()

    pending, first, exposition = asyncio.run(run())
    assert first.cancelled and not first.done and pending == 0
    assert sample(exposition, "keras_lm_batch_rows") == 0
    assert sample(exposition, "keras_lm_decode_rows_total") < 10  # not its 30 tokens


def test_a_dead_engine_ends_requests_in_flight_with_an_error(bundle, model):
    async def run():
        engine = EngineProcess(ServeConfig(bundle=str(bundle)))
        engine.start()
        try:
            events = asyncio.Queue()
            os.kill(engine.process.pid, signal.SIGSTOP)  # so the job cannot end before the kill
            engine.submit(job(model, "The ", events, max_tokens=30))
            engine.process.kill()
            text, finish = await answer(events)
            late = asyncio.Queue()
            engine.submit(job(model, "x", late))  # refused at once, not left waiting
            return text, finish, engine.alive, await answer(late, timeout=1)
        finally:
            engine.stop()

    text, finish, alive, late = asyncio.run(run())
    assert finish == "error" and "engine" in text and not alive
    assert late[1] == "error"


def test_an_engine_that_cannot_load_its_bundle_says_why(tmp_path):
    async def run():
        EngineProcess(ServeConfig(bundle=str(tmp_path / "missing"))).start()

    with pytest.raises(RuntimeError, match="the engine failed to start.*missing"):
        asyncio.run(run())
