"""The page in headless Debian Chromium, on what a reader meets first: the question box and Send in view on a
phone, the description said once, document counts that agree and follow uploads and deletes, feedback that
marks only real follow-ups, a long paste answered from its end, and a filter that says it left a district out."""

from __future__ import annotations

import re

import pytest
from test_browser import (  # noqa: F401 (fixtures)
    ANSWER_SECONDS,
    IN_VIEW,
    ask,
    browser,
    documents_matching,
    expect,
    new_page,
    page_server,
    read_feedback,
)

LAYOUTS = [(390, 844, "light"), (390, 844, "dark"), (1400, 900, "light"), (1400, 900, "dark")]
COUNT = re.compile(r"就这 (\d+) 份文档")
STATUS_COUNT = re.compile(r"Documents: (\d+)")


@pytest.mark.parametrize("width, height, scheme", LAYOUTS)
def test_the_question_box_and_send_are_in_view_and_the_description_is_said_once(
        page_server, browser, width, height, scheme):  # noqa: F811
    url, _ = page_server
    phone = {"is_mobile": True, "has_touch": True, "device_scale_factor": 1} if width < 500 else {}
    page = new_page(browser, url, width, height, scheme, **phone)
    page.wait_for_timeout(500)
    assert page.evaluate("window.scrollY") == 0
    box, send = page.locator("#qa-question textarea"), page.locator("#qa-send")
    for name, element in (("question box", box), ("Send", send), ("chat", page.locator("#qa-chat"))):
        assert element.evaluate(IN_VIEW), f"the {name} is not on screen at {width}×{height} without scrolling"
    # Send stays beside the box: the two share a line.
    box_area, send_area = box.bounding_box(), send.bounding_box()
    assert send_area["y"] < box_area["y"] + box_area["height"] and send_area["x"] > box_area["x"], (box_area, send_area)
    body = page.locator("body").inner_text()
    assert len(COUNT.findall(body)) == 1, body[:600]
    page.context.close()


def counts(page) -> tuple[int, int]:
    description = page.locator("#qa-description").inner_text()
    status = page.locator("#qa-status").inner_text()
    return int(COUNT.search(description).group(1)), int(STATUS_COUNT.search(status).group(1))


def test_every_count_is_of_documents_and_follows_upload_and_delete(page_server, browser, tmp_path):  # noqa: F811
    url, folder = page_server
    page = new_page(browser, url, 1400, 900)
    files = sorted(path.name for path in (folder / "data").iterdir() if path.is_file())
    expect(page.locator("#qa-status")).to_contain_text(f"Documents: {len(files)}")
    assert counts(page) == (len(files), len(files))

    page.locator("#qa-documents").get_by_role("button").first.click()
    message = page.locator("#qa-documents-message")
    uploads = []
    for name, district in (("canteens.md", "赛罕区"), ("parks.md", "新城区")):
        path = tmp_path / name
        path.write_text(f"# {district}社区食堂\n\n{district}计划新建3个社区食堂。\n\n## 附\n\n年内投入使用。\n",
                        encoding="utf-8")
        uploads.append(str(path))
    page.locator("#qa-upload input[type=file]").set_input_files(uploads)
    expect(message).to_contain_text("Index up to date", timeout=ANSWER_SECONDS)
    expect(page.locator("#qa-description")).to_contain_text(f"就这 {len(files) + 2} 份文档")
    assert counts(page) == (len(files) + 2, len(files) + 2)

    page.locator("#qa-delete-choice input").fill("parks")
    page.get_by_role("option", name="parks.md").click()
    page.locator("#qa-delete").click()
    expect(message).to_contain_text("Deleted parks.md", timeout=ANSWER_SECONDS)
    expect(page.locator("#qa-description")).to_contain_text(f"就这 {len(files) + 1} 份文档")
    assert counts(page) == (len(files) + 1, len(files) + 1)

    # A new visitor reads the same counts.
    page.context.close()
    page = new_page(browser, url, 390, 844)
    expect(page.locator("#qa-status")).to_contain_text(f"Documents: {len(files) + 1}")
    assert counts(page) == (len(files) + 1, len(files) + 1)
    page.context.close()


def test_feedback_marks_only_questions_the_conversation_completed_as_follow_ups(page_server, browser):  # noqa: F811
    url, folder = page_server
    feedback = folder / "feedback.jsonl"
    before = len(feedback.read_text(encoding="utf-8").splitlines()) if feedback.exists() else 0
    page = new_page(browser, url, 1400, 900)
    questions = ["玉泉区要建设多少亩高标准农田？", "新城区今年计划实施多少个重点项目？", "回民区呢？"]
    for question in questions:
        ask(page, question)
    expect(page.locator("#qa-chat .qa-reply").last.locator(".qa-answer")).to_contain_text("72")
    for n in range(len(questions)):
        # A liked message's button is labelled otherwise: the first one still "Like" is the next answer's.
        page.locator("#qa-chat button[aria-label='Like']").first.click()
        read_feedback(page, feedback, before + n + 1)
    records = read_feedback(page, feedback, before + len(questions))[before:]
    assert [record["question"] for record in records] == questions
    assert [record["follow_up"] for record in records] == [False, False, True]
    assert [record["eval"] is not None for record in records] == [True, True, False]
    assert records[1]["eval"]["question"] == questions[1]
    page.context.close()


def test_a_long_paste_is_answered_from_its_end(page_server, browser):  # noqa: F811
    url, _ = page_server
    page = new_page(browser, url, 390, 844, is_mobile=True, has_touch=True, device_scale_factor=1)
    pasted = "以下是会议材料的摘录，供参考。" * 200 + "新城区今年计划实施多少个重点项目？"
    reply = ask(page, pasted)
    expect(reply.locator(".qa-answer")).to_contain_text("128")
    expect(reply.locator(".qa-notice")).to_contain_text(f"问题长 {len(pasted)} 个字符，只使用了最后")
    expect(page.locator("#qa-chat .qa-question").last).to_contain_text("新城区今年计划实施多少个重点项目？")
    page.context.close()


def test_a_filter_that_leaves_out_the_asked_district_says_so(page_server, browser):  # noqa: F811
    url, _ = page_server
    page = new_page(browser, url, 1400, 900, "dark")
    documents_matching(page, "乔文杰").click()  # the 回民区 interview
    page.keyboard.press("Escape")
    reply = ask(page, "新城区今年计划实施多少个重点项目？")
    refusal = reply.locator(".qa-refusal")
    expect(refusal).to_contain_text("筛选只搜索《全力以赴抓落实 凝心聚力办实事》")
    expect(refusal).to_contain_text("没有关于新城区的文档")
    expect(refusal).to_contain_text("清除")
    page.context.close()
