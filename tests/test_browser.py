"""The chat page in headless Debian Chromium: answers and sources at 1400 px and 390 px, light and dark, refusals
in view, copy and like, history across reloads and its clearing, the filter, upload, and no script runs."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import OUTPUT, ROOT, SHIPPED_DATA
from llm_server import Reply, StandInLLM
from test_app import running_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ANSWER_SECONDS = 120_000  # milliseconds, Playwright's unit: the first answer also warms the models
# The README's pictures are refreshed with QA_UPDATE_SCREENSHOTS=1; other runs keep theirs in test-output/.
SCREENSHOTS = ROOT / "docs" if os.environ.get("QA_UPDATE_SCREENSHOTS") == "1" else OUTPUT / "browser"
XSS = "<img src=x onerror=alert(1)>"
WCAG_AA = 4.5

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

# The contrast ratio (WCAG 2) of an element's text colour on the first opaque background behind it.
CONTRAST = """
(element) => {
  const parse = (colour) => (colour.match(/[\\d.]+/g) || []).map(Number);
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  let background = [255, 255, 255];
  for (let node = element; node; node = node.parentElement) {
    const colour = parse(getComputedStyle(node).backgroundColor);
    if (colour.length === 3 || (colour.length === 4 && colour[3] > 0.5)) { background = colour; break; }
  }
  const [light, dark] = [luminance(parse(getComputedStyle(element).color)), luminance(background)]
    .sort((a, b) => b - a);
  return {ratio: (light + 0.05) / (dark + 0.05), background: luminance(background)};
}
"""
IN_VIEW = """
(element) => {
  const box = element.getBoundingClientRect();
  return box.top >= 0 && box.bottom <= window.innerHeight && box.height > 0;
}
"""
# The start of an element is on screen: inside the window and inside the chat's scrolled box.
START_IN_VIEW = """
(element) => {
  let box = {top: 0, bottom: window.innerHeight};
  for (let node = element.parentElement; node; node = node.parentElement) {
    if (/(auto|scroll)/.test(getComputedStyle(node).overflowY) && node.scrollHeight > node.clientHeight) {
      box = node.getBoundingClientRect();
      break;
    }
  }
  const top = element.getBoundingClientRect().top;
  return top >= Math.max(0, box.top) - 1 && top < Math.min(window.innerHeight, box.bottom) - 40;
}
"""


@pytest.fixture(scope="module")
def page_server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The page over a copy of the shipped corpus, its own index and feedback file: uploads change only these."""
    folder = tmp_path_factory.mktemp("page")
    data = folder / "data"
    shutil.copytree(SHIPPED_DATA, data)
    env = {
        "QA_DATA_DIR": str(data),
        "QA_INDEX_DIR": str(folder / "index"),
        "QA_FEEDBACK_FILE": str(folder / "feedback.jsonl"),
        "QA_EXAMPLES_FILE": str(ROOT / "eval" / "examples.txt"),
        "QA_PAGE_TITLE": "区县访谈问答 · District interviews",
    }
    with running_app(OUTPUT / "app-browser.log", env=env) as url:
        yield url, folder


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not shutil.which(CHROMIUM):
        pytest.fail("Debian chromium is missing: run `make browser`")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Too long a question, asked at its end: a refusal (the documents never mention GDP) with a notice (the
# question was cut to its end).
REFUSED_WITH_NOTICE = "请说明。" * 520 + "GDP增长目标是多少？"


def new_page(browser, url: str, width: int, height: int, scheme: str = "light", **options):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme, **options)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page = context.new_page()
    page.goto(url)
    expect(page.locator("#qa-question textarea")).to_be_visible()
    return page


def ask(page, question: str):
    """Type a question, send it, and return its reply once it is final (not the placeholder)."""
    replies = page.locator("#qa-chat .qa-reply:not(.qa-pending)")
    before = replies.count()
    page.locator("#qa-question textarea").fill(question)
    page.locator("#qa-question textarea").press("Enter")
    expect(replies).to_have_count(before + 1, timeout=ANSWER_SECONDS)
    page.wait_for_timeout(300)  # the scroll to the reply's start follows its rendering
    return page.locator("#qa-chat .qa-reply").last


def read_feedback(page, path: Path, count: int) -> list[dict]:
    """The feedback file's records once it holds count of them (each click is written by its own request)."""
    for _ in range(50):
        if path.exists() and len(path.read_text(encoding="utf-8").splitlines()) >= count:
            break
        page.wait_for_timeout(200)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def documents_matching(page, text: str):
    """The filter's options for what one types."""
    page.locator("#qa-filter input").fill(text)
    options = page.get_by_role("option").filter(has_text=text)
    return options


