"""`/v1/completions` over the socket: parity with the runtime, streaming, in-flight batching, limits."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.serve.conftest import metric
from tests.serve.conftest import serving
from tests.serve.conftest import sse_events

PROMPTS = [
    "The ",
    "Return a",
    "def f(x):\n    ",
    "A list of ",
    "x",
    "Open the file and ",
    "If",
    "os.",
]


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    return tiny_bundle("tiny-transformer-lm", ("int8",))


@pytest.fixture(scope="module")
def url(bundle, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with serving(bundle, "--max-tokens", "64", "--max-body-bytes", "4096", log=log) as url:
        yield url


def complete(url: str, prompt: str, **fields) -> dict:
    body = {"prompt": prompt, "max_tokens": 12, "temperature": 0, **fields}
    response = httpx.post(f"{url}/v1/completions", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_health_and_models(url):
    assert httpx.get(f"{url}/health").json()["task"] == "lm"
    (card,) = httpx.get(f"{url}/v1/models").json()["data"]
    assert (card["task"], card["family"], card["context"]) == ("lm", "transformer_lm", 32)


def test_greedy_completion_is_the_runtime_generate(url, bundle):
    from keras_lm.runtime.bundle import load_bundle

    expected = load_bundle(bundle).generate(PROMPTS[0], max_new_tokens=12)
    body = complete(url, PROMPTS[0])
    assert body["choices"][0]["text"] == expected
    assert body["usage"]["prompt_tokens"] == len(PROMPTS[0])


def test_stream_sends_one_event_per_token_then_done(url):
    whole = complete(url, PROMPTS[1])
    body = {"prompt": PROMPTS[1], "max_tokens": 12, "temperature": 0, "stream": True}
    with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert len(chunks) == whole["usage"]["completion_tokens"]
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]


def test_greedy_tokens_are_the_same_alone_or_batched(url):
    alone = [complete(url, p)["choices"][0]["text"] for p in PROMPTS]
    shares = []
    for _ in range(
        3
    ):  # a loaded machine can start the client threads a tiny model's 12 steps apart
        steps, rows = (
            metric(url, "keras_lm_decode_steps_total"),
            metric(url, "keras_lm_decode_rows_total"),
        )
        with ThreadPoolExecutor(len(PROMPTS)) as pool:
            batched = list(pool.map(lambda p: complete(url, p)["choices"][0]["text"], PROMPTS))
        assert batched == alone
        steps = metric(url, "keras_lm_decode_steps_total") - steps
        shares.append((metric(url, "keras_lm_decode_rows_total") - rows) / steps)
        if shares[-1] > 1.5:
            break
    assert max(shares) > 1.5, f"the concurrent requests were not decoded as one batch: {shares}"


def test_seed_and_stop(url):
    sampled = [
        complete(url, "The ", temperature=1.0, seed=7)["choices"][0]["text"] for _ in range(2)
    ]
    assert sampled[0] == sampled[1]
    text = complete(url, "The ")["choices"][0]["text"]
    stop = text[3:5]
    cut = complete(url, "The ", stop=[stop])["choices"][0]
    assert (cut["text"], cut["finish_reason"]) == (text[: text.index(stop)], "stop")


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (b'{"prompt": "a", ', 400, "body"),
        (b"[1, 2]", 400, "body"),
        ({"prompt": "a", "best_of": 2}, 422, "best_of"),
        ({"max_tokens": 3}, 422, "prompt"),
        ({"prompt": "a", "max_tokens": "many"}, 422, "max_tokens"),
        ({"prompt": "a", "temperature": -1}, 422, "temperature"),
        ({"prompt": "a", "max_tokens": 65}, 400, "max_tokens"),
        ({"prompt": "x" * 40}, 400, "prompt"),
        ({"prompt": "x" * 5000}, 413, "body"),
    ],
)
def test_bad_requests_are_json_errors_naming_the_field(url, body, status, param):
    json_type = {"content-type": "application/json"}
    send = {"content": body, "headers": json_type} if isinstance(body, bytes) else {"json": body}
    response = httpx.post(f"{url}/v1/completions", timeout=30, **send)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


def test_other_tasks_routes_are_404(url):
    response = httpx.post(f"{url}/v1/classify", json={"text": "a"})
    assert response.status_code == 404
    assert "/v1/completions" in response.json()["error"]["message"]


def test_metrics_are_prometheus_text(url):
    text = httpx.get(f"{url}/metrics").text
    assert 'keras_lm_requests_total{route="/v1/completions",status="200"}' in text
    for name in ("time_to_first_token_seconds", "time_per_output_token_seconds", "request_seconds"):
        assert f"keras_lm_{name}_bucket" in text
    assert metric(url, "keras_lm_completion_tokens_total") > 0
