"""The HTTP API of a real server (`python app.py`): /api JSON, the OpenAI client on /v1, uploads, the API key."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace as replace_settings
from pathlib import Path

import httpx
import pytest
from conftest import OUTPUT, SHIPPED_DATA, free_port, serving_app

from qa.config import Settings
from qa.uploads import UploadError, safe_name
from tests.llm_server import Reply, StandInLLM

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "新城区今年计划实施多少个区级重点项目？"
CITED = "全年实施128个区级重点项目建设"
KEY = "test-key-5f2c-9d1e7a"
UPLOAD_LIMIT = 100_000
NEW_DOCUMENT = "# 图书馆通知\n\n市图书馆新馆共有藏书86万册，计划于十月对读者开放。\n\n新馆设有少儿阅览区和自习区。\n"


@pytest.fixture(scope="module")
def folders(built_index, tmp_path_factory) -> tuple[Path, Path]:
    """Copies of the shipped data folder and its built index: uploads change these, never the repository."""
    root = tmp_path_factory.mktemp("api")
    data, index = root / "data", root / "index"
    shutil.copytree(SHIPPED_DATA, data)
    shutil.copytree(built_index.settings.index_dir, index)
    return data, index


@pytest.fixture(scope="module")
def server(folders) -> Iterator[str]:
    data, index = folders
    environment = {"QA_DATA_DIR": str(data), "QA_INDEX_DIR": str(index), "QA_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}
    with serving_app(OUTPUT / "api-server.log", environment=environment) as url:
        yield url


def ask(server: str, body, **options) -> httpx.Response:
    return httpx.post(f"{server}/api/ask", json=body, timeout=120, **options)


def assert_json_error(response: httpx.Response, status: int | tuple[int, ...], *words: str) -> str:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str) and message
    for word in words:
        assert word in message, message
    assert "Traceback" not in response.text and "pytest-of" not in response.text  # no server folder named
    return message


# ---------------------------------------------------------------- names, without a server


@pytest.mark.parametrize("name, stored", [
    ("notes.md", "notes.md"), ("年度报告.docx", "年度报告.docx"), ("some/folder/notes.txt", "notes.txt"),
    ("C:\\Users\\me\\notes.html", None), ("..\\..\\evil.md", None), ("../evil.md", None), ("/etc/evil.md", None),
    ("a/../../evil.md", None), (".hidden.md", None), ("evil\x00.md", None), ("evil\n.md", None),
    ("\u202eevil.md", None), ("archive.exe", None), ("README", None), ("", None), ("x" * 300 + ".md", None),
])
def test_upload_names_stay_in_the_data_folder(name, stored):
    if stored is None:
        with pytest.raises(UploadError):
            safe_name(name)
    else:
        assert safe_name(name) == stored


# ---------------------------------------------------------------- /api


def test_ask_answers_with_its_citation(server):
    response = ask(server, {"question": QUESTION})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answered"] is True and "128" in body["answer"] and "[1]" in body["answer"]
    citation = body["citations"][0]
    assert citation["n"] == 1 and CITED in citation["text"] and CITED in citation["quote"]
    assert citation["source"] == "hohhot-2024-district-interviews.txt" and citation["paragraph"] >= 1
    assert {"title", "section", "paragraph_id", "score"} <= set(citation)
    assert body["passages"] and body["mode"] == "extractive" and body["notice"] == ""


def test_follow_up_uses_the_history(server):
    history = [{"role": "user", "content": QUESTION},
               {"role": "assistant", "content": "全年实施128个区级重点项目建设[1]"}]
    body = ask(server, {"question": "回民区呢？", "history": history}).json()
    assert body["answered"] and "72" in body["answer"], body["answer"]


def test_a_long_history_is_cut_with_a_notice(server):
    earlier = [{"role": "user", "content": "玉泉区要建设多少亩高标准农田？"},
               {"role": "assistant", "content": "建设2.7万亩高标准农田[1]" + "。" * 40_000}]
    chatter = [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "请提问。"}] * 12
    history = [*earlier, *chatter, {"role": "user", "content": QUESTION}, {"role": "assistant", "content": "128个"}]
    started = time.monotonic()
    body = ask(server, {"question": "回民区呢？", "history": history}).json()
    assert body["answered"] and "72" in body["answer"] and "只使用了最近的部分" in body["notice"], body
    assert time.monotonic() - started < 30


def test_documents_list_articles_and_filters_use_their_ids(server):
    documents = httpx.get(f"{server}/api/documents", timeout=60).json()["documents"]
    page = next(d for d in documents if d["source"] == "hohhot-2024-district-interviews.txt")
    assert len(page["articles"]) == 6 and page["paragraphs"] == sum(a["paragraphs"] for a in page["articles"])
    other = next(a for a in page["articles"] if "有解思维" not in a["title"])  # not the 新城区 interview
    body = ask(server, {"question": QUESTION, "filters": {"article_id": [other["id"]]}, "k": 3}).json()
    assert body["passages"] and all(p["title"] == other["title"] for p in body["passages"])
    assert "128" not in body["answer"] or not body["answered"]


def test_status_reports_the_corpus_and_limits(server):
    status = httpx.get(f"{server}/api/status", timeout=60).json()
    assert status["articles"] >= 6 and status["mode"] == "extractive"
    assert status["limits"]["max_upload_bytes"] == UPLOAD_LIMIT and status["api_key_required"] is False
    schema = httpx.get(f"{server}/openapi.json").json()  # what /docs shows
    assert {"/api/ask", "/api/documents", "/api/status", "/v1/chat/completions", "/v1/models"} <= set(schema["paths"])
    assert httpx.get(f"{server}/docs").status_code == 200


@pytest.mark.parametrize("body, status, words", [
    ({"question": ""}, 422, ["empty"]),
    ({"question": "   \n"}, 422, ["empty"]),
    ({"question": "新城区" * 33_334}, 413, ["100,002", "2,000"]),
    ({"question": 42}, 422, ["question"]),
    ({"question": ["新城区"]}, 422, ["question"]),
    ({}, 422, ["question"]),
    ({"question": QUESTION, "k": "five"}, 422, ["k"]),
    ({"question": QUESTION, "k": 0}, 422, ["k", "1 to 50"]),
    ({"question": QUESTION, "k": 10_000}, 422, ["k"]),
    ({"question": QUESTION, "filters": {"colour": ["red"]}}, 422, ["colour"]),
    ({"question": QUESTION, "filters": {"district": [1, 2]}}, 422, ["filters"]),
    ({"question": QUESTION, "filters": {"district": ["区"] * 500}}, 422, ["500", "200"]),
    ({"question": QUESTION, "history": "新城区"}, 422, ["history"]),
    ({"question": QUESTION, "history": [{"role": "robot", "content": "x"}]}, 422, ["history"]),
    ({"question": QUESTION, "filter": {"district": ["新城区"]}}, 422, ["filter"]),
])
def test_bad_input_gets_a_json_error(server, body, status, words):
    assert_json_error(ask(server, body), status, *words)


def test_broken_json_and_surrogates_get_a_json_error(server):
    headers = {"Content-Type": "application/json"}
    assert_json_error(httpx.post(f"{server}/api/ask", content=b'{"question": ', headers=headers), 400, "JSON")
    lone = b'{"question": "\\ud800\xe6\x96\xb0"}'
    assert_json_error(httpx.post(f"{server}/api/ask", content=lone, headers=headers), 422, "surrogate")
    huge = json.dumps({"question": QUESTION, "history": [{"role": "user", "content": "啊" * 400_000}]})
    assert_json_error(httpx.post(f"{server}/api/ask", content=huge.encode(), headers=headers), 413, "bytes")


def test_a_wrong_method_or_an_unknown_route_gets_the_documented_json_error(server):
    wrong_method = httpx.get(f"{server}/api/ask")
    assert_json_error(wrong_method, 405, "GET is not allowed on /api/ask; use POST")
    assert wrong_method.headers["Allow"] == "POST"
    assert_json_error(httpx.delete(f"{server}/api/status"), 405, "use GET")
    for path in ("/api/nothing", "/api", "/api/", "/api/ask/extra"):
        assert_json_error(httpx.get(f"{server}{path}"), 404, "there is no ")
    openai_style = httpx.post(f"{server}/v1/embeddings", json={"input": "x"})
    assert openai_style.status_code == 404
    assert openai_style.json()["error"]["message"].startswith("there is no /v1/embeddings")
    assert httpx.get(f"{server}/v1/chat/completions").json()["error"]["code"] == 405
    assert httpx.get(f"{server}/").status_code == 200  # the page is still served beside them


# ---------------------------------------------------------------- /v1 with the official OpenAI client


@pytest.fixture(scope="module")
def client(server):
    import openai

    return openai.OpenAI(base_url=f"{server}/v1", api_key="x", max_retries=0, timeout=120)


def test_openai_client_answers_with_its_citation(client):
    assert [model.id for model in client.models.list()] == ["interview-qa"]
    completion = client.chat.completions.create(model="interview-qa",
                                                messages=[{"role": "user", "content": QUESTION}])
    content = completion.choices[0].message.content
    assert completion.object == "chat.completion" and completion.choices[0].finish_reason == "stop"
    answer, _, sources = content.partition("**来源 · Sources**")
    assert "128" in answer and "[1]" in answer
    assert sources.lstrip().startswith("[1]") and CITED in sources
    citations = completion.model_extra["citations"]
    assert citations[0]["n"] == 1 and CITED in citations[0]["text"]
    assert completion.usage.completion_tokens == len(content)


def test_openai_client_streams_the_answer(client):
    stream = client.chat.completions.create(model="interview-qa", stream=True,
                                            stream_options={"include_usage": True},
                                            messages=[{"role": "system", "content": "Be brief."},
                                                      {"role": "user", "content": QUESTION}])
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "128" in content and CITED in content.partition("**来源 · Sources**")[2]
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finals) == 1 and CITED in finals[0].model_extra["citations"][0]["text"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == len(content)


def test_openai_client_follow_up_through_messages(client):
    first = client.chat.completions.create(model="interview-qa", messages=[{"role": "user", "content": QUESTION}])
    messages = [{"role": "user", "content": QUESTION},
                {"role": "assistant", "content": first.choices[0].message.content},
                {"role": "user", "content": "回民区呢？"}]
    for stream in (False, True):
        reply = client.chat.completions.create(model="interview-qa", messages=messages, stream=stream)
        content = ("".join(c.choices[0].delta.content or "" for c in reply if c.choices) if stream
                   else reply.choices[0].message.content)
        assert "72" in content.partition("**来源 · Sources**")[0], content


def test_openai_client_gets_errors_it_understands(client):
    import openai

    with pytest.raises(openai.UnprocessableEntityError, match="empty"):
        client.chat.completions.create(model="interview-qa", messages=[{"role": "user", "content": " "}])
    with pytest.raises(openai.UnprocessableEntityError, match="last"):
        client.chat.completions.create(model="interview-qa", messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(openai.APIStatusError, match="QA_MAX_QUESTION_CHARS") as raised:
        client.chat.completions.create(model="interview-qa", stream=True,
                                       messages=[{"role": "user", "content": "问" * 100_000}])
    assert raised.value.status_code == 413


@pytest.fixture(scope="module")
def llm_api(built_index) -> Iterator[tuple[StandInLLM, object]]:
    """A server whose answers a stand-in LLM writes, and an OpenAI client of it."""
    import openai

    with StandInLLM() as llm:
        environment = {"QA_LLM_BASE_URL": llm.base_url, "QA_LLM_MODEL": llm.model}
        with serving_app(OUTPUT / "api-llm-server.log", environment=environment) as url:
            yield llm, openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=120)


def _passage_holding(request: dict, text: str) -> str:
    passages = re.findall(r'<passage id="(\d+)"[^>]*>\n([^<]*)', request["messages"][-1]["content"])
    return next(number for number, passage in passages if text in passage)


def test_an_llm_answer_streams_as_it_arrives(llm_api):
    llm, client = llm_api

    def cite_the_project_count(request: dict) -> Reply:
        n = _passage_holding(request, CITED)
        return Reply(f"新城区今年将实施128个区级重点项目[{n}]。力争完成年度投资200亿元以上[{n}]。", piece=3, delay=0.02)

    llm.responder = cite_the_project_count
    chunks = list(client.chat.completions.create(model="interview-qa", stream=True,
                                                 messages=[{"role": "user", "content": QUESTION}]))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    content = "".join(pieces)
    # the text arrived as the model wrote it, a sentence at a time (each shown once checked)
    assert pieces[0] == "新城区今年将实施128个区级重点项目[1]。", pieces
    assert content.startswith("新城区今年将实施128个区级重点项目[1]。力争完成年度投资200亿元以上[1]。"), content
    assert CITED in chunks[-1].model_extra["citations"][0]["text"]
    assert llm.requests[-1]["stream"] is True


@pytest.mark.parametrize("stream", [False, True])
def test_an_llm_refusal_is_said_once(llm_api, stream):
    llm, client = llm_api
    llm.responder = lambda request: Reply("根据所给段落，文档中没有找到这个问题的答案。", piece=4)
    reply = client.chat.completions.create(model="interview-qa", stream=stream,
                                           messages=[{"role": "user", "content": "新城区今年的GDP目标是多少？"}])
    content = ("".join(c.choices[0].delta.content or "" for c in reply if c.choices) if stream
               else reply.choices[0].message.content)
    assert content.count("没有找到这个问题的答案") == 1 and "来源 · Sources" not in content, content


def test_a_broken_index_is_a_503_naming_no_server_path(tmp_path, caplog):
    """In process (no model is loaded before the index fails): the engine's fault, the client's message."""
    from fastapi.testclient import TestClient

    from qa.api import create_api
    from qa.engine import Engine
    from qa.store import MARKER, MARKER_CONTENT

    index = tmp_path / "secret-place" / "index"
    index.mkdir(parents=True)
    (index / MARKER).write_text(json.dumps(MARKER_CONTENT), encoding="utf-8")  # an index of ours, damaged
    (index / "manifest.json").write_text("{not json", encoding="utf-8")
    engine = Engine(Settings(index_dir=index, data_dir=SHIPPED_DATA))
    with caplog.at_level(logging.INFO), TestClient(create_api(engine), base_url="http://127.0.0.1") as client:
        for response in (client.post("/api/ask", json={"question": QUESTION}), client.get("/api/status"),
                         client.get("/api/documents")):
            message = assert_json_error(response, 503, "index")
            assert "secret-place" not in message and "rebuild" in message
        streamed = client.post("/v1/chat/completions", json={"stream": True, "messages": [
            {"role": "user", "content": QUESTION}]})
        assert streamed.status_code == 503 and streamed.json()["error"]["type"] == "server_error"
    assert "secret-place" in caplog.text  # the log keeps the details
    assert "Traceback" not in caplog.text and not any(record.exc_info for record in caplog.records)


# ---------------------------------------------------------------- uploads


def test_upload_then_answer_from_it_then_delete(server, folders):
    data, _ = folders
    response = httpx.post(f"{server}/api/documents", timeout=300,
                          files=[("files", ("图书馆.md", NEW_DOCUMENT.encode(), "text/markdown"))])
    assert response.status_code == 201, response.text
    assert response.json()["added"] == ["图书馆.md"] and (data / "图书馆.md").read_text() == NEW_DOCUMENT
    body = ask(server, {"question": "市图书馆新馆有多少册藏书？"}).json()
    assert body["answered"] and "86万册" in body["answer"], body
    assert body["citations"][0]["source"] == "图书馆.md"
    assert "图书馆.md" in [d["source"] for d in httpx.get(f"{server}/api/documents").json()["documents"]]

    again = httpx.post(f"{server}/api/documents", files=[("files", ("图书馆.md", b"# x\n\nchanged", "text/plain"))])
    assert_json_error(again, 409, "replace=true")
    assert (data / "图书馆.md").read_text() == NEW_DOCUMENT

    removed = httpx.request("DELETE", f"{server}/api/documents/图书馆.md", timeout=300)
    assert removed.status_code == 200 and removed.json()["removed"] == ["图书馆.md"]
    assert not (data / "图书馆.md").exists()
    after = ask(server, {"question": "市图书馆新馆有多少册藏书？"}).json()
    assert not any(c["source"] == "图书馆.md" for c in after["citations"] + after["passages"])
    assert_json_error(httpx.request("DELETE", f"{server}/api/documents/图书馆.md"), 404)
    assert_json_error(httpx.request("DELETE", f"{server}/api/documents/..%2F..%2Fetc%2Fpasswd"), 404)


def test_delete_removes_only_an_indexed_document(server, folders):
    """Files of the user's that the index does not hold are not documents to delete, whatever their name."""
    data, index = folders
    own = {"notes.xyz": b"my notes", "private/keys.cfg": b"token=abc", "broken.pdf": b"%PDF-1.4 not really"}
    for name, content in own.items():
        (data / name).parent.mkdir(exist_ok=True)
        (data / name).write_bytes(content)
    try:
        listed = [d["source"] for d in httpx.get(f"{server}/api/documents").json()["documents"]]
        before = _state(data, index)
        for name in [*own, "private", "private%2Fkeys.cfg", "..%2Fdata%2Fnotes.xyz", "private/../notes.xyz"]:
            response = httpx.request("DELETE", f"{server}/api/documents/{name}", timeout=60)
            assert_json_error(response, 404, "not an indexed document", "/api/documents")
        assert _state(data, index) == before
        for name, content in own.items():
            assert (data / name).read_bytes() == content
        assert [d["source"] for d in httpx.get(f"{server}/api/documents").json()["documents"]] == listed
    finally:
        shutil.rmtree(data / "private", ignore_errors=True)
        for name in ("notes.xyz", "broken.pdf"):
            (data / name).unlink(missing_ok=True)


