"""The chat page in headless Debian Chromium: answer with sources, follow-up, filter, and no script runs."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from conftest import OUTPUT
from llm_server import Reply, StandInLLM
from test_app import running_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ANSWER_SECONDS = 120_000  # milliseconds, Playwright's unit: the first answer also warms the models
SCREENSHOTS = OUTPUT / "browser"
XSS = "<img src=x onerror=alert(1)>"

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def app_url(built_index) -> Iterator[str]:
    with running_app(OUTPUT / "app-browser.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not shutil.which(CHROMIUM):
        pytest.fail("Debian chromium is missing: run `make browser`")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def ask(page, question: str) -> None:
    """Type a question, send it, and wait until its reply is final (not the streaming placeholder)."""
    replies = page.locator("#qa-chat .qa-reply:not(.qa-pending)")
    before = replies.count()
    page.locator("#qa-question textarea").fill(question)
    page.locator("#qa-question textarea").press("Enter")
    expect(replies).to_have_count(before + 1, timeout=ANSWER_SECONDS)


def test_chat_page_answers_with_sources_follows_up_and_runs_no_script(app_url, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(app_url)
    expect(page.locator("#qa-status")).to_contain_text("extractive")
    expect(page.locator("#qa-status")).to_contain_text("6 articles")

    # A question: the answer, its marker, and the cited paragraph with the quote highlighted.
    ask(page, "新城区今年计划实施多少个重点项目？")
    reply = page.locator("#qa-chat .qa-reply").last
    expect(reply.locator(".qa-answer")).to_contain_text("128")
    source = reply.locator(".qa-source").filter(has_text="全年实施128个区级重点项目建设")
    expect(source.first).to_contain_text("殷树刚")
    expect(source.first.locator("mark")).to_contain_text("128")
    page.screenshot(path=str(SCREENSHOTS / "answer.png"))
    marker = reply.locator("a.qa-marker").first
    target = marker.get_attribute("href").removeprefix("#")
    marker.click()
    expect(page.locator(f"[id='{target}']")).to_be_in_viewport()

    # A follow-up: "回民区呢？" is about 回民区's key projects.
    ask(page, "回民区呢？")
    reply = page.locator("#qa-chat .qa-reply").last
    expect(reply.locator(".qa-answer")).to_contain_text("72")
    expect(reply.locator(".qa-source").first).to_contain_text("回民区确定了72个2024年度实施的重点项目")
    page.wait_for_timeout(2000)  # let the source highlighted by the marker click fade before the picture
    page.screenshot(path=str(SCREENSHOTS / "follow-up.png"))

    # HTML in a question is shown as text and never runs.
    ask(page, XSS)
    expect(page.locator("#qa-chat .qa-question").last).to_have_text(XSS)
    assert page.locator("#qa-chat img[src='x']").count() == 0
    assert dialogs == []

    # A fresh conversation restricted to one article answers from that article only.
    page.get_by_role("button", name="新对话 · New conversation").click()
    expect(page.locator("#qa-chat .qa-reply")).to_have_count(0)
    page.locator("#qa-filter").get_by_label("回民区 · 乔文杰").check()
    ask(page, "今年计划实施多少个重点项目？")
    reply = page.locator("#qa-chat .qa-reply").last
    expect(reply.locator(".qa-answer")).to_contain_text("72")
    heads = reply.locator(".qa-source-head").all_inner_texts()
    assert heads and all("乔文杰" in head for head in heads), heads

    # Re-index with unchanged files: the page reports success and keeps answering (all articles again).
    page.locator("#qa-filter").get_by_label("回民区 · 乔文杰").uncheck()
    page.get_by_role("button", name="重建索引 · Re-index").click()
    expect(page.locator("#qa-reindex-message")).to_contain_text("Index up to date", timeout=ANSWER_SECONDS)
    page.locator("#qa-examples").get_by_text("玉泉区要建设多少亩高标准农田？").click()
    expect(page.locator("#qa-chat .qa-reply:not(.qa-pending)")).to_have_count(2, timeout=ANSWER_SECONDS)
    expect(page.locator("#qa-chat .qa-reply").last.locator(".qa-answer")).to_contain_text("2.7万亩")

    page.screenshot(path=str(SCREENSHOTS / "conversation.png"), full_page=True)
    assert dialogs == []
    page.close()


def test_an_llm_answer_streams_in_and_the_status_names_the_model(built_index, browser):
    reply_text = "新城区今年计划实施128个区级重点项目[1]，力争完成年度投资200亿元以上[1]。"
    with StandInLLM() as server:
        server.responder = lambda request: Reply(reply_text, piece=2, delay=0.1)
        arguments = ("--llm-base-url", server.base_url, "--llm-model", server.model)
        with running_app(OUTPUT / "app-browser-llm.log", *arguments) as url:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url)
            expect(page.locator("#qa-status")).to_contain_text(server.model)
            page.locator("#qa-question textarea").fill("新城区今年计划实施多少个重点项目？")
            page.locator("#qa-question textarea").press("Enter")
            # Part of the reply is on the page while the rest is still on its way.
            expect(page.locator("#qa-chat .qa-pending .qa-answer")).to_contain_text(
                "新城区", timeout=ANSWER_SECONDS
            )
            assert page.locator("#qa-chat .qa-reply:not(.qa-pending)").count() == 0
            reply = page.locator("#qa-chat .qa-reply:not(.qa-pending)")
            expect(reply).to_have_count(1, timeout=ANSWER_SECONDS)
            expect(reply.locator(".qa-answer")).to_have_text(reply_text)
            expect(reply.locator("a.qa-marker").first).to_have_attribute("href", re.compile(r"^#src-\w+-1$"))
            expect(reply.locator(".qa-source mark").first).to_contain_text("128")
            page.screenshot(path=str(SCREENSHOTS / "llm-answer.png"))
            page.close()