def contrast(locator) -> dict:
    return locator.evaluate(CONTRAST)


def check_answer_and_refusal(page, scheme: str, answer_shot: str, refusal_shot: str = "") -> None:
    """The 新城区 answer with its highlighted quote, then a refusal whose banner is in view; all readable.
    Screenshots of each go to docs/."""
    reply = ask(page, "新城区今年计划实施多少个重点项目？")
    expect(reply.locator(".qa-answer")).to_contain_text("128")
    expect(reply.locator(".qa-answer")).not_to_contain_text("力争完成年度投资")  # the quote is shown once, below
    quote = reply.locator(".qa-source mark").first
    expect(quote).to_contain_text("全年实施128个区级重点项目建设")
    assert reply.evaluate(START_IN_VIEW), "the answer's start is off screen"
    assert contrast(quote)["ratio"] >= WCAG_AA, (scheme, contrast(quote))
    page.screenshot(path=str(SCREENSHOTS / answer_shot))

    refusal = ask(page, REFUSED_WITH_NOTICE)
    assert refusal.evaluate(START_IN_VIEW), "the refusal's start is off screen"
    banner = refusal.locator(".qa-refusal")
    expect(banner).to_have_count(1)
    expect(banner).to_be_in_viewport()
    assert banner.evaluate(IN_VIEW), "the refusal banner is not on screen"
    expect(refusal.locator("details.qa-closest .qa-passage").first).to_be_hidden()  # folded away
    notice = refusal.locator(".qa-notice")
    expect(notice).to_have_count(1)
    for name, element in (("refusal", banner), ("notice", notice)):
        measured = contrast(element)
        assert measured["ratio"] >= WCAG_AA, (scheme, name, measured)
        # Dark mode has dark backgrounds behind light text, not the light ones.
        assert (measured["background"] < 0.1) == (scheme == "dark"), (scheme, name, measured)
    if refusal_shot:
        page.screenshot(path=str(SCREENSHOTS / refusal_shot))


def test_page_answers_refuses_remembers_and_takes_feedback(page_server, browser):
    url, folder = page_server
    dialogs: list[str] = []

    # Desktop, light: title and examples from settings, an answer and a refusal, each readable.
    page = new_page(browser, url, 1400, 1000)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    expect(page.locator("#qa-title")).to_have_text("区县访谈问答 · District interviews")
    expect(page.locator("#qa-examples")).to_contain_text("玉泉区要建设多少亩高标准农田？")
    expect(page.locator("#qa-status")).to_contain_text("extractive")
    check_answer_and_refusal(page, "light", "page-light-1400.png", "page-refusal.png")
    # The marker links to its source in place.
    marker = page.locator("#qa-chat a.qa-marker").first
    target = marker.get_attribute("href").removeprefix("#")
    marker.click()
    expect(page.locator(f"[id='{target}']")).to_be_in_viewport()

    # Screen readers get text, not markup.
    labels = page.locator("#qa-chat [data-testid='bot']").evaluate_all("nodes => nodes.map(n => n.ariaLabel)")
    assert len(labels) == 2 and all("<" not in label and label for label in labels), labels
    assert "128" in labels[0]

    # Copy gives the reply as text; like and dislike are appended to the feedback file.
    page.locator("#qa-chat button[aria-label='Copy message']").nth(1).click()  # [0] copies the question
    page.wait_for_timeout(300)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "128" in copied and "殷树刚" in copied and "<" not in copied, copied
    page.locator("#qa-chat button[aria-label='Like']").first.click()
    page.locator("#qa-chat button[aria-label='Dislike']").last.click()
    records = read_feedback(page, folder / "feedback.jsonl", 2)
    assert [(r["question"][:30], r["liked"], r["answered"]) for r in records] == [
        ("新城区今年计划实施多少个重点项目？", True, True),
        (REFUSED_WITH_NOTICE[:30], False, False),
    ]
    assert "128" in records[0]["answer"] and records[0]["citations"][0]["quote"]

    # The conversation survives a reload, follows up, and its clearing forgets the history too.
    page.reload()
    expect(page.locator("#qa-chat .qa-reply")).to_have_count(2)
    ask(page, "新城区今年计划实施多少个重点项目？")
    follow_up = ask(page, "回民区呢？")
    expect(follow_up.locator(".qa-answer")).to_contain_text("72")
    page.locator("#qa-chat button[aria-label='Clear']").click()
    expect(page.locator("#qa-chat .qa-reply")).to_have_count(0)
    page.wait_for_timeout(300)
    page.reload()
    expect(page.locator("#qa-question textarea")).to_be_visible()
    page.wait_for_timeout(1000)
    expect(page.locator("#qa-chat .qa-reply")).to_have_count(0)
    alone = ask(page, "回民区呢？")
    assert "72" not in alone.inner_text(), alone.inner_text()

    # HTML in a question is shown as text and never runs.
    ask(page, XSS)
    expect(page.locator("#qa-chat .qa-question").last).to_have_text(XSS)
    assert page.locator("#qa-chat img[src='x']").count() == 0

    # The filter: type part of a name, pick the document; answers come from it alone.
    page.locator("#qa-new").click()
    expect(page.locator("#qa-chat .qa-reply")).to_have_count(0)
    documents_matching(page, "乔文杰").click()
    page.keyboard.press("Escape")
    reply = ask(page, "今年计划实施多少个重点项目？")
    expect(reply.locator(".qa-answer")).to_contain_text("72")
    heads = reply.locator(".qa-source-head").all_inner_texts()
    assert heads and all("乔文杰" in head for head in heads), heads
    assert dialogs == []
    page.context.close()

    # Desktop, dark: the same colours are readable on dark backgrounds.
    page = new_page(browser, url, 1400, 1000, "dark")
    expect(page.locator("#qa-chat .qa-reply")).to_have_count(0)  # a new browser has no history
    check_answer_and_refusal(page, "dark", "page-dark-1400.png")
    page.context.close()

    # Phone: opens at the top with the chat in view; each answer lands with its start on screen.
    page = new_page(browser, url, 390, 844, is_mobile=True, has_touch=True, device_scale_factor=1)
    assert page.evaluate("window.scrollY") == 0
    expect(page.locator("#qa-chat")).to_be_in_viewport()
    check_answer_and_refusal(page, "light", "page-phone-390.png")
    # A reply taller than the chat box still shows its start, not its last source.
    tall = ask(page, "回民区和新城区今年各有多少个重点项目？")
    assert tall.evaluate("e => e.offsetHeight") > page.locator("#qa-chat").evaluate("e => e.offsetHeight") * 0.8
    assert tall.evaluate(START_IN_VIEW), "the answer's start is off screen"
    page.context.close()


