"""`/v1/translate` and `/v1/classify` over the socket, the TFLite backend, and a TensorFlow-free server."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.serve.conftest import ROOT
from tests.serve.conftest import serving
from tests.serve.conftest import sse_events

SOURCES = [
    "Go.",
    "Who are you?",
    "Where is the station?",
    "Hi.",
    "Thank you very much.",
    "It is raining.",
]


@pytest.fixture(scope="module")
def served(tiny_bundle, tmp_path_factory):
    """name -> (bundle, url): one server per bundle, started when first asked for."""
    open_servers, found = [], {}

    def get(name: str, quantize=(), *options: str):
        key = (name, quantize, options)
        if key not in found:
            bundle = tiny_bundle(name, quantize)
            log = tmp_path_factory.mktemp("serve") / "server.log"
            context = serving(bundle, *options, log=log)
            found[key] = (bundle, context.__enter__())
            open_servers.append(context)
        return found[key]

    yield get
    for context in open_servers:
        context.__exit__(None, None, None)


def post(url: str, route: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}{route}", json=body, timeout=60)


@pytest.mark.parametrize("options", [(), ("--no-engine-process",)], ids=["engine", "threads"])
def test_translate_is_the_runtime_translate_alone_and_batched(served, options):
    """The same translations whether the server decodes in its engine process or its own threads."""
    from keras_lm.runtime.bundle import load_bundle

    bundle, url = served("tiny-transformer-seq2seq", (), *options)
    expected = load_bundle(bundle).translate(SOURCES, max_new_tokens=20)

    def translate(text: str) -> str:
        response = post(url, "/v1/translate", {"text": text, "max_tokens": 20})
        assert response.status_code == 200, response.text
        return response.json()["choices"][0]["text"]

    assert [translate(s) for s in SOURCES] == expected
    with ThreadPoolExecutor(len(SOURCES)) as pool:  # sources of different lengths in one batch
        assert list(pool.map(translate, SOURCES)) == expected


def test_translate_streams_and_refuses_blank_text(served):
    _, url = served("tiny-transformer-seq2seq")
    whole = post(url, "/v1/translate", {"text": "Go.", "max_tokens": 10}).json()
    body = {"text": "Go.", "max_tokens": 10, "stream": True}
    with httpx.stream("POST", f"{url}/v1/translate", json=body, timeout=60) as response:
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert "".join(e["choices"][0]["text"] for e in events[:-1]) == whole["choices"][0]["text"]
    blank = post(url, "/v1/translate", {"text": "  "})
    assert (blank.status_code, blank.json()["error"]["param"]) == (400, "text")
    assert post(url, "/v1/completions", {"prompt": "a"}).status_code == 404


def test_classify_is_the_runtime_classify(served):
    from keras_lm.runtime.bundle import load_bundle

    bundle, url = served("tiny-classifier")
    texts = ["a gem of a film", "dull"]
    response = post(url, "/v1/classify", {"text": texts})
    assert response.status_code == 200, response.text
    got = response.json()["data"]
    expected = load_bundle(bundle).classify(texts)
    assert [g["label"] for g in got] == [e["label"] for e in expected]
    assert post(url, "/v1/classify", {"text": []}).status_code == 422


def test_tflite_backend_batches_row_by_row_with_the_same_tokens(served):
    from keras_lm.runtime.bundle import load_bundle

    bundle, url = served("tiny-transformer-lm", ("int8",), "--backend", "tflite")
    prompts = ["The ", "Return a", "x", "If"]
    expected = [load_bundle(bundle, "tflite").generate(p, max_new_tokens=10) for p in prompts]

    def complete(prompt: str) -> str:
        body = {"prompt": prompt, "max_tokens": 10, "temperature": 0}
        return post(url, "/v1/completions", body).json()["choices"][0]["text"]

    with ThreadPoolExecutor(len(prompts)) as pool:
        assert list(pool.map(complete, prompts)) == expected


def test_the_server_imports_no_tensorflow():
    code = (
        "import sys, keras_lm.cli.serve, keras_lm.serving.app, keras_lm.serving.engine\n"
        "import keras_lm.runtime.bundle\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'keras_hub'))\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
