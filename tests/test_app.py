"""The chat page without a browser: what a reply shows (once, escaped, in the question's language), examples,
feedback lines, and the served /chat endpoint with eight clients at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import OUTPUT, serving_app

from app import (
    answer_as_text,
    document_choices,
    lead_of,
    read_examples,
    record_feedback,
    render_answer,
    render_question,
)
from qa.config import MAX_QUESTION_CHARS, Settings
from qa.types import Answer, Article, Citation, Passage

ROOT = Path(__file__).resolve().parent.parent

XINCHENG_PARAGRAPH = (
    "殷树刚表示，为落实好全市两会精神，新城区委将重点做好5个方面工作。"
    "全年实施128个区级重点项目建设，力争完成年度投资200亿元以上。"
)


def _log_tail(log_path: Path, lines: int = 40) -> str:
    return "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def running_app(log_path: Path, *arguments: str, env: dict | None = None):
    """`python app.py` on a free port with the current QA_* environment (and env); yields its URL once it
    serves."""
    return serving_app(log_path, *arguments, environment=env)


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


XINCHENG_ANSWER = Answer(
    question="新城区今年计划实施多少个重点项目？",
    text="全年实施128个区级重点项目建设[1]\n\n全年实施128个区级重点项目建设，力争完成年度投资200亿元以上。[1]",
    answered=True,
    citations=[_citation()],
)


def test_an_answer_says_its_lead_once_and_marks_the_quote_inside_its_paragraph():
    rendered = render_answer(XINCHENG_ANSWER, "src-test")
    answer_part = rendered.split('<div class="qa-answer">')[1].split("</div>")[0]
    assert answer_part == '全年实施128个区级重点项目建设<a class="qa-marker" href="#src-test-1" title="来源 1">[1]</a>'
    # The quoted sentence appears once on the page: marked inside its whole paragraph.
    assert rendered.count("力争完成年度投资200亿元以上") == 1
    assert "<mark>全年实施128个区级重点项目建设，力争完成年度投资200亿元以上。</mark>" in rendered
    assert 'id="src-test-1"' in rendered and "殷树刚" in rendered and "第2段" in rendered
    assert "来源" in rendered and "Sources" not in rendered


def test_lead_keeps_what_the_quote_does_not_say_and_unlinked_markers_stay_text():
    answer = Answer(
        question="How many key projects will Xincheng carry out?",
        text="128 district-level key projects[1]. See also [7].",
        answered=True,
        citations=[_citation()],
    )
    assert lead_of(answer) == answer.text
    rendered = render_answer(answer, "src-en")
    assert "[7]" in rendered and "#src-en-7" not in rendered  # no source, no link
    assert "Sources" in rendered and "paragraph 2" in rendered and "第2段" not in rendered
    # When the whole answer is the quote, the answer still says it (once more is better than nothing).
    only_quote = Answer("新城区呢？", "全年实施128个区级重点项目建设，力争完成年度投资200亿元以上。[1]", True,
                        citations=[_citation()])
    assert lead_of(only_quote) == only_quote.text
    # An answer written in lines keeps them; only the quoted sentence leaves.
    listed = Answer("新城区有哪些计划？", "两项：\n- 128个项目[1]\n- 200亿元[1]\n\n"
                    "全年实施128个区级重点项目建设，力争完成年度投资200亿元以上。[1]", True, citations=[_citation()])
    assert lead_of(listed) == "两项：\n- 128个项目[1]\n- 200亿元[1]"


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
    refusal = Answer(payload, payload, False, passages=[_passage(title=payload, text=payload)], notice=payload)
    for rendered in (render_answer(answer, "src-x"), render_answer(refusal, "src-x"), render_question(payload)):
        assert "<img" not in rendered and "<script" not in rendered
        assert "&lt;img src=x onerror=alert(1)&gt;" in rendered


def _passage(**changes) -> Passage:
    fields = {
        "text": XINCHENG_PARAGRAPH,
        "title": "牢固树立“有解思维”",
        "district": "新城区",
        "paragraph": 2,
        "paragraph_id": "p2",
        "score": 0.3,
        "interviewee": "殷树刚",
    }
    return Passage(**{**fields, **changes})


def test_a_refusal_says_so_once_first_with_the_closest_passages_folded_away():
    answer = Answer(question="火星呢？", text="文档中没有找到这个问题的答案。", answered=False,
                    passages=[_passage(), _passage(paragraph=3)], notice="“火星” does not occur in the documents.")
    rendered = render_answer(answer, "src-y")
    assert rendered.count("没有找到") == 1 and "do not contain" not in rendered
    banner, notice, folded = rendered.index("qa-refusal"), rendered.index("qa-notice"), rendered.index("<details")
    assert banner < notice < folded < rendered.index(XINCHENG_PARAGRAPH)
    assert "<details open" not in rendered and "最接近的段落" in rendered and "· 2</summary>" in rendered
    assert "来源" not in rendered.replace("不是答案的来源", "")  # not presented as sources
    english = render_answer(Answer("Who is on Mars?", "The documents do not contain the answer to this question.",
                                   False, passages=[_passage()]), "src-z")
    assert "Closest passages" in english and english.count("do not contain") == 1
    text = answer_as_text(answer)
    assert "Closest passages" in text and "[1]" not in text


def test_examples_come_from_the_settings_file_or_from_the_documents(tmp_path):
    documents = [Article(id="a", title="年度报告", source="report.md"),
                 Article(id="b", title="Annual review", source="review.html")]
    examples_file = tmp_path / "examples.txt"
    examples_file.write_text("# comment\n第一个问题？\n\nSecond question?\n", encoding="utf-8")
    assert read_examples(Settings(examples_file=examples_file), documents) == ["第一个问题？", "Second question?"]
    assert read_examples(Settings(), documents) == ["年度报告讲了什么？", "What does “Annual review” say?"]
    # A missing file falls back to the documents rather than leaving the page without examples.
    assert read_examples(Settings(examples_file=tmp_path / "missing.txt"), documents)[0] == "年度报告讲了什么？"


def test_the_filter_offers_every_document_by_what_one_would_type():
    documents = [Article(id=f"id{n}", title=f"报告{n:04d}", source=f"folder/r{n}.md") for n in range(2000)]
    # What a layout found is searchable too; its bookkeeping (layout name, verbatim header) is not shown.
    documents.append(SimpleNamespace(id="x", title="访谈", source="page.txt", metadata={
        "layout": "newspaper", "header_lines": ["访谈"], "interviewee": "张三", "byline": "●记者 张三",
        "district": "某区", "role": "某区区长"}))
    choices = dict(document_choices(documents))
    assert len(choices) == 2001 and choices["报告0042 (folder/r42.md)"] == "id42"
    assert choices["访谈 · 张三 · 某区 (page.txt)"] == "x"


def test_feedback_is_one_json_line_per_click_and_a_liked_answer_is_an_eval_question(tmp_path):
    from eval.run import load_questions

    path = tmp_path / "sub" / "feedback.jsonl"
    turn = {"question": "新城区今年计划实施多少个重点项目？", "answer": XINCHENG_ANSWER.text,
            "lead": lead_of(XINCHENG_ANSWER), "answered": True, "follow_up": False,
            "citations": [{"n": 1, "title": "t", "paragraph": 2, "quote": _citation().quote}]}
    record_feedback(path, turn, True)
    record_feedback(path, turn, False)
    record_feedback(path, {**turn, "answer": "文档中没有找到这个问题的答案。", "lead": "", "answered": False,
                           "citations": []}, True)
    record_feedback(path, {**turn, "question": "回民区呢？", "follow_up": True}, True)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["liked"], r["answered"]) for r in records] == [(True, True), (False, True), (True, False), (True, True)]
    first = records[0]
    assert first["question"] == turn["question"] and first["answer"] == turn["answer"] and first["lang"] == "zh"
    assert first["time"].endswith("+00:00") and first["citations"][0]["quote"] == _citation().quote
    # Liked, stand-alone exchanges are questions `qa eval --questions` reads; dislikes and follow-ups are not.
    assert [r["eval"] is None for r in records] == [False, True, False, True]
    questions = tmp_path / "liked.jsonl"
    questions.write_text("".join(json.dumps(r["eval"]) + "\n" for r in records if r["eval"]), encoding="utf-8")
    answered, refused = load_questions(questions)
    assert answered.answers == (("全年实施128个区级重点项目建设",),) and answered.evidence == (_citation().quote,)
    assert refused.answerable is False and refused.type == "unanswerable"


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