def test_upload_a_file_then_ask_it_and_a_bad_file_changes_nothing(page_server, browser, tmp_path):
    url, folder = page_server
    page = new_page(browser, url, 1400, 1000)
    page.locator("#qa-documents").get_by_role("button").first.click()
    upload = page.locator("#qa-upload input[type=file]")
    message = page.locator("#qa-documents-message")

    bad = tmp_path / "empty.md"
    bad.write_text("", encoding="utf-8")
    upload.set_input_files(str(bad))
    expect(message).to_contain_text("empty.md", timeout=ANSWER_SECONDS)
    expect(message).to_contain_text("index is unchanged")
    assert not (folder / "data" / "empty.md").exists()

    notes = tmp_path / "canteens.md"
    notes.write_text("# 社区食堂建设计划\n\n## 赛罕区\n\n赛罕区计划新建3个社区食堂，年内投入使用。\n", encoding="utf-8")
    upload.set_input_files(str(notes))
    expect(message).to_contain_text("Index up to date", timeout=ANSWER_SECONDS)
    assert (folder / "data" / "canteens.md").is_file()
    expect(documents_matching(page, "社区食堂建设计划")).to_have_count(1)
    page.keyboard.press("Escape")
    reply = ask(page, "赛罕区计划新建几个社区食堂？")
    expect(reply.locator(".qa-answer")).to_contain_text("3")
    expect(reply.locator(".qa-source-head").first).to_contain_text("社区食堂建设计划")

    # Deleting it from the page takes it out of the folder and the index.
    page.locator("#qa-delete-choice input").fill("canteens")
    page.get_by_role("option", name="canteens.md").click()
    page.locator("#qa-delete").click()
    expect(message).to_contain_text("Deleted canteens.md", timeout=ANSWER_SECONDS)
    assert not (folder / "data" / "canteens.md").exists()
    expect(documents_matching(page, "社区食堂建设计划")).to_have_count(0)
    page.context.close()


def test_an_llm_answer_streams_in_and_the_status_names_the_model(built_index, browser):
    reply_text = "新城区今年计划实施128个区级重点项目[1]。力争完成年度投资200亿元以上[1]。"  # shown by sentence
    with StandInLLM() as server:
        server.responder = lambda request: Reply(reply_text, piece=2, delay=0.25)
        arguments = ("--llm-base-url", server.base_url, "--llm-model", server.model)
        with running_app(OUTPUT / "app-browser-llm.log", *arguments) as url:
            page = new_page(browser, url, 1400, 1000)
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
            page.context.close()
