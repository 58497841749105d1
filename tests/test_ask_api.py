"""The HTTP API in process over the shipped corpus, as a client reads it: which notices an answer carries, a
long paste, a filter that leaves out what is asked, and the model names /v1 accepts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from qa.api import create_api

QUESTION = "新城区今年计划实施多少个重点项目？"
HISTORY_CUT = "只使用了最近的部分"


@pytest.fixture(scope="module")
def api(built_index) -> Iterator[TestClient]:
    # A loopback host name: the server answers only those when it has no key.
    with TestClient(create_api(built_index), base_url="http://127.0.0.1") as client:
        yield client


def test_an_unknown_model_is_not_found_as_openai_says_it(api):
    import openai

    client = openai.OpenAI(base_url="http://127.0.0.1/v1", api_key="unused", http_client=api, max_retries=0)
    accepted = [model.id for model in client.models.list()]
    answer = client.chat.completions.create(model=accepted[0], messages=[{"role": "user", "content": QUESTION}])
    assert "128" in answer.choices[0].message.content

    for stream in (False, True):
        with pytest.raises(openai.NotFoundError) as raised:
            client.chat.completions.create(model="gpt-4o", stream=stream,
                                           messages=[{"role": "user", "content": QUESTION}])
        assert raised.value.status_code == 404
        error = raised.value.body
        assert error["code"] == "model_not_found" and error["type"] == "invalid_request_error", error
        assert "gpt-4o" in error["message"] and accepted[0] in error["message"], error
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")
