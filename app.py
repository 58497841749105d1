"""The Gradio chat page: ask the documents, read the answer with its cited source paragraphs."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import json
import logging
import os
import re
import secrets
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import gradio as gr
import uvicorn
from fastapi import FastAPI

from qa import bilingual
from qa.answer.llm import LLMError
from qa.api import create_api, is_loopback
from qa.config import MAX_QUESTION_CHARS, Settings, SettingsError
from qa.corpus import SUPPORTED_SUFFIXES
from qa.embeddings import EmbeddingServerError
from qa.engine import BuildBusy, Engine, IndexUnavailable
from qa.text import is_chinese, split_sentences
from qa.types import Answer, Citation, Passage, place_in_file
from qa.uploads import UploadError, add_documents, delete_document

log = logging.getLogger("qa.app")
# Faults that carry a message saying what to do: logged on one line, shown without server paths.
KNOWN_FAULTS = (IndexUnavailable, BuildBusy, LLMError, EmbeddingServerError, OSError)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
# Answering is mostly CPU work (embedding the question, ranking, an LLM call that waits on the network):
# eight at once keeps every user moving without letting a burst of requests starve the machine.
CONCURRENCY_LIMIT = 8
DEFAULT_K = 5
MAX_EXAMPLES = 6
MAX_SAVED_TURNS = 50
DEFAULT_TITLE = "文档问答 · Document QA"
CHAT_PLACEHOLDER = "答案和它引用的原文段落会显示在这里。 · Answers and the paragraphs they cite appear here."

# The page's own words, in the question's language where there is a question (Chinese, else English).
WORDS = {
    "zh": {
        "sources": "来源",
        "closest": "最接近的段落（不是答案的来源）",
        "searching": "正在查找文档",
        "language": "zh",
        "unsupported": "以下句子没有被引用的段落支持：",
        "error": "回答时出错，请重试。",
        "source_link": "来源 {n}",
        "thanks": "谢谢反馈！",
    },
    "en": {
        "sources": "Sources",
        "closest": "Closest passages (not sources of an answer)",
        "searching": "Searching the documents",
        "language": "en",
        "unsupported": "Not supported by the cited paragraphs:",
        "error": "Something went wrong while answering; please try again.",
        "source_link": "source {n}",
        "thanks": "Thanks for the feedback!",
    },
}
EMPTY_QUESTION = "请输入问题。 · Please type a question."
ENGINE_ERROR = WORDS["zh"]["error"] + " · " + WORDS["en"]["error"]

_MARKER = re.compile(r"\[(\d+)\]")
# A sentence with the markers that follow it: "…以上。[1]" stays one piece.
_SENTENCE_WITH_MARKERS = re.compile(r"[^。！？!?；;\n]+(?:[。！？!?；;]+[”’」』\"')）]*)?(?:\s*\[\d+\])*")


def language_of(text: str) -> str:
    return "zh" if is_chinese(text or "") else "en"


# Everything the page does in the browser. Gradio renders chat messages from their HTML text, so three fixes
# happen here: a bot message's aria-label and its copy button would carry that HTML, and Gradio's autoscroll
# jumps to the bottom of a long reply; instead each new reply scrolls to its start.
HEAD = """
<script>
(() => {
  const plain = (node) => (node.innerText || node.textContent || "").replace(/\\s+\\n/g, "\\n").trim();
  const replyOf = (row) => row && row.querySelector(".qa-reply, .qa-question");

  // Markers link to sources inside the chat; Gradio opens chat links in a new tab, so scroll in place instead.
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.qa-marker");
    if (!link) return;
    const target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) return;
    event.preventDefault();
    event.stopPropagation();
    target.scrollIntoView({behavior: "smooth", block: "center"});
    target.classList.remove("qa-flash");
    void target.offsetWidth;
    target.classList.add("qa-flash");
  }, true);

  // The copy button copies what the reader sees, as text, not the message's HTML.
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("#qa-chat button");
    if (!button || !/copy|复制/i.test(button.getAttribute("aria-label") || button.title || "")) return;
    // A message's buttons follow its row.
    let row = button.closest(".message-buttons");
    while (row && !row.classList.contains("message-row")) row = row.previousElementSibling;
    const reply = replyOf(row);
    if (!reply) return;
    const text = plain(reply);
    // Gradio's own handler writes the HTML first; this write lands after it.
    setTimeout(() => navigator.clipboard && navigator.clipboard.writeText(text).catch(() => {}), 50);
  }, true);

  const scroller = (node) => {
    for (let el = node.parentElement; el; el = el.parentElement) {
      const style = getComputedStyle(el);
      if (/(auto|scroll)/.test(style.overflowY) && el.scrollHeight > el.clientHeight) return el;
    }
    return null;
  };
  // Scroll when a reply appears and again when it is final: its start at the top of the chat, in the window.
  let seen = "0:0";
  const fix = () => {
    const chat = document.getElementById("qa-chat");
    if (!chat) return;
    // The label follows the rendered text (Markdown renders after the attribute is set).
    for (const message of chat.querySelectorAll("[data-testid='bot'], [data-testid='user']")) {
      const who = message.getAttribute("data-testid") === "user" ? "question" : "answer";
      const label = who + ": " + plain(message).slice(0, 400);
      if (message.getAttribute("aria-label") !== label) message.setAttribute("aria-label", label);
    }
    const replies = chat.querySelectorAll(".qa-reply");
    const last = replies[replies.length - 1];
    const state = replies.length + ":" + chat.querySelectorAll(".qa-reply:not(.qa-pending)").length;
    if (state !== seen && last) {
      const box = scroller(last);
      if (box) box.scrollTop += last.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
      const top = last.getBoundingClientRect().top;
      if (top < 0 || top > window.innerHeight - 120) window.scrollBy(0, top - 16);
    }
    seen = state;
  };
  // Gradio marks dark mode with body.dark (following the system unless the reader chose a theme); the
  // system-setting rule in the CSS must not outvote a reader who chose light.
  const followTheme = () => document.documentElement.classList.toggle(
    "qa-light", !document.body.classList.contains("dark"));
  document.addEventListener("DOMContentLoaded", () => {
    followTheme();
    new MutationObserver(followTheme).observe(document.body, {attributes: true, attributeFilter: ["class"]});
  });
  new MutationObserver(fix).observe(document.documentElement,
    {subtree: true, childList: true, attributes: true, attributeFilter: ["aria-label"]});
})();
</script>
"""

# Every colour the page sets has a light and a dark value (Gradio's .dark class, or the system setting), each
# with text on its background at WCAG AA contrast (4.5:1) or better.
DARK_COLOURS = """
  --qa-link: #93c5fd;
  --qa-refusal-bg: #3b2708; --qa-refusal-text: #fde7c2; --qa-refusal-edge: #f59e0b;
  --qa-notice-bg: #0f2344; --qa-notice-text: #dbeafe; --qa-notice-edge: #60a5fa;
  --qa-bad-bg: #3f1414; --qa-bad-text: #fecaca; --qa-bad-edge: #f87171;
  --qa-source-edge: #4b5563; --qa-source-head: #d1d5db;
  --qa-paragraph-bg: #1f2937; --qa-paragraph-text: #f3f4f6;
  --qa-quote-bg: #854d0e; --qa-quote-text: #fefce8;
  --qa-muted: #d1d5db;