def _state(data: Path, index: Path) -> tuple[list[str], str]:
    files = sorted(p.relative_to(data.parent).as_posix() for p in data.parent.rglob("*") if p.is_file()
                   and index not in p.parents)
    return files, (index / "manifest.json").read_text()


@pytest.mark.parametrize("name, content, status, words", [
    ("../evil.md", b"# evil\n\ntext", 422, [".."]),
    ("/tmp/evil.md", b"# evil\n\ntext", 422, ["absolute"]),
    ("..\\evil.md", b"# evil\n\ntext", 422, [".."]),
    (".evil.md", b"# evil\n\ntext", 422, ["hidden"]),
    ("evil.exe", b"MZ\x90\x00", 415, [".exe"]),
    ("big.txt", "很长的文字。".encode() * 10_000, 413, ["100,000"]),
    ("binary.txt", b"\x00\x01\x02\x03" * 100, 422, ["binary.txt"]),
    ("picture.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), 422, ["picture.md"]),
    ("empty.md", b"", 422, ["empty"]),
])
def test_bad_upload_is_refused_and_nothing_is_written(server, folders, name, content, status, words):
    data, index = folders
    before = _state(data, index)
    response = httpx.post(f"{server}/api/documents", timeout=120, files=[("files", (name, content, "text/plain"))])
    assert_json_error(response, status, *words)
    assert _state(data, index) == before


def test_the_page_upload_route_has_the_same_size_limit(server):
    too_big = httpx.post(f"{server}/gradio_api/upload", files=[("files", ("big.md", b"x" * (UPLOAD_LIMIT + 1)))])
    assert too_big.status_code == 413, too_big.text[:300]
    small = httpx.post(f"{server}/gradio_api/upload", files=[("files", ("small.md", b"# a\n\nb"))])
    assert small.status_code == 200


def test_another_origin_or_host_name_is_refused(server, folders):
    """A web page elsewhere cannot post to the API through the user's browser, nor reach it by DNS rebinding."""
    data, index = folders
    before = _state(data, index)
    upload = [("files", ("csrf.md", NEW_DOCUMENT.encode(), "text/markdown"))]
    cross = httpx.post(f"{server}/api/documents", files=upload, headers={"Origin": "http://evil.example"})
    assert_json_error(cross, 403, "origin")
    rebound = httpx.post(f"{server}/api/documents", files=upload, headers={"Host": "evil.example:7860"})
    assert_json_error(rebound, 403, "localhost")
    assert httpx.get(f"{server}/", headers={"Host": "evil.example"}).status_code == 403  # the page too
    assert _state(data, index) == before
    same = ask(server, {"question": QUESTION}, headers={"Origin": server})
    assert same.status_code == 200 and "128" in same.json()["answer"]


def _page_event(server: str, config: dict, elem_id: str, trigger: str) -> int:
    """The fn_index of the page's event that `trigger` on the component with `elem_id` starts."""
    component = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    return next(d["id"] for d in config["dependencies"] if [component, trigger] in d["targets"])


def _run_page_event(server: str, fn_index: int, data: list, headers: dict, session: str = ""
                    ) -> tuple[httpx.Response, dict | None]:
    """An event as the page's script runs it: joined to Gradio's queue, then followed to its result."""
    session = session or uuid.uuid4().hex[:10]
    join = httpx.post(f"{server}/gradio_api/queue/join", headers=headers, timeout=60, json={
        "data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None})
    if join.status_code != 200:
        return join, None
    with httpx.stream("GET", f"{server}/gradio_api/queue/data", params={"session_hash": session},
                      headers=headers, timeout=300) as stream:
        for line in stream.iter_lines():
            message = json.loads(line[5:]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                return join, message
    return join, None


def test_the_page_events_refuse_another_origin_and_serve_their_own(server, folders):
    """A page on another localhost port cannot delete, upload, re-index, give feedback or ask through the
    page's own Gradio routes; the page itself (same origin) still can."""
    data, index = folders
    added = httpx.post(f"{server}/api/documents", timeout=300,
                       files=[("files", ("会议.md", "# 会议\n\n区里计划新建42个停车场。\n".encode(), "text/markdown"))])
    assert added.status_code == 201, added.text
    config = httpx.get(f"{server}/config").json()
    delete = _page_event(server, config, "qa-delete", "click")
    other = {"Origin": f"http://127.0.0.1:{free_port()}"}
    before = _state(data, index)

    events = [(delete, ["会议.md"]), (_page_event(server, config, "qa-reindex", "click"), []),
              (_page_event(server, config, "qa-upload", "upload"), [None]),
              (_page_event(server, config, "qa-chat", "like"), [None, None])]
    for fn_index, arguments in events:
        refused, _ = _run_page_event(server, fn_index, arguments, other)
        assert_json_error(refused, 403, "origin")
    same = {"Origin": server}
    chat_event = httpx.post(f"{server}/gradio_api/call/chat", json={"data": [QUESTION]}, headers=same).json()
    for response in (
        httpx.post(f"{server}/gradio_api/call/chat", json={"data": [QUESTION]}, headers=other),
        httpx.get(f"{server}/gradio_api/call/chat/{chat_event['event_id']}", headers=other),
        httpx.post(f"{server}/gradio_api/run/chat", json={"data": [QUESTION]}, headers=other),
        httpx.post(f"{server}/gradio_api/upload", files=[("files", ("a.md", b"# a\n\nb"))], headers=other),
    ):
        assert_json_error(response, 403, "origin")
    assert _state(data, index) == before and (data / "会议.md").exists()

    answered = httpx.get(f"{server}/gradio_api/call/chat/{chat_event['event_id']}", headers=same, timeout=120)
    assert answered.status_code == 200 and "128" in answered.text
    session = uuid.uuid4().hex[:10]  # one page: re-indexed first, so that its delete list holds the new file
    for fn_index, arguments in events[1:2] + events[:1]:
        joined, result = _run_page_event(server, fn_index, arguments, same, session)
        assert joined.status_code == 200 and result is not None and result["success"], result
    assert not (data / "会议.md").exists()
    assert "会议.md" not in [d["source"] for d in httpx.get(f"{server}/api/documents").json()["documents"]]


def test_a_batch_with_one_bad_file_writes_none(server, folders):
    data, index = folders
    before = _state(data, index)
    files = [("files", ("good.md", NEW_DOCUMENT.encode(), "text/markdown")),
             ("files", ("bad.txt", b"\x00\x00\x00\x00", "text/plain"))]
    response = httpx.post(f"{server}/api/documents", files=files, timeout=120)
    assert_json_error(response, 422, "bad.txt")
    assert _state(data, index) == before


# ---------------------------------------------------------------- exposure


@pytest.fixture(scope="module")
def keyed_server(built_index) -> Iterator[str]:
    with serving_app(OUTPUT / "api-keyed-server.log", key=KEY) as url:
        yield url


def test_api_key_guards_the_api(keyed_server):
    import openai

    assert_json_error(ask(keyed_server, {"question": QUESTION}), 401, "Bearer")
    assert_json_error(ask(keyed_server, {"question": QUESTION}, headers={"Authorization": "Bearer wrong"}), 401)
    assert_json_error(httpx.post(f"{keyed_server}/api/documents", files=[("files", ("a.md", b"# a\n\nb"))]), 401)
    assert ask(keyed_server, {"question": QUESTION}, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{keyed_server}/v1", api_key="wrong", max_retries=0).models.list()
    completion = openai.OpenAI(base_url=f"{keyed_server}/v1", api_key=KEY, max_retries=0).chat.completions.create(
        model="interview-qa", messages=[{"role": "user", "content": QUESTION}])
    assert "128" in completion.choices[0].message.content


def test_api_key_guards_the_page(keyed_server):
    """Gradio's queue, upload and info routes refuse a client that has not logged in with the key."""
    event = {"data": [QUESTION], "fn_index": 0, "session_hash": "abc123"}
    refused = [
        httpx.get(f"{keyed_server}/gradio_api/info"),
        httpx.get(f"{keyed_server}/config"),
        httpx.post(f"{keyed_server}/gradio_api/queue/join", json=event),
        httpx.post(f"{keyed_server}/gradio_api/upload", files=[("files", ("a.md", b"# a\n\nb"))]),
        httpx.post(f"{keyed_server}/gradio_api/call/chat", json={"data": [QUESTION]}),
    ]
    assert [response.status_code for response in refused] == [401] * len(refused)
    with httpx.Client(base_url=keyed_server) as browser:
        assert browser.post("/login", data={"username": "anyone", "password": "wrong"}).status_code == 400
        assert browser.post("/login", data={"username": "anyone", "password": KEY}).status_code == 200
        assert browser.get("/gradio_api/info").status_code == 200
    # with a key the server may be reached under any name (a proxy, a LAN address): the key guards it
    assert httpx.get(f"{keyed_server}/api/status", headers={"Host": "qa.example", "Authorization": f"Bearer {KEY}"}
                     ).status_code == 200


def test_no_public_address_without_a_key(built_index, tmp_path):
    environment = {**os.environ}
    environment.pop("QA_API_KEY", None)
    for host in ("0.0.0.0", "192.168.1.20"):
        finished = subprocess.run([sys.executable, str(ROOT / "app.py"), "--host", host, "--port", str(free_port())],
                                  cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)
        assert finished.returncode == 2 and "QA_API_KEY" in finished.stderr, finished.stderr
        assert "Traceback" not in finished.stderr


def test_server_logs_hold_no_traceback(server, keyed_server):
    """Last in the file: every bad input above was answered without a traceback in either server's log."""
    for name in ("api-server.log", "api-keyed-server.log"):
        log = (OUTPUT / name).read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in log and "share=True" not in log, log[-3000:]
        assert " 422 " in log or name == "api-keyed-server.log"


def test_a_short_api_key_is_refused_at_start():
    environment = {**os.environ, "QA_API_KEY": "hunter"}
    finished = subprocess.run([sys.executable, str(ROOT / "app.py"), "--port", str(free_port())],
                              cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2, finished.stderr
    assert "is 6 characters long; it needs at least 16" in finished.stderr and "hunter" not in finished.stderr
    assert "Traceback" not in finished.stderr
    with pytest.raises(ValueError, match="at least 16"):
        Settings(api_key="x" * 15)
    assert Settings(api_key="x" * 16).api_key


def test_wrong_keys_are_slowed_down_and_the_right_key_still_works(tmp_path):
    from fastapi.testclient import TestClient

    from qa.api import create_api
    from qa.engine import Engine

    settings = Settings(data_dir=tmp_path, index_dir=tmp_path / "index", api_key=KEY)
    app = create_api(Engine(settings), settings)
    right, wrong = {"Authorization": f"Bearer {KEY}"}, {"Authorization": "Bearer guess-000000000000"}
    with TestClient(app, base_url="http://127.0.0.1", client=("10.0.0.7", 5000)) as guesser, \
            TestClient(app, base_url="http://127.0.0.1", client=("10.0.0.8", 5000)) as other:
        assert [guesser.get("/v1/models", headers=wrong).status_code for _ in range(5)] == [401] * 5
        refused = guesser.get("/v1/models", headers=wrong)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert "too many wrong API keys" in refused.json()["error"]["message"]
        # While it waits, even the right key is not looked at (a guess is not answered), but another
        # address is served, and /api errors are JSON too.
        assert guesser.get("/v1/models", headers=right).status_code == 429
        assert guesser.get("/api/status", headers=wrong).json()["error"].startswith("too many wrong API keys")
        assert other.get("/v1/models", headers=right).status_code == 200
        time.sleep(1.1)
        assert guesser.get("/v1/models", headers=wrong).status_code == 401  # the sixth: the wait doubles
        assert guesser.get("/v1/models", headers=wrong).headers["Retry-After"] == "2"
        time.sleep(2.1)
        assert guesser.get("/v1/models", headers=right).status_code == 200
        assert guesser.get("/v1/models", headers=wrong).status_code == 401  # the right key cleared the count


def test_settings_defaults_bind_loopback():
    assert Settings().host == "127.0.0.1"


# ---------------------------------------------------------------- document text in /v1 answers

MARKUP_DOCUMENT = ("市图书馆通知\n\n新馆的开放时间是每天<script>alert('新馆')</script>上午九点到晚上八点。\n\n"
                   "新馆共有藏书86万册，设有<img src=x onerror=alert(1)>少儿阅览区和[自习区](javascript:alert(2))。\n")
MARKUP_QUESTION = "新馆的开放时间是什么？"


@pytest.fixture(scope="module")
def markup_engine(tmp_path_factory):
    """An engine over a document holding HTML and a Markdown link, as a web page saved as text does."""
    from conftest import engine_over

    return engine_over(tmp_path_factory, "markup", {"library.txt": MARKUP_DOCUMENT})


def _v1_contents(engine) -> list[str]:
    """The /v1 answer to MARKUP_QUESTION, whole and streamed, through the official OpenAI client."""
    import openai
    from fastapi.testclient import TestClient

    from qa.api import create_api

    with TestClient(create_api(engine), base_url="http://127.0.0.1") as client:
        chat = openai.OpenAI(base_url="http://127.0.0.1/v1", api_key="x", http_client=client, max_retries=0)
        messages = [{"role": "user", "content": MARKUP_QUESTION}]
        whole = chat.chat.completions.create(model="interview-qa", messages=messages).choices[0].message.content
        streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chat.chat.completions.create(
            model="interview-qa", messages=messages, stream=True) if chunk.choices)
    return [whole, streamed]


def assert_markup_shown_not_run(content: str) -> None:
    answer = content.partition("\n\n*ⓘ")[0].partition(SOURCES)[0]
    assert "<script>" not in content and "<img" not in content and "](javascript" not in content, content
    assert "&lt;script&gt;alert('新馆')&lt;/script&gt;" in answer  # the text as the document has it
    assert "新馆的开放时间是每天" in answer and "上午九点到晚上八点" in answer and "[1]" in answer


SOURCES = "**来源 · Sources**"


def test_document_markup_in_an_extractive_v1_answer_is_escaped(markup_engine):
    for content in _v1_contents(markup_engine):
        assert_markup_shown_not_run(content)


def test_document_markup_in_an_llm_v1_answer_is_escaped(markup_engine):
    from dataclasses import replace

    extractive = markup_engine.settings
    with StandInLLM() as llm:
        llm.responder = lambda request: Reply(
            "新馆的开放时间是每天<script>alert('新馆')</script>上午九点到晚上八点[1]。另见[自习区](javascript:alert(2))。",
            piece=3)
        markup_engine.settings = replace(extractive, llm_base_url=llm.base_url, llm_model=llm.model, llm_timeout=10)
        try:
            contents = _v1_contents(markup_engine)
        finally:
            markup_engine.settings = extractive
        assert len(llm.requests) == 2
    for content in contents:
        assert_markup_shown_not_run(content)


def test_a_503_for_a_missing_embedding_server_names_no_address(markup_engine, caplog):
    from fastapi.testclient import TestClient

    from qa.api import create_api
    from qa.engine import Engine

    url = f"http://127.0.0.1:{free_port()}/v1"
    engine = Engine(replace_settings(markup_engine.settings, embed_base_url=url))
    with caplog.at_level(logging.INFO), TestClient(create_api(engine), base_url="http://127.0.0.1") as client:
        message = assert_json_error(client.post("/api/ask", json={"question": MARKUP_QUESTION}), 503,
                                    "embedding server", "could not be reached")
    assert "127.0.0.1" not in message
    assert url in caplog.text  # the operator's log keeps it
