"""The Gradio chat page: ask the interviews, read the answer with its cited source paragraphs."""

from __future__ import annotations

import argparse
import hmac
import html
import logging
import os
import re
import secrets
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import gradio as gr
import uvicorn
from fastapi import FastAPI

from qa.api import create_api, is_loopback
from qa.config import MAX_QUESTION_CHARS, Settings, SettingsError
from qa.engine import Engine, IndexUnavailable
from qa.text import split_sentences
from qa.types import Answer, Article, Citation, Passage

log = logging.getLogger("qa.app")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
# Answering is mostly CPU work (embedding the question, ranking, an LLM call that waits on the network):
# eight at once keeps every user moving without letting a burst of requests starve the machine.
CONCURRENCY_LIMIT = 8

EXAMPLES = [
    "新城区今年计划实施多少个重点项目？",
    "回民区呢？",
    "玉泉区要建设多少亩高标准农田？",
    "和林格尔新区计划电子信息产业市场主体达到多少家？",
    "How many old residential compounds will Xincheng district renovate?",
]

NOT_IN_DOCUMENTS = "文档中没有这个问题的答案。 · The documents do not contain the answer."
EMPTY_QUESTION = "请输入问题。 · Please type a question."
SEARCHING = "正在查找 · Searching the documents"
ENGINE_ERROR = "回答时出错，请重试。 · Something went wrong while answering; please try again."

_MARKER = re.compile(r"\[(\d+)\]")

# Markers link to sources inside the chat; Gradio opens chat links in a new tab, so scroll in place instead.
HEAD = """
<script>
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
</script>
"""

