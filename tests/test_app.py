"""The chat page's API: rendering is escaped, /chat answers with its sources, eight clients at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import OUTPUT, free_port

from app import answer_as_text, render_answer, render_question
from qa.config import MAX_QUESTION_CHARS
from qa.types import Answer, Citation, Passage

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 300  # a cold start loads the embedding model; a slow CI machine needs the margin

XINCHENG_PARAGRAPH = (
    "殷树刚表示，为落实好全市两会精神，新城区委将重点做好5个方面工作。"
    "全年实施128个区级重点项目建设，力争完成年度投资200亿元以上。"
)


def _log_tail(log_path: Path, lines: int = 40) -> str:
    return "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@contextmanager
def running_app(log_path: Path, *arguments: str) -> Iterator[str]:
    """`python app.py` on a free port with the current QA_* environment; yields its URL once it serves."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(port), *arguments],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                if process.poll() is not None:
                    pytest.fail(f"app.py exited with {process.returncode}:\n{_log_tail(log_path)}")
                try:
                    with urllib.request.urlopen(f"{url}/gradio_api/info", timeout=5) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"app.py did not serve within {STARTUP_SECONDS} s:\n{_log_tail(log_path)}")
                time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def app_url(built_index) -> Iterator[str]:
    with running_app(OUTPUT / "app-client.log") as url:
        yield url


# ---------------------------------------------------------------- rendering, without a server


def _citation(**changes) -> Citation:
    fields = {
        "n": 1,
        "title": "牢固树立“有解思维”",
        "district": "新城区",
        "paragraph": 2,
        "paragraph_id": "p2",
        "text": XINCHENG_PARAGRAPH,
        "quote": "全年实施128个区级重点项目建设，力争完成年度投资200亿元以上。",
        "score": 0.9,
        "interviewee": "殷树刚",
    }
    return Citation(**{**fields, **changes})


def test_answer_markers_link_to_sources_and_quote_is_highlighted():
    answer = Answer(
        question="新城区今年计划实施多少个重点项目？",
        text="新城区全年实施128个区级重点项目[1]。另有[7]。",
        answered=True,
        citations=[_citation()],
    )
    rendered = render_answer(answer, "src-test")
    assert '<a class="qa-marker" href="#src-test-1"' in rendered
    assert 'id="src-test-1"' in rendered
    assert "[7]" in rendered and "#src-test-7" not in rendered  # no source, no link
    assert "<mark>全年实施128个区级重点项目建设，力争完成年度投资200亿元以上。</mark>" in rendered
    assert "殷树刚" in rendered and "第2段" in rendered


def test_question_and_document_html_is_escaped():
    payload = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    answer = Answer(
        question=payload,
        text=f"答案{payload}[1]",
        answered=True,
        citations=[
            _citation(title=payload, text=f"{payload}全年实施128个项目。", quote="全年实施128个项目。")
        ],
        notice=payload,
        unsupported=[payload],
    )
    for rendered in (render_answer(answer, "src-x"), render_question(payload)):
        assert "<img" not in rendered and "<script" not in rendered
        assert "&lt;img src=x onerror=alert(1)&gt;" in rendered


def test_unanswered_shows_closest_passages_not_sources():
    passage = Passage(
        text=XINCHENG_PARAGRAPH,
        title="牢固树立“有解思维”",
        district="新城区",
        paragraph=2,
        paragraph_id="p2",
        score=0.3,
        interviewee="殷树刚",
    )
    answer = Answer(
        question="火星呢？", text="文档中没有找到这个问题的答案。", answered=False, passages=[passage]
    )
    rendered = render_answer(answer, "src-y")
    assert "The documents do not contain the answer" in rendered
    assert "Closest passages" in rendered and "来源 · Sources" not in rendered
    text = answer_as_text(answer)
    assert "Closest passages" in text and "[1]" not in text


# ---------------------------------------------------------------- the served app


def test_chat_endpoint_returns_answer_with_sources(app_url):
    from gradio_client import Client

    text = Client(app_url, verbose=False).predict("新城区今年计划实施多少个重点项目？", api_name="/chat")
    answer, _, sources = text.partition("\n\n[1] ")
    assert "128" in answer and "[1]" in answer
    assert sources.startswith("牢固树立“有解思维”") and "殷树刚" in sources and "段" in sources
    assert "全年实施128个区级重点项目建设" in sources


def test_chat_endpoint_refuses_empty_and_cuts_long_questions(app_url):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(app_url, verbose=False)
    with pytest.raises(AppError, match="question"):
        client.predict("   ", api_name="/chat")
    long_question = "新城区今年计划实施多少个重点项目？" + "啊" * (MAX_QUESTION_CHARS + 100)
    assert str(MAX_QUESTION_CHARS) in client.predict(long_question, api_name="/chat")


CONCURRENT_QUESTIONS = {
    "新城区今年计划实施多少个重点项目？": "128",
    "回民区今年确定了多少个重点项目？": "72",
    "新城区今年准备改造几个老旧小区？": "42",
    "玉泉区要建设多少亩高标准农田？": "2.7万亩",
    "和林格尔新区计划全市电子信息产业市场主体达到多少家？": "25000",
    "经开区2024年计划实施多少个基础设施项目？": "47",
    "回民区要推动已签约的多少个项目落地投产？": "80",
    "新城区今年的年度投资目标定在多少？": "200亿元",
}


def test_eight_clients_at_once_get_their_own_answers(app_url):
    from gradio_client import Client

    def ask(question: str) -> str:
        return Client(app_url, verbose=False).predict(question, api_name="/chat")

    with ThreadPoolExecutor(max_workers=len(CONCURRENT_QUESTIONS)) as pool:
        texts = dict(zip(CONCURRENT_QUESTIONS, pool.map(ask, CONCURRENT_QUESTIONS), strict=True))
    for question, expected in CONCURRENT_QUESTIONS.items():
        answer = texts[question].partition("\n\n[1] ")[0]
        assert expected in answer, f"{question} → {texts[question][:200]}"