"""
CSS = """
.gradio-container {
  --qa-link: #1d4ed8;
  --qa-refusal-bg: #fff4e5; --qa-refusal-text: #7c2d12; --qa-refusal-edge: #f59e0b;
  --qa-notice-bg: #eef6ff; --qa-notice-text: #1e3a8a; --qa-notice-edge: #3b82f6;
  --qa-bad-bg: #fdecec; --qa-bad-text: #7f1d1d; --qa-bad-edge: #dc2626;
  --qa-source-edge: #d1d5db; --qa-source-head: #374151;
  --qa-paragraph-bg: #fefce8; --qa-paragraph-text: #1f2937;
  --qa-quote-bg: #fde68a; --qa-quote-text: #1f2937;
  --qa-muted: #4b5563;
}
.dark .gradio-container, .gradio-container.dark, body.dark .gradio-container {""" + DARK_COLOURS + """}
@media (prefers-color-scheme: dark) {
  html:not(.qa-light) .gradio-container {""" + DARK_COLOURS + """}
}
.qa-answer { line-height: 1.7; }
.qa-answer a.qa-marker { font-weight: 600; text-decoration: none; color: var(--qa-link); }
.qa-refusal, .qa-notice, .qa-unsupported, .qa-error { border-radius: 6px; padding: 6px 10px; margin: 6px 0; }
.qa-refusal { background: var(--qa-refusal-bg); color: var(--qa-refusal-text);
  border-left: 4px solid var(--qa-refusal-edge); font-weight: 600; position: sticky; top: 0; z-index: 1; }
.qa-notice { background: var(--qa-notice-bg); color: var(--qa-notice-text);
  border-left: 4px solid var(--qa-notice-edge); }
.qa-unsupported, .qa-error { background: var(--qa-bad-bg); color: var(--qa-bad-text);
  border-left: 4px solid var(--qa-bad-edge); }
.qa-error { font-weight: 600; }
.qa-flagged { text-decoration: underline wavy var(--qa-bad-edge); }
.qa-sources-title { font-weight: 600; margin: 10px 0 4px; }
.qa-closest summary { cursor: pointer; font-weight: 600; margin: 8px 0 4px; }
.qa-source { border: 1px solid var(--qa-source-edge); border-radius: 6px; padding: 6px 10px; margin: 6px 0;
  font-size: 0.92em; }
.qa-cited { background: var(--qa-paragraph-bg); color: var(--qa-paragraph-text); }
.qa-source-head { color: var(--qa-source-head); margin-bottom: 4px; }
.qa-source mark { background: var(--qa-quote-bg); color: var(--qa-quote-text); padding: 0 1px; }
.qa-flash { animation: qa-flash 1.5s ease-out; }
@keyframes qa-flash { from { outline: 3px solid var(--qa-refusal-edge); } to { outline: 0 solid transparent; } }
#qa-status, #qa-description { font-size: 0.9em; color: var(--qa-muted); }
#qa-description p { margin: 0; }
/* A phone's screen holds the title, the chat and the question box with its Send button, without scrolling:
   the chat gives up what the rest needs (Gradio sets its height inline, hence !important). */