CSS = """
.qa-answer { line-height: 1.7; }
.qa-answer a.qa-marker { font-weight: 600; text-decoration: none; color: #2563eb; }
.qa-refusal, .qa-notice, .qa-unsupported, .qa-error { border-radius: 6px; padding: 6px 10px; margin: 6px 0; }
.qa-refusal { background: #fff4e5; border-left: 4px solid #f59e0b; font-weight: 600; }
.qa-notice { background: #eef6ff; border-left: 4px solid #3b82f6; }
.qa-unsupported { background: #fdecec; border-left: 4px solid #dc2626; }
.qa-error { background: #fdecec; border-left: 4px solid #dc2626; font-weight: 600; }
.qa-flagged { text-decoration: underline wavy #dc2626; }
.qa-sources-title { font-weight: 600; margin: 10px 0 4px; }
.qa-source { border: 1px solid #e5e7eb; border-radius: 6px; padding: 6px 10px; margin: 6px 0;
  font-size: 0.92em; }
.qa-source-head { color: #4b5563; margin-bottom: 4px; }
.qa-source mark { background: #fde68a; padding: 0 1px; }
.qa-flash { animation: qa-flash 1.5s ease-out; }
@keyframes qa-flash { from { background: #fde68a; } to { background: transparent; } }
#qa-status { font-size: 0.9em; color: #4b5563; }
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


def _link_markers(escaped: str, anchor: str, numbers: set[int]) -> str:
    def link(match: re.Match) -> str:
        n = int(match.group(1))
        if n not in numbers:
            return match.group(0)
        return f'<a class="qa-marker" href="#{anchor}-{n}" title="来源 · source {n}">[{n}]</a>'

    return _MARKER.sub(link, escaped)


def _paragraph_label(paragraph: int) -> str:
    return "标题 · header" if paragraph == 0 else f"第{paragraph}段"


def _source_head(title: str, interviewee: str, district: str, paragraph: int) -> str:
    who = " · ".join(html.escape(part) for part in (interviewee, district) if part)
    parts = [f"<b>{html.escape(title)}</b>", who, _paragraph_label(paragraph)]
    return " · ".join(part for part in parts if part)


def render_citation(citation: Citation, anchor: str) -> str:
    quote_pieces = [citation.quote] if citation.quote else []
    return (
        f'<div class="qa-source" id="{anchor}-{citation.n}">'
        f'<div class="qa-source-head">[{citation.n}] '
        f"{_source_head(citation.title, citation.interviewee, citation.district, citation.paragraph)}</div>"
        f'<div class="qa-paragraph">{_wrap(citation.text, quote_pieces, "<mark>", "</mark>")}</div>'
        "</div>"
    )


def render_passage(passage: Passage) -> str:
    return (
        '<div class="qa-source qa-passage">'
        f'<div class="qa-source-head">'
        f"{_source_head(passage.title, passage.interviewee, passage.district, passage.paragraph)}</div>"
        f'<div class="qa-paragraph">{_escape(passage.text)}</div>'
        "</div>"
    )


def render_question(question: str) -> str:
    # One line of HTML is one raw HTML block to the chat's Markdown: nothing in it is read as Markdown.
    return f'<div class="qa-question">{_escape(question)}</div>'


def render_partial(text: str) -> str:
    shown = _escape(text) if text else SEARCHING
    return f'<div class="qa-reply qa-pending"><div class="qa-answer">{shown} …</div></div>'


def engine_error_message(error: Exception) -> str:
    """What the user reads when answering fails: enough to tell a dead LLM server from a bug."""
    detail = (str(error).strip().splitlines() or [""])[0][:300]
    return f"{ENGINE_ERROR} ({type(error).__name__}{': ' + detail if detail else ''})"


def render_error(message: str) -> str:
    return f'<div class="qa-reply"><div class="qa-error">⚠ {_escape(message)}</div></div>'


def render_answer(answer: Answer, anchor: str) -> str:
    """The whole reply: notice, answer with linked markers, flagged sentences, then sources or passages."""
    parts = []
    if answer.notice:
        parts.append(f'<div class="qa-notice">ⓘ {_escape(answer.notice)}</div>')
    if not answer.answered:
        parts.append(f'<div class="qa-refusal">{html.escape(NOT_IN_DOCUMENTS)}</div>')
    body = _wrap(answer.text, answer.unsupported, '<span class="qa-flagged">', "</span>")
    body = _link_markers(body, anchor, {citation.n for citation in answer.citations})
    parts.append(f'<div class="qa-answer">{body}</div>')
    if answer.unsupported:
        items = "".join(f"<li>{_escape(sentence)}</li>" for sentence in answer.unsupported)
        parts.append(
            '<div class="qa-unsupported">⚠ 以下句子没有被引用的段落支持 · '
            f"Not supported by the cited paragraphs:<ul>{items}</ul></div>"
        )
    if answer.answered and answer.citations:
        parts.append('<div class="qa-sources-title">来源 · Sources</div>')
        parts += [render_citation(citation, anchor) for citation in answer.citations]
    elif answer.passages:
        parts.append('<div class="qa-sources-title">最接近的段落 · Closest passages (not sources)</div>')
        parts += [render_passage(passage) for passage in answer.passages]
    return f'<div class="qa-reply">{"".join(parts)}</div>'


def answer_as_text(answer: Answer) -> str:
    """Plain text for the API: the answer, then each source as "[n] title · interviewee · 第p段" and its text."""
    lines = [answer.text]
    if answer.notice:
        lines += ["", f"({answer.notice})"]
    if answer.unsupported:
        lines += ["", "Not supported by the cited paragraphs:"] + [f"- {s}" for s in answer.unsupported]
    if answer.answered and answer.citations:
        lines.append("")
        for citation in answer.citations:
            head = [citation.title, citation.interviewee, _paragraph_label(citation.paragraph)]
            lines.append(f"[{citation.n}] " + " · ".join(part for part in head if part))
            lines.append(" " + citation.text.replace("\n", "\n "))
    elif answer.passages:
        lines += ["", "Closest passages (not sources):"]
        for passage in answer.passages:
            head = [passage.title, passage.interviewee, _paragraph_label(passage.paragraph)]
            lines.append("- " + " · ".join(part for part in head if part))
            lines.append(" " + passage.text.replace("\n", "\n "))
    return "\n".join(lines)


def render_status(status: dict) -> str:
    size = status.get("index_bytes") or 0
    return html.escape(
        f"回答方式 · Answerer: {status.get('mode', '?')}  ·  "
        f"语料 · Corpus: {status.get('articles', 0)} articles, {status.get('paragraphs', 0)} paragraphs  ·  "
        f"索引 · Index: {status.get('chunks', 0)} chunks, {size / 1_000_000:.1f} MB "
        f"({status.get('embed_model', '?')})"
    )


def article_choices(articles: Sequence[Article]) -> list[tuple[str, str]]:
    def label(article: Article) -> str:
        return " · ".join(part for part in (article.district, article.interviewee) if part) or article.title

    return [(label(article), article.id) for article in articles]


# ---------------------------------------------------------------- the page


def shown_question(question: str) -> str:
    """The question as the chat shows it: the engine answers only its first MAX_QUESTION_CHARS characters."""
    question = question.strip()
    return question if len(question) <= MAX_QUESTION_CHARS else question[:MAX_QUESTION_CHARS] + " …"


def build_page(engine: Engine) -> gr.Blocks:
    """The chat page over one shared engine."""

    def filters_for(article_ids: Sequence[str] | None) -> dict | None:
        return {"article_id": list(article_ids)} if article_ids else None

    def respond(
        question: str, messages: list[dict], conversation: list[dict], article_ids: list[str]
    ) -> Iterator[tuple[list[dict], list[dict], str]]:
        messages = list(messages or [])
        if not (question or "").strip():
            gr.Warning(EMPTY_QUESTION)
            yield messages, conversation, ""
            return
        messages.append({"role": "user", "content": render_question(shown_question(question))})
        messages.append({"role": "assistant", "content": render_partial("")})
        yield messages, conversation, ""
        anchor = f"src-{secrets.token_hex(4)}"
        answer = None
        try:
            for answer in engine.ask_stream(
                question, filters=filters_for(article_ids), history=list(conversation or [])
            ):
                messages[-1] = {"role": "assistant", "content": render_partial(answer.text)}
                yield messages, conversation, ""
        except ValueError as error:  # the engine's refusal of a question, worded for the user
            messages[-1] = {"role": "assistant", "content": render_error(str(error) or EMPTY_QUESTION)}
            yield messages, conversation, ""
            return
        except Exception as error:
            log.exception("answering %r failed", question[:200])
            messages[-1] = {"role": "assistant", "content": render_error(engine_error_message(error))}
            yield messages, conversation, ""
            return
        if answer is None:
            messages[-1] = {"role": "assistant", "content": render_error(ENGINE_ERROR)}
            yield messages, conversation, ""
            return
        messages[-1] = {"role": "assistant", "content": render_answer(answer, anchor)}
        conversation = list(conversation or []) + [
            {"role": "user", "content": answer.question or question},
            {"role": "assistant", "content": answer.text},
        ]
        yield messages, conversation, ""

    def chat(question: str) -> str:
        """Answer a question from the documents: the answer text with [n] markers, then its sources."""
        if not (question or "").strip():
            raise gr.Error(EMPTY_QUESTION)
        try:
            answer = engine.ask(question)
        except ValueError as error:
            raise gr.Error(str(error) or EMPTY_QUESTION) from error
        except Exception as error:
            log.exception("answering %r failed", question[:200])
            raise gr.Error(engine_error_message(error)) from error
        return answer_as_text(answer)

    def current_status() -> str:
        try:
            return render_status(engine.status())
        except Exception:
            log.exception("reading the engine status failed")
            return html.escape("状态不可用 · Status unavailable")

    def reindex(progress: gr.Progress = gr.Progress()) -> tuple[str, dict, str]:  # noqa: B008 (Gradio's way)
        def report(done: int, total: int, message: str) -> None:
            progress((done, max(total, 1)), desc=message)

        try:
            # Incremental: unchanged files are skipped, and the old index serves until the new one is in place.
            build = engine.build_index(rebuild=False, progress=report, show_bar=False)
        except Exception as error:
            log.exception("re-indexing failed")
            message = (
                f"⚠ 重建索引失败，仍在使用原来的索引。 · Re-indexing failed, the previous index is still in use: "
                f"{error}"
            )
            return current_status(), gr.update(), html.escape(message)
        lines = [f"✓ 索引已更新 · Index up to date: {build.summary()}"] + [f"⚠ {w}" for w in build.warnings]
        message = "<br>".join(html.escape(line) for line in lines)
        return current_status(), gr.update(choices=article_choices(engine.articles())), message

    with gr.Blocks(title="采访问答 · Interview QA", analytics_enabled=False) as page:
        gr.Markdown(
            "## 采访问答 · Interview QA\n用中文或英文提问，答案引用原文段落。"
            " · Ask in Chinese or English; answers cite the source paragraphs."
        )
        status = gr.HTML(current_status(), elem_id="qa-status")
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    elem_id="qa-chat",
                    label="对话 · Conversation",
                    height="70vh",
                    min_height=420,
                    latex_delimiters=[],
                    feedback_options=None,
                    buttons=[],
                    allow_tags=False,
                    placeholder="问一个关于六篇区领导访谈的问题。 · Ask about the six district interviews.",
                )
                with gr.Row():
                    question_box = gr.Textbox(
                        elem_id="qa-question",
                        show_label=False,
                        placeholder="输入问题，按回车发送 · Type a question and press Enter",
                        scale=5,
                        autofocus=True,
                    )
                    send = gr.Button("发送 · Send", variant="primary", scale=1, elem_id="qa-send")
                examples = gr.Dataset(
                    label="示例问题 · Example questions",
                    components=[question_box],
                    samples=[[example] for example in EXAMPLES],
                    elem_id="qa-examples",
                )
                new_conversation = gr.Button("新对话 · New conversation", size="sm")
            with gr.Column(scale=1):
                article_filter = gr.CheckboxGroup(
                    article_choices(engine.articles()),
                    label="只搜索这些文章（不选 = 全部） · Search only these articles (none = all)",
                    elem_id="qa-filter",
                )
                reindex_button = gr.Button("重建索引 · Re-index", elem_id="qa-reindex")
                reindex_message = gr.HTML(elem_id="qa-reindex-message")
        conversation = gr.State([])

        chat_inputs = [question_box, chatbot, conversation, article_filter]
        chat_outputs = [chatbot, conversation, question_box]
        settings = {"concurrency_limit": CONCURRENCY_LIMIT, "api_visibility": "private"}
        question_box.submit(respond, chat_inputs, chat_outputs, **settings)
        send.click(respond, chat_inputs, chat_outputs, **settings)
        examples.click(lambda sample: sample[0], examples, question_box, api_visibility="private").then(
            respond, chat_inputs, chat_outputs, **settings
        )
        new_conversation.click(lambda: ([], [], ""), None, chat_outputs, api_visibility="private")
        reindex_button.click(
            reindex,
            None,
            [status, article_filter, reindex_message],
            show_progress_on=reindex_message,
            concurrency_limit=1,
            api_visibility="private",
        )
        page.load(current_status, None, status, api_visibility="private")
        gr.api(chat, api_name="chat", concurrency_limit=CONCURRENCY_LIMIT)
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
    except (IndexUnavailable, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    server = create_server(engine, settings)
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    log.info("serving the page on http://%s:%d/ , the API docs on /docs%s", shown_host, settings.port,
             " (API key required)" if settings.api_key else "")
    uvicorn.run(server, host=settings.host, port=settings.port, log_level="info", timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
