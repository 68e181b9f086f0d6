"""Limits over the socket: the API key, 503 past `--max-in-flight`, and disconnects freeing slots.

The tiny LSTM LM has no context limit, so a request for 100000 tokens decodes for longer
than these tests take: only a client that goes away ends it.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.serve.conftest import metric
from tests.serve.conftest import serving
from tests.serve.conftest import wait_for

AUTH = {"authorization": "Bearer s3cret-key"}
LONG = {"prompt": "The ", "max_tokens": 100000, "temperature": 0, "stream": True}


@pytest.fixture(scope="module")
def url(tiny_bundle, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-limits")
    (folder / "key").write_text("s3cret-key\n")
    options = ["--max-batch", "2", "--max-in-flight", "2", "--max-tokens", "100000"]
    options += ["--api-key-file", str(folder / "key")]
    with serving(tiny_bundle("tiny-lstm-lm"), *options, log=folder / "server.log") as url:
        yield url


def test_api_key_is_required_except_for_health(url):
    assert httpx.get(f"{url}/health").status_code == 200
    assert httpx.get(f"{url}/v1/models").status_code == 401
    wrong = httpx.get(f"{url}/v1/models", headers={"authorization": "Bearer s3cret-kez"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"].startswith("missing or wrong API key")
    assert httpx.get(f"{url}/v1/models", headers=AUTH).status_code == 200


def test_busy_past_max_in_flight_and_disconnects_free_their_slots(url):
    """Two streams fill the server (503 + Retry-After for a third); closing them frees both slots."""

    def idle() -> bool:
        return metric(url, "keras_lm_requests_in_flight", AUTH) == 0 and (
            metric(url, "keras_lm_batch_rows", AUTH) == 0
        )

    with httpx.Client(headers=AUTH, timeout=30) as client:
        for _ in range(2):  # the second round is admitted only if the first one's slots were freed
            with (
                client.stream("POST", f"{url}/v1/completions", json=LONG) as first,
                client.stream("POST", f"{url}/v1/completions", json=LONG) as second,
            ):
                lines = [first.iter_lines(), second.iter_lines()]  # held: a dropped one closes
                for response, line in zip((first, second), lines, strict=True):
                    assert response.status_code == 200
                    assert next(line).startswith("data: ")
                body = {**LONG, "stream": False, "max_tokens": 1}
                busy = client.post(f"{url}/v1/completions", json=body)
                assert busy.status_code == 503, busy.text
                assert busy.headers["retry-after"] == "1"
                assert busy.json()["error"]["type"] == "server_busy"
            wait_for(idle, what="the disconnected streams' slots freed")
    tokens = metric(url, "keras_lm_completion_tokens_total", AUTH)
    time.sleep(0.3)
    assert metric(url, "keras_lm_completion_tokens_total", AUTH) == tokens, "rows still decoding"
    assert tokens < 2 * 2 * 100000