@media (max-width: 640px) {
  #qa-title { margin: 0; font-size: 1.2em; }
  #qa-description { font-size: 0.8em; }
  #qa-chat { height: max(240px, calc(100vh - 360px)) !important; min-height: 240px !important; }
}
"""


# ---------------------------------------------------------------- rendering (everything escaped first)


def _escape(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _spans(text: str, pieces: Sequence[str]) -> list[tuple[int, int]]:
    """Where each piece (or, failing that, each of its sentences) occurs in text: sorted, non-overlapping."""
    found: list[tuple[int, int]] = []
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        start = text.find(piece)
        if start >= 0:
            found.append((start, start + len(piece)))
            continue
        for sentence in split_sentences(piece):
            start = text.find(sentence)
            if start >= 0:
                found.append((start, start + len(sentence)))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _wrap(text: str, pieces: Sequence[str], open_tag: str, close_tag: str) -> str:
    """Escaped text with the given pieces of it wrapped in a (trusted) tag."""
    out, position = [], 0
    for start, end in _spans(text, pieces):
        out += [_escape(text[position:start]), open_tag, _escape(text[start:end]), close_tag]
        position = end
    out.append(_escape(text[position:]))
    return "".join(out)


def _link_markers(escaped: str, anchor: str, numbers: set[int], words: dict) -> str:
    def link(match: re.Match) -> str:
        n = int(match.group(1))
        if n not in numbers:
            return match.group(0)
        label = html.escape(words["source_link"].format(n=n))
        return f'<a class="qa-marker" href="#{anchor}-{n}" title="{label}">[{n}]</a>'

    return _MARKER.sub(link, escaped)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", _MARKER.sub("", text))


def lead_of(answer: Answer) -> str:
    """The answer text without the sentences the sources show as their quote: each thing is said once."""
    quoted = {_squash(sentence) for citation in answer.citations for sentence in split_sentences(citation.quote)}
    quoted |= {_squash(citation.quote) for citation in answer.citations}
    quoted.discard("")
    lines = []
    for line in answer.text.split("\n"):
        kept = "".join(piece for piece in _SENTENCE_WITH_MARKERS.findall(line) if _squash(piece) not in quoted)
        if kept.strip() or not line.strip():
            lines.append(kept.strip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() or answer.text


# Metadata a reader needs no label for: the layout's name and the header kept verbatim (the source shows it).
_UNSHOWN_METADATA = frozenset({"layout", "header_lines", "subtitle"})
MAX_METADATA_CHARS = 40


def metadata_values(item) -> list[str]:
    """The short text values a layout found for a document (person, place, role, date…), in its order."""
    metadata = getattr(item, "metadata", None) or {}
    values = [value for key, value in metadata.items() if key not in _UNSHOWN_METADATA and isinstance(value, str)]
    values += [getattr(item, "interviewee", ""), getattr(item, "district", "")]  # before metadata existed
    shown = [value.strip() for value in values if value and value.strip() and len(value) <= MAX_METADATA_CHARS]
    shown = [value for value in dict.fromkeys(shown) if value != item.title]
    # A value holding a shorter one ("●本报记者 张三" and "张三") says it twice: the shorter one stays.
    return [value for value in shown if not any(other != value and other in value for other in shown)]


def _source_head(item: Citation | Passage, words: dict) -> str:
    """title · section · what the layout knows (person, place…) · paragraph: every part escaped."""
    section = getattr(item, "section", "")
    seen = [part for part in dict.fromkeys([section, *metadata_values(item)]) if part and part != item.title]
    paragraph = place_in_file(item.paragraph, getattr(item, "page", 0), getattr(item, "row", 0), words["language"])
    shown = [f"<b>{html.escape(item.title)}</b>", *(html.escape(part) for part in seen), paragraph]
    return " · ".join(shown)


def render_citation(citation: Citation, anchor: str, words: dict = WORDS["zh"]) -> str:
    quote_pieces = [citation.quote] if citation.quote else []
    return (
        f'<div class="qa-source qa-cited" id="{anchor}-{citation.n}">'
        f'<div class="qa-source-head">[{citation.n}] {_source_head(citation, words)}</div>'
        f'<div class="qa-paragraph">{_wrap(citation.text, quote_pieces, "<mark>", "</mark>")}</div>'
        "</div>"
    )


def render_passage(passage: Passage, words: dict = WORDS["zh"]) -> str:
    return (
        '<div class="qa-source qa-passage">'
        f'<div class="qa-source-head">{_source_head(passage, words)}</div>'
        f'<div class="qa-paragraph">{_escape(passage.text)}</div>'
        "</div>"
    )


def render_question(question: str) -> str:
    # One line of HTML is one raw HTML block to the chat's Markdown: nothing in it is read as Markdown.
    return f'<div class="qa-question">{_escape(question)}</div>'


def render_partial(text: str, language: str = "zh") -> str:
    shown = _escape(text) if text else html.escape(WORDS[language]["searching"])
    return f'<div class="qa-reply qa-pending"><div class="qa-answer">{shown} …</div></div>'


def engine_error_message(error: Exception, language: str = "") -> str:
    """What the user reads when answering fails: a known fault says what to do, and names no server path
    (the log keeps it); anything else is only said to have happened."""
    message = WORDS[language]["error"] if language else ENGINE_ERROR
    if isinstance(error, KNOWN_FAULTS):
        detail = (getattr(error, "public", "") or str(error)).strip().splitlines()[0][:300]
        return f"{message} ({detail})"
    return message


def render_error(message: str) -> str:
    return f'<div class="qa-reply"><div class="qa-error" role="alert">⚠ {_escape(message)}</div></div>'


def render_answer(answer: Answer, anchor: str) -> str:
    """The whole reply, in the question's language.

    An answer: its lead with linked markers, then each source paragraph with the quoted sentence marked.
    A refusal: its message once, first, then the closest passages folded away.
    """
    language = language_of(answer.question or answer.text)
    words = WORDS[language]
    notice = f'<div class="qa-notice" role="note">ⓘ {_escape(answer.notice)}</div>' if answer.notice else ""
    if not answer.answered:
        parts = [f'<div class="qa-refusal" role="status">{_escape(answer.text)}</div>', notice]
        if answer.passages:
            passages = "".join(render_passage(passage, words) for passage in answer.passages)
            summary = f"{html.escape(words['closest'])} · {len(answer.passages)}"
            parts.append(f'<details class="qa-closest"><summary>{summary}</summary>{passages}</details>')
        return f'<div class="qa-reply qa-refused">{"".join(parts)}</div>'
    parts = [notice]
    body = _wrap(lead_of(answer), answer.unsupported, '<span class="qa-flagged">', "</span>")
    body = _link_markers(body, anchor, {citation.n for citation in answer.citations}, words)
    parts.append(f'<div class="qa-answer">{body}</div>')
    if answer.unsupported:
        items = "".join(f"<li>{_escape(sentence)}</li>" for sentence in answer.unsupported)
        parts.append(f'<div class="qa-unsupported">⚠ {html.escape(words["unsupported"])}<ul>{items}</ul></div>')
    if answer.citations:
        parts.append(f'<div class="qa-sources-title">{html.escape(words["sources"])}</div>')
        parts += [render_citation(citation, anchor, words) for citation in answer.citations]
    return f'<div class="qa-reply">{"".join(parts)}</div>'


def _plain_head(item: Citation | Passage) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", _source_head(item, WORDS[language_of(item.title)])))


def answer_as_text(answer: Answer) -> str:
    """Plain text for the API: the answer, then each source as "[n] title · … · paragraph" and its text."""
    lines = [answer.text]
    if answer.notice:
        lines += ["", f"({answer.notice})"]
    if answer.unsupported:
        lines += ["", "Not supported by the cited paragraphs:"] + [f"- {s}" for s in answer.unsupported]
    if answer.answered and answer.citations:
        lines.append("")
        for citation in answer.citations:
            lines.append(f"[{citation.n}] {_plain_head(citation)}")
            lines.append(" " + citation.text.replace("\n", "\n "))
    elif answer.passages:
        lines += ["", "Closest passages (not sources):"]
        for passage in answer.passages:
            lines.append(f"- {_plain_head(passage)}")
            lines.append(" " + passage.text.replace("\n", "\n "))
    return "\n".join(lines)


def render_status(status: dict) -> str:
    size = status.get("index_bytes") or 0
    return html.escape(
        f"回答方式 · Answerer: {status.get('mode', '?')}  ·  "
        f"文档 · Documents: {status.get('documents', 0)} ({status.get('articles', 0)} 篇 · articles), "
        f"段落 · paragraphs: {status.get('paragraphs', 0)}  ·  "
        f"索引 · Index: {status.get('chunks', 0)} chunks, {size / 1_000_000:.1f} MB "
        f"({status.get('embed_model', '?')})"
    )


# ---------------------------------------------------------------- what the page says about its corpus


def document_choices(documents: Sequence) -> list[tuple[str, str]]:
    """(label, id) per document for the search-as-you-type filter: the label holds everything one may type."""

    def label(document) -> str:
        return " · ".join([document.title, *metadata_values(document)]) + f" ({document.source})"

    return sorted(((label(document), document.id) for document in documents), key=lambda choice: choice[0])


def source_choices(documents: Sequence) -> list[str]:
    return sorted({document.source for document in documents})


def read_examples(settings: Settings, documents: Sequence) -> list[str]:
    """Example questions: the examples file (one a line, # for comments), else questions about the titles."""
    if settings.examples_file:
        try:
            lines = Path(settings.examples_file).read_text(encoding="utf-8").splitlines()
            examples = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
            if examples:
                return examples[:MAX_EXAMPLES * 2]
            log.warning("the examples file %s holds no question", settings.examples_file)
        except (OSError, UnicodeDecodeError) as error:
            log.warning("cannot read the examples file %s: %s", settings.examples_file, error)
    examples = []
    count = min(MAX_EXAMPLES, len(documents))
    for document in (documents[i * len(documents) // count] for i in range(count)):  # spread over the corpus
        title = document.title.strip()
        if title:
            examples.append(f"{title}讲了什么？" if is_chinese(title) else f"What does “{title}” say?")
    return examples


def page_title(settings: Settings) -> str:
    return settings.page_title or DEFAULT_TITLE


def document_count(documents: Sequence) -> int:
    """Documents are files: what is uploaded and deleted, however many articles one holds."""
    return len({document.source for document in documents})


def page_description(settings: Settings, count: int) -> str:
    if settings.page_description:
        return settings.page_description
    english = "the document" if count == 1 else f"the {count} documents"
    return (
        f"就这 {count} 份文档用中文或英文提问，答案引用原文段落。"
        f" · Ask {english} in Chinese or English; answers cite the source paragraphs."
    )


def render_description(settings: Settings, count: int) -> str:
    return f"<p>{html.escape(page_description(settings, count))}</p>"


# ---------------------------------------------------------------- feedback


_feedback_lock = threading.Lock()


def feedback_question(turn: dict, liked: bool | None) -> dict | None:
    """A liked exchange as an eval question (eval/questions.jsonl's fields): the lead becomes the expected
    answer and the quotes the evidence; a liked refusal is an unanswerable question. None for a dislike (the
    right answer is unknown) and for a follow-up (an eval question stands alone)."""
    if liked is not True or turn.get("follow_up") or not turn.get("question"):
        return None
    lead = re.sub(r"\s+", " ", _MARKER.sub("", turn.get("lead") or "")).strip()
    answered = bool(turn.get("answered")) and bool(lead)
    quotes = [c["quote"] for c in turn.get("citations", []) if (c.get("quote") or "").strip()]
    return {
        "id": f"feedback-{secrets.token_hex(6)}",
        "question": turn["question"],
        "answers": [[lead]] if answered else [],
        "evidence": quotes if answered else [],
        "answerable": answered,
        "type": "single" if answered else "unanswerable",
        "lang": language_of(turn["question"]),
    }


def record_feedback(path: Path, turn: dict, liked: bool | None) -> dict:
    """Append one JSON line: what was asked and answered, whether the reader liked it, and (when liked) the
    exchange as an eval question."""
    record = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "question": turn.get("question", ""),
        "answer": turn.get("answer", ""),
        "answered": bool(turn.get("answered", False)),
        "liked": liked,
        "lang": language_of(turn.get("question", "")),
        "follow_up": bool(turn.get("follow_up", False)),
        "citations": turn.get("citations", []),
        "eval": feedback_question(turn, liked),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _feedback_lock, open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


# ---------------------------------------------------------------- the page


def shown_question(question: str) -> str:
    """The question as the chat shows it: of a longer one the engine answers only its last
    MAX_QUESTION_CHARS characters."""
    question = question.strip()
    return question if len(question) <= MAX_QUESTION_CHARS else "… " + question[-MAX_QUESTION_CHARS:]


def _supported_suffixes() -> list[str]:
    return sorted(set(SUPPORTED_SUFFIXES))


def _empty_chat() -> dict:
    return {"messages": [], "turns": []}


def _turn(answer: Answer, question: str) -> dict:
    """What the browser keeps of one exchange: enough for follow-ups and for feedback, nothing rendered."""
    return {
        "question": answer.question or question,
        "answer": answer.text,
        "lead": lead_of(answer) if answer.answered else "",
        "answered": answer.answered,
        "follow_up": answer.follow_up,  # completed from the conversation, so no eval question of its own
        "citations": [
            {"n": c.n, "title": c.title, "source": getattr(c, "source", ""), "paragraph": c.paragraph,
             "paragraph_id": c.paragraph_id, "quote": c.quote}
            for c in answer.citations
        ],
    }


def build_page(engine: Engine, settings: Settings | None = None) -> gr.Blocks:
    """The chat page over one shared engine."""
    settings = settings or engine.settings
    max_k = max(1, settings.max_k)

    def documents() -> list:
        try:
            return engine.articles()
        except Exception:
            log.exception("reading the document list failed")
            return []

    def filters_for(document_ids: Sequence[str] | None) -> dict | None:
        return {"article_id": list(document_ids)} if document_ids else None

    def history_of(chat: dict, messages: list) -> list[dict]:
        # Only turns still on screen count: a chat emptied by any means starts with no history.
        turns = (chat or {}).get("turns", [])[: len(messages or []) // 2]
        history = []
        for turn in turns:
            history += [{"role": "user", "content": turn.get("question", "")},
                        {"role": "assistant", "content": turn.get("answer", "")}]
        return history

    def respond(question: str, messages: list[dict], chat: dict, document_ids: list[str], k: float):
        messages = list(messages or [])
        chat = chat or _empty_chat()
        if not (question or "").strip():
            gr.Warning(EMPTY_QUESTION)
            yield messages, chat, ""
            return
        language = language_of(question)
        history = history_of(chat, messages)
        turns = list(chat.get("turns", [])[: len(messages) // 2])
        messages.append({"role": "user", "content": render_question(shown_question(question))})
        messages.append({"role": "assistant", "content": render_partial("", language)})
        yield messages, gr.skip(), ""
        anchor = f"src-{secrets.token_hex(4)}"
        answer = None
        k = min(max(int(k or DEFAULT_K), 1), max_k)
        try:
            for answer in engine.ask_stream(question, k=k, filters=filters_for(document_ids), history=history):
                if not answer.citations and answer.answered:
                    messages[-1] = {"role": "assistant", "content": render_partial(answer.text, language)}
                    yield messages, gr.skip(), ""
        except ValueError as error:  # the engine's refusal of a question, worded for the user
            messages[-1] = {"role": "assistant", "content": render_error(str(error) or EMPTY_QUESTION)}
            answer = Answer(question, str(error), False)
        except KNOWN_FAULTS as error:  # a fault with a message of its own: one line in the log, no traceback
            log.warning("answering %r failed: %s", question[:200], error)
            messages[-1] = {"role": "assistant", "content": render_error(engine_error_message(error, language))}
            answer = Answer(question, WORDS[language]["error"], False)
        except Exception as error:
            log.exception("answering %r failed", question[:200])
            messages[-1] = {"role": "assistant", "content": render_error(engine_error_message(error, language))}
            answer = Answer(question, WORDS[language]["error"], False)
        else:
            if answer is None:
                answer = Answer(question, WORDS[language]["error"], False)
                messages[-1] = {"role": "assistant", "content": render_error(answer.text)}
            else:
                messages[-1] = {"role": "assistant", "content": render_answer(answer, anchor)}
        turns.append(_turn(answer, question))
        # The browser keeps the chat in its local storage (a few MB): the oldest exchanges make way.
        turns, messages = turns[-MAX_SAVED_TURNS:], messages[-2 * MAX_SAVED_TURNS:]
        yield messages, {"messages": messages, "turns": turns}, ""

    def chat_api(question: str) -> str:
        """Answer a question from the documents: the answer text with [n] markers, then its sources."""
        if not (question or "").strip():
            raise gr.Error(EMPTY_QUESTION)
        try:
            answer = engine.ask(question)
        except ValueError as error:
            raise gr.Error(str(error) or EMPTY_QUESTION) from error
        except KNOWN_FAULTS as error:
            log.warning("answering %r failed: %s", question[:200], error)
            raise gr.Error(engine_error_message(error, language_of(question))) from error
        except Exception as error:
            log.exception("answering %r failed", question[:200])
            raise gr.Error(engine_error_message(error, language_of(question))) from error
        return answer_as_text(answer)

    def on_like(chat: dict, messages: list, data: gr.LikeData) -> None:
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        turns = (chat or {}).get("turns", [])[: len(messages or []) // 2]
        if not isinstance(index, int) or not 0 <= index // 2 < len(turns):
            return
        liked = data.liked if isinstance(data.liked, bool) else None
        try:
            record_feedback(settings.feedback_file, turns[index // 2], liked)
        except OSError as error:
            log.warning("cannot write feedback to %s: %s", settings.feedback_file, error)
            gr.Warning("反馈未能保存。 · The feedback could not be saved.")
            return
        gr.Info(WORDS[language_of(turns[index // 2].get("question", ""))]["thanks"])

    def current_status(docs: Sequence) -> tuple[str, str]:
        """The status line and the description, both counting the documents of the index now loaded."""
        try:
            status = engine.status()
        except Exception:
            log.exception("reading the engine status failed")
            return html.escape("状态不可用 · Status unavailable"), render_description(settings, document_count(docs))
        return render_status(status), render_description(settings, status.get("documents", 0))

    def refreshed() -> tuple:
        docs = documents()
        return (
            *current_status(docs),
            gr.update(choices=document_choices(docs)),
            gr.update(choices=source_choices(docs), value=None),
        )

    def progress_reporter(progress: gr.Progress):
        def report(done: int, total: int, message: str) -> None:
            progress((done, max(total, 1)), desc=message)

        return report

    def build_summary(build) -> str:
        lines = [f"✓ 索引已更新 · Index up to date: {build.summary()}"] + [f"⚠ {w}" for w in build.warnings]
        return "<br>".join(html.escape(line) for line in lines)

    def reindex(progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008 (Gradio's way)
        try:
            # Incremental: unchanged files are skipped, and the old index serves until the new one is in place.
            message = build_summary(engine.build_index(progress=progress_reporter(progress), show_bar=False))
        except Exception as error:
            log.exception("re-indexing failed")
            message = html.escape(
                "⚠ 重建索引失败，仍在使用原来的索引。 · Re-indexing failed, the previous index is still in use: "
                f"{error}"
            )
        return (*refreshed(), message)

    def upload(files: list | None, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        """Add the files and index them, all or nothing: a bad file is named and nothing changes."""
        named = []
        for file in files or []:
            path = Path(file if isinstance(file, str) else file.name)
            named.append((path.name, path.read_bytes()))
        if not named:
            return (*refreshed(), "", None)
        try:
            report = add_documents(engine, named, progress=progress_reporter(progress))
        except UploadError as error:
            problems = error.problems or [error]
            lines = [f"✗ {problem}" for problem in problems]
            lines.append("没有文件被添加，索引未变。 · No file was added; the index is unchanged.")
            message = "<br>".join(html.escape(line) for line in lines)
        except Exception as error:
            log.exception("adding %s failed", [name for name, _ in named])
            message = html.escape(f"✗ 添加失败，索引未变 · Adding failed, the index is unchanged: {error}")
        else:
            added = [f"✓ {name}" for name in report.added + report.replaced]
            message = "<br>".join([*(html.escape(line) for line in added), build_summary(report.build)])
        return (*refreshed(), message, None)

    def delete(source: str | None, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        if not source:
            gr.Warning("请选择要删除的文档。 · Choose a document to delete.")
            return (*refreshed(), "")
        try:
            report = delete_document(engine, source, progress=progress_reporter(progress))
            message = html.escape(f"✓ 已删除 · Deleted {source}") + "<br>" + build_summary(report.build)
        except UploadError as error:
            message = html.escape(f"✗ {error}")
        except Exception as error:
            log.exception("deleting %s failed", source)
            message = html.escape(f"✗ {source}: {error}")
        return (*refreshed(), message)

    docs = documents()
    storage_secret = hashlib.sha256(f"qa-page:{settings.index_dir}".encode()).hexdigest()[:32]
    with gr.Blocks(title=page_title(settings), analytics_enabled=False) as page:
        gr.HTML(f"<h2 id='qa-title'>{html.escape(page_title(settings))}</h2>")
        status_now, description_now = current_status(docs)
        description = gr.HTML(description_now, elem_id="qa-description")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(
                    elem_id="qa-chat",
                    label="对话 · Conversation",
                    height="68vh",
                    min_height=380,
                    autoscroll=False,  # the page scrolls to the start of each new reply instead
                    latex_delimiters=[],
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy"],
                    allow_tags=False,
                    # The description above says what to ask: the empty chat does not say it again.
                    placeholder=html.escape(CHAT_PLACEHOLDER),
                )
                with gr.Row():
                    question_box = gr.Textbox(
                        elem_id="qa-question",
                        show_label=False,
                        placeholder="输入问题，按回车发送 · Type a question and press Enter",
                        scale=5,
                        min_width=160,
                        # A pasted text with the question at its end reaches the engine, which keeps its end.
                        max_length=settings.max_question_chars * 10,
                    )
                    # Narrow enough to stay beside the box on a phone rather than wrap below it.
                    send = gr.Button("发送 · Send", variant="primary", scale=1, min_width=80, elem_id="qa-send")
                examples = gr.Dataset(
                    label="示例问题 · Example questions",
                    components=[question_box],
                    samples=[[example] for example in read_examples(settings, docs)],
                    elem_id="qa-examples",
                )
                new_conversation = gr.Button("新对话 · New conversation", size="sm", elem_id="qa-new")
            with gr.Column(scale=1, min_width=260):
                with gr.Accordion("设置 · Settings", open=True):
                    document_filter = gr.Dropdown(
                        choices=document_choices(docs),
                        multiselect=True,
                        filterable=True,
                        label="只搜索这些文档（不选 = 全部） · Search only these documents (none = all)",
                        info="输入标题或文件名筛选 · Type to find a title or file",
                        elem_id="qa-filter",
                    )
                    k_slider = gr.Slider(1, max_k, value=min(DEFAULT_K, max_k), step=1,
                                         label="段落数 · Passages (k)", elem_id="qa-k")
                with gr.Accordion("文档 · Documents", open=False, elem_id="qa-documents"):
                    upload_box = gr.File(
                        label="上传文档 · Upload documents (" + " ".join(_supported_suffixes()) + ")",
                        file_count="multiple",
                        file_types=_supported_suffixes(),
                        elem_id="qa-upload",
                    )
                    with gr.Row():
                        delete_choice = gr.Dropdown(
                            choices=source_choices(docs), value=None, filterable=True, scale=3,
                            label="删除文档 · Delete a document", elem_id="qa-delete-choice",
                        )
                        delete_button = gr.Button("删除 · Delete", variant="stop", scale=1, elem_id="qa-delete")
                    reindex_button = gr.Button("重建索引 · Re-index", elem_id="qa-reindex")
                    documents_message = gr.HTML(elem_id="qa-documents-message")
        status = gr.HTML(status_now, elem_id="qa-status")
        saved_chat = gr.BrowserState(_empty_chat(), storage_key="qa-chat", secret=storage_secret)

        private = {"api_visibility": "private"}
        chat_inputs = [question_box, chatbot, saved_chat, document_filter, k_slider]
        chat_outputs = [chatbot, saved_chat, question_box]
        answering = {"concurrency_limit": CONCURRENCY_LIMIT, **private}
        question_box.submit(respond, chat_inputs, chat_outputs, **answering)
        send.click(respond, chat_inputs, chat_outputs, **answering)
        examples.click(lambda sample: sample[0], examples, question_box, **private).then(
            respond, chat_inputs, chat_outputs, **answering
        )
        # Forgetting happens in the browser at once: a reload right after still finds the history gone.
        forget = "() => [[], " + json.dumps(_empty_chat()) + ', ""]'
        new_conversation.click(None, None, chat_outputs, js=forget, **private)
        chatbot.clear(None, None, chat_outputs, js=forget, **private)
        chatbot.like(on_like, [saved_chat, chatbot], None, **private)
        index_outputs = [status, description, document_filter, delete_choice, documents_message]
        indexing = {"show_progress_on": documents_message, "concurrency_limit": 1, **private}
        reindex_button.click(reindex, None, index_outputs, **indexing)
        upload_box.upload(upload, upload_box, [*index_outputs, upload_box], **indexing)
        delete_button.click(delete, delete_choice, index_outputs, **indexing)
        page.load(lambda chat: (chat or _empty_chat()).get("messages", []), saved_chat, chatbot, **private)
        page.load(refreshed, None, [status, description, document_filter, delete_choice], **private)
        gr.api(chat_api, api_name="chat", concurrency_limit=CONCURRENCY_LIMIT)
    page.queue(default_concurrency_limit=CONCURRENCY_LIMIT)
    return page


# ---------------------------------------------------------------- command line


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the chat page and the HTTP API (/api, /v1, docs at /docs).")
    parser.add_argument("--host", help=f"address to bind (QA_HOST; {Settings.host}); any other than loopback "
                                       "needs an API key")
    parser.add_argument("--port", type=int, help=f"port (QA_PORT; {Settings.port})")
    parser.add_argument("--api-key", help="require this key: Authorization: Bearer <key> for the API, the "
                                          "password for the page (QA_API_KEY keeps it out of the process list)")
    parser.add_argument("--data", help="folder of documents (default: QA_DATA_DIR or data/)")
    parser.add_argument(
        "--llm-base-url", help="OpenAI-compatible endpoint; without it answers are extractive"
    )
    parser.add_argument("--llm-model", help="model name at that endpoint (QA_LLM_MODEL)")
    parser.add_argument("--llm-api-key", help="API key; QA_LLM_API_KEY keeps it out of the process list")
    parser.add_argument("--llm-timeout", type=float, help="seconds to wait for the model (QA_LLM_TIMEOUT)")
    return parser.parse_args(argv)


def create_server(engine: Engine, settings: Settings) -> FastAPI:
    """One ASGI app: the HTTP API, with the page mounted at "/" (behind the API key when there is one)."""
    app = create_api(engine, settings)
    auth = None
    if settings.api_key:
        key = settings.api_key.encode()

        def auth(_user: str, password: str) -> bool:
            return hmac.compare_digest((password or "").encode(), key)

    # Gradio's login guards its queue, upload, file and info routes; any user name, the key as password.
    return gr.mount_gradio_app(
        app,
        build_page(engine),
        path="/",
        auth=auth,
        auth_message="输入 API 密钥作为密码（用户名任意） · Enter the API key as the password (any user name).",
        max_file_size=settings.max_upload_bytes,
        server_name=settings.host,
        server_port=settings.port,
        footer_links=["api"],
        run_history=False,  # its page can connect a remote bucket: nothing a document service needs
        css=CSS,
        head=HEAD,
    )


def warm(engine: Engine) -> None:
    """Load what a question needs while the page loads, so that the first question does not wait for it;
    the English dictionary last, since only an English question needs it. A failure here is the first
    question's to report."""
    try:
        timings = engine.warm()
        log.info("ready to answer: %s", ", ".join(f"{part} {seconds:.2f} s" for part, seconds in timings.items()))
    except Exception as error:  # noqa: BLE001 - reported by the question that meets it
        log.warning("could not load the index or the models ahead of the first question: %s", error)
    bilingual.load_in_background()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    arguments = parse_arguments(argv)
    try:
        settings = Settings.from_env(
            host=arguments.host,
            port=arguments.port,
            api_key=arguments.api_key,
            data_dir=Path(arguments.data) if arguments.data else None,
            llm_base_url=arguments.llm_base_url,
            llm_model=arguments.llm_model,
            llm_api_key=arguments.llm_api_key,
            llm_timeout=arguments.llm_timeout,
        )
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not is_loopback(settings.host) and not settings.api_key:
        print(
            f"error: refusing to serve on {settings.host} without an API key: anyone who can reach it could ask, "
            "upload and delete documents. Set QA_API_KEY (or --api-key), or bind 127.0.0.1.",
            file=sys.stderr,
        )
        return 2
    engine = Engine(settings)
    try:
        engine.ensure_index()
    except (IndexUnavailable, BuildBusy, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    server = create_server(engine, settings)
    threading.Thread(target=warm, args=(engine,), name="warm", daemon=True).start()
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    log.info("serving the page on http://%s:%d/ , the API docs on /docs%s", shown_host, settings.port,
             " (API key required)" if settings.api_key else "")
    uvicorn.run(server, host=settings.host, port=settings.port, log_level="info", timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
