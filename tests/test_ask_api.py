"""The HTTP API in process over the shipped corpus, as a client reads it: which notices an answer carries, a
long paste, a filter that leaves out what is asked, and the model names /v1 accepts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from qa.api import create_api
from qa.config import Settings, SettingsError

QUESTION = "新城区今年计划实施多少个重点项目？"
HISTORY_CUT = "只使用了最近的部分"


@pytest.fixture(scope="module")
def api(built_index) -> Iterator[TestClient]:
    # A loopback host name: the server answers only those when it has no key.
    with TestClient(create_api(built_index), base_url="http://127.0.0.1") as client:
        yield client


def ask(api: TestClient, **body) -> dict:
    response = api.post("/api/ask", json=body)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def conversation(api: TestClient, questions: list[str]) -> list[dict]:
    """The history a chat holds after asking these questions one after another."""
    history: list[dict] = []
    for question in questions:
        answer = ask(api, question=question, history=history)["answer"]
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return history


def test_a_long_conversation_is_said_to_be_cut_only_when_a_follow_up_used_it(api, built_index):
    history = conversation(api, ["玉泉区要建设多少亩高标准农田？", QUESTION] * 6)
    assert len(history) > built_index.settings.max_history_turns  # twelve questions: more than are kept

    standalone = ask(api, question="回民区今年确定了多少个重点项目？", history=history)
    assert standalone["answered"] and "72" in standalone["answer"], standalone["answer"]
    assert HISTORY_CUT not in standalone["notice"], standalone["notice"]

    follow_up = ask(api, question="回民区呢？", history=history)
    assert follow_up["answered"] and "72" in follow_up["answer"], follow_up["answer"]
    assert HISTORY_CUT in follow_up["notice"], follow_up["notice"]


def test_a_long_paste_keeps_its_end_where_the_question_is(built_index):
    pasted = "以下是会议材料的摘录，供参考。" * 200 + QUESTION  # 3,000 characters and more
    limit = built_index.settings.max_question_chars
    assert len(pasted) > limit + 900
    answer = built_index.ask(pasted)
    assert answer.answered and "128" in answer.text, answer.text
    assert answer.question.endswith(QUESTION) and len(answer.question) <= limit
    assert answer.question.startswith("以下是会议材料")  # from a whole sentence, not the middle of one
    assert "最后" in answer.notice and str(len(pasted)) in answer.notice, answer.notice


def test_a_filter_leaving_out_the_asked_district_says_so(api):
    documents = api.get("/api/documents").json()["documents"]
    articles = [article for document in documents for article in document["articles"]]
    huimin = [article for article in articles if "凝心聚力办实事" in article["title"]]
    assert len(huimin) == 1
    body = ask(api, question=QUESTION, filters={"article_id": [huimin[0]["id"]]})
    assert not body["answered"]
    assert "筛选" in body["answer"] and "新城区" in body["answer"] and huimin[0]["title"] in body["answer"], body
    assert "清除" in body["answer"], body["answer"]
    assert "没有提到这一点" not in body["answer"], body["answer"]

    # With the district's own document in the filter the answer is there.
    xincheng = [article["id"] for article in articles if "有解思维" in article["title"]]
    allowed = ask(api, question=QUESTION, filters={"article_id": xincheng})
    assert allowed["answered"] and "128" in allowed["answer"], allowed["answer"]


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


def test_an_origin_named_in_the_cors_setting_may_call_the_api_and_no_other(built_index):
    front_end, stranger = "http://127.0.0.1:5173", "http://127.0.0.1:5174"
    settings = replace(built_index.settings, cors_origins=f"{front_end}, http://localhost:3000/")
    with TestClient(create_api(built_index, settings), base_url="http://127.0.0.1") as client:
        preflight = client.options("/api/ask", headers={"Origin": front_end, "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == front_end
        asked = client.post("/api/ask", json={"question": QUESTION}, headers={"Origin": front_end})
        assert asked.status_code == 200 and "128" in asked.json()["answer"]
        assert asked.headers["access-control-allow-origin"] == front_end
        for origin in (stranger, "http://localhost:3000/evil"):
            refused = client.post("/api/ask", json={"question": QUESTION}, headers={"Origin": origin})
            assert refused.status_code == 403 and "QA_CORS_ORIGINS" in refused.json()["error"]
            assert "access-control-allow-origin" not in refused.headers
    with TestClient(create_api(built_index), base_url="http://127.0.0.1") as client:  # the default allows none
        preflight = client.options("/api/ask", headers={"Origin": front_end, "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 403


def test_a_cors_setting_that_is_not_a_list_of_origins_is_refused_by_name():
    for bad in ("*", "127.0.0.1:3000", "http://127.0.0.1:3000/app", "ftp://example.org"):
        with pytest.raises(SettingsError, match="QA_CORS_ORIGINS"):
            Settings(cors_origins=bad)
    assert Settings(cors_origins=" http://a.example , https://b.example:8443/ ").allowed_origins == (
        "http://a.example", "https://b.example:8443")
