"""Answers written by a model behind an OpenAI-compatible API (Ollama, vLLM, llama.cpp, DeepSeek, DashScope,
OpenAI), each sentence checked against the paragraphs it cites."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Iterator, Sequence
from urllib.parse import urlparse

import httpx

from ..config import Settings
from ..corpus import article_names
from ..text import TERMINAL_PUNCTUATION, is_chinese
from ..types import Answer, Citation, Passage
from . import citations
from .prompts import answer_messages, is_refusal, refusal_for, rewrite_messages

logger = logging.getLogger(__name__)

# Ollama, vLLM and llama.cpp need no key; some proxies in front of them refuse a request without the header.
NO_API_KEY = "no-key"
TEMPERATURE = 0.1
MAX_ANSWER_TOKENS = 1024
MAX_REWRITE_TOKENS = 200
# Listing the models is a formality before the first answer: a server that cannot list them in this time is
# not going to answer either, and the question is not kept waiting for the whole answer deadline.
MODEL_LISTING_TIMEOUT = 5.0

NOTICE_KEY_CLAIM_UNSUPPORTED = (
    "The model's main claim is not stated in the passages it cites, so it is shown without a source: "
    "check the passages below."
)
NOTICE_SOME_UNSUPPORTED = (
    "Some sentences of the answer are not in the passages they cite: they are marked unsupported."
)
NOTICE_NO_PASSAGE_CONTENT = "The model's reply used none of the retrieved passages, so it is not shown."
# Between the checked part of a reply that broke off and the extractive answer after it.
BROKEN_OFF_ZH = "（模型的回答在此中断；以下是从文档中摘取的回答。）"
BROKEN_OFF_EN = "(The model's reply broke off here; what follows is the answer taken from the documents.)"

# What models put before a rewritten question although asked not to.
_REWRITE_LABEL = re.compile(
    r"^[*_#\s]*(?:standalone question|rewritten question|question|独立问题|改写后的问题|改写后|问题)"
    r"[*_\s]*[:：]\s*",
    re.IGNORECASE,
)
_SPECIAL_TOKEN = re.compile(r"<\|[^|>]{1,40}\|>|</?s>")
_WORD_CHARACTER = re.compile(r"[\w\u4e00-\u9fff]")
_SENTENCE_END_CHARACTER = re.compile(rf"[{re.escape(TERMINAL_PUNCTUATION)}.\n]")


class LLMError(Exception):
    """The model gave no usable reply: server down, too slow, an HTTP error, or a reply that is no answer.

    The message is short and meant for the user: it becomes the notice of the extractive answer shown
    instead.
    """


def api_base(url: str) -> str:
    """The API root from what a user may paste: a bare host gets /v1, a full endpoint loses its path."""
    url = url.strip().rstrip("/")
    for endpoint in ("/chat/completions", "/completions", "/models"):
        url = url.removesuffix(endpoint)
    if urlparse(url).path in ("", "/"):
        url += "/v1"
    return url


def passage_context(passage: Passage) -> str:
    """What a citation of the passage vouches for: the paragraph, and the article's title, district
    (with its other names), interviewee and file name, which a sentence may name although the
    paragraph itself does not."""
    names = [passage.title, *article_names(passage.district, passage.interviewee), passage.source]
    return "\n".join([*(name for name in names if name), passage.text])


def known_names(passages: Sequence[Passage]) -> set[str]:
    """Districts and interviewees of the passages: a sentence naming one must cite a passage that does."""
    return {name for p in passages for name in article_names(p.district, p.interviewee) if len(name) > 1}


class LLMAnswerer:
    """One configured model: rewrites follow-up questions and writes answers, which it then checks."""

    def __init__(self, settings: Settings, names: set[str] | None = None):
        """`names`: every district and interviewee of the index, so a sentence naming one that none of
        its cited paragraphs is about is caught even when no retrieved passage mentions it."""
        self.settings = settings
        self.names = {name for name in names or () if len(name) > 1}
        self.base_url = api_base(settings.llm_base_url)
        self._model = settings.llm_model

    @property
    def known_model(self) -> str:
        """The model's name without asking the server: configured, or listed earlier; else empty."""
        return self._model

    @property
    def model(self) -> str:
        """The configured model, or the first one the server lists when none was configured."""
        if not self._model:
            self._model = self._first_served_model()
        return self._model

    # --- the two requests ----------------------------------------------------------------------
    def rewrite_question(self, question: str, history: list[dict]) -> str:
        """The follow-up question made standalone for retrieval ("那乙公司呢？" → "乙公司…？")."""
        if not history:
            return question
        reply = citations.clean_reply(self._chat(rewrite_messages(question, history), MAX_REWRITE_TOKENS))
        line = next((line.strip() for line in reply.splitlines() if line.strip()), "")
        line = _REWRITE_LABEL.sub("", line).strip().strip("*\"'“”「」").strip()
        if not line or len(line) > len(question) + 200:
            raise LLMError(
                f"{self._where} did not rewrite the follow-up question; showing the extractive answer"
            )
        return line

    def answer(self, question: str, passages: list[Passage]) -> Answer:
        """The model's answer from the passages, checked; a refusal without asking when there are none."""
        if not passages:
            return self.finish(question, passages, refusal_for(question))
        return self.finish(
            question, passages, self._chat(answer_messages(question, passages), MAX_ANSWER_TOKENS)
        )

    def stream(self, question: str, passages: list[Passage]) -> Iterator[str]:
        """The reply's text as it arrives; join the pieces and pass them to finish() for the Answer."""
        if not passages:
            yield refusal_for(question)
            return
        yield from self._streamed_pieces(answer_messages(question, passages))

    def preview(self, passages: list[Passage], partial_reply: str) -> str:
        """A reply still arriving, as it stands (unchecked): thinking hidden, markers renumbered."""
        return citations.preview(partial_reply, _paragraph_keys(passages))

    def checked(self, question: str, passages: list[Passage]) -> CheckedStream:
        """A reply to check as it arrives: add() its pieces, show `text`, close() for the Answer."""
        return CheckedStream(self, question, list(passages))

    def finish(self, question: str, passages: list[Passage], reply: str) -> Answer:
        """The Answer for a complete reply: markers renumbered, every sentence checked, citations built."""
        stream = self.checked(question, passages)
        stream.add(reply or "")
        return stream.close()

    # --- talking to the server -----------------------------------------------------------------
    @property
    def _where(self) -> str:
        # Its address stays in the server's log (the debug record of each failure, the fallback's line):
        # a notice goes to any client of the API.
        return "The LLM server"

    def _chat(self, messages: list[dict], max_tokens: int) -> str:
        reply = _completion_text(self._json_reply(self._request("POST", "/chat/completions", messages, max_tokens)))
        if reply is None:
            raise self._failure(ValueError("no choices[0].message.content"))
        if len(reply) > self.settings.llm_max_reply_chars:
            raise self._too_long()
        self._ensure_text(citations.clean_reply(reply))
        return reply

    def _request(self, method: str, path: str, messages: list[dict] | None = None, max_tokens: int = 0,
                 stream: bool = False, timeout: float | None = None) -> Iterator[tuple[str, object]]:
        """The server's response as ("head", (status, content type)) then ("data", bytes) pieces, within
        the deadline.

        httpx's timeouts bound each read, not the whole reply: a server trickling a chunk every second never
        trips them. So a worker thread reads, and this generator waits on it no longer than the time left;
        the worker stops at its next piece (or its own read timeout) once nobody wants the rest.
        """
        timeout = self.settings.llm_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        body = None
        if messages is not None:
            body = {"model": self.model, "messages": messages, "temperature": TEMPERATURE, "max_tokens": max_tokens}
            if stream:
                body["stream"] = True
        pieces: queue.Queue = queue.Queue(maxsize=8)  # bounded: a fast huge reply waits for its reader
        unwanted = threading.Event()

        def hand_over(item: tuple[str, object]) -> bool:
            while not unwanted.is_set():
                try:
                    pieces.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            headers = {"Authorization": f"Bearer {self.settings.llm_api_key or NO_API_KEY}"}
            try:
                with (
                    httpx.Client(timeout=timeout) as client,
                    client.stream(method, self.base_url + path, json=body, headers=headers) as response,
                ):
                    head = (response.status_code, response.headers.get("content-type", ""))
                    if not hand_over(("head", head)):
                        return
                    for data in response.iter_bytes():
                        if not hand_over(("data", data)):
                            return
                hand_over(("end", None))
            except Exception as error:  # the reader decides what it means; this thread only carries it
                hand_over(("error", error))

        threading.Thread(target=read, name="llm-reply", daemon=True).start()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._too_slow(timeout)
                try:
                    kind, value = pieces.get(timeout=remaining)
                except queue.Empty:
                    raise self._too_slow(timeout) from None
                if kind == "end":
                    return
                if kind == "error":
                    raise self._failure(value)
                yield kind, value
        finally:
            unwanted.set()

    def _json_reply(self, response: Iterator[tuple[str, object]]) -> object:
        """A whole JSON reply, read up to the size a reply of the longest allowed answer could have."""
        status, body = 0, bytearray()
        limit = _byte_limit(self.settings.llm_max_reply_chars)
        for kind, value in response:
            if kind == "head":
                status, _ = value
                continue
            body += value
            if len(body) > limit:
                raise self._too_long()
        if status >= 400:
            raise LLMError(f"{self._where} replied with HTTP {status}: {_error_message(bytes(body))}; "
                           "showing the extractive answer")
        try:
            return json.loads(bytes(body))
        except ValueError as error:
            raise self._failure(error) from None

    def _streamed_pieces(self, messages: list[dict]) -> Iterator[str]:
        """The text of a streamed reply (server-sent events), piece by piece, at most the reply cap."""
        response = self._request("POST", "/chat/completions", messages, MAX_ANSWER_TOKENS, stream=True)
        kind, (status, content_type) = next(response)
        if status >= 400 or "json" in content_type:
            # an error, or a server that ignored "stream" and sent the whole completion
            whole = self._json_reply(itertools.chain([(kind, (status, content_type))], response))
            text = _completion_text(whole)
            if text is None:
                raise self._failure(ValueError("no choices[0].message.content"))
            yield text
            return
        limit = _byte_limit(self.settings.llm_max_reply_chars)
        received = 0
        pending = b""
        for _, data in response:
            pending += data
            *lines, pending = pending.split(b"\n")
            if len(pending) > limit:
                raise self._too_long()
            for line in lines:
                event = line.strip()
                if not event.startswith(b"data:"):
                    continue  # comments, event names, keep-alives
                event = event[5:].strip()
                if event == b"[DONE]":
                    return
                try:
                    delta = _delta_text(json.loads(event))
                except ValueError as error:
                    raise self._failure(error) from None
                if delta:
                    received += len(delta)
                    if received > self.settings.llm_max_reply_chars:
                        raise self._too_long()
                    yield delta

    def _first_served_model(self) -> str:
        timeout = min(self.settings.llm_timeout, MODEL_LISTING_TIMEOUT)
        listing = self._json_reply(self._request("GET", "/models", timeout=timeout))
        data = listing.get("data") if isinstance(listing, dict) else None
        models = [m["id"] for m in data or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]
        if not models:
            raise LLMError(
                f"{self._where} serves no model and none was given (--llm-model); "
                "showing the extractive answer"
            )
        return models[0]

    def _ensure_text(self, reply: str) -> None:
        """A reply must be words: not empty, not stop tokens or binary noise."""
        visible = "".join(_SPECIAL_TOKEN.sub("", reply).split())
        if not visible:
            raise LLMError(f"{self._where} sent an empty reply; showing the extractive answer")
        if len(_WORD_CHARACTER.findall(visible)) < 0.4 * len(visible):
            raise LLMError(f"{self._where} sent a reply that is not text; showing the extractive answer")

    def _too_slow(self, timeout: float | None = None) -> LLMError:
        timeout = self.settings.llm_timeout if timeout is None else timeout
        return LLMError(
            f"{self._where} did not answer within {timeout:g} s (QA_LLM_TIMEOUT); showing the extractive answer"
        )

    def _too_long(self) -> LLMError:
        return LLMError(
            f"{self._where} sent a reply longer than {self.settings.llm_max_reply_chars} characters "
            "(QA_LLM_MAX_REPLY_CHARS), so it was cut off; showing the extractive answer"
        )

    def _failure(self, error: Exception) -> LLMError:
        """The user's one-line explanation of why the model gave no answer."""
        if isinstance(error, LLMError):
            return error
        # debug, not warning: a warning would print its traceback under the CLI's answer
        logger.debug("LLM request to %s failed", self.base_url, exc_info=error)
        if isinstance(error, httpx.TimeoutException) and not isinstance(error, httpx.ConnectTimeout):
            return self._too_slow()
        if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)):
            why = f"could not be reached ({_root_cause(error)})"
        elif isinstance(error, httpx.TransportError):
            why = f"broke off its reply ({_root_cause(error)})"
        else:
            why = f"sent a reply that is not a chat completion ({type(error).__name__})"
        return LLMError(f"{self._where} {why}; showing the extractive answer")


class CheckedStream:
    """A model's reply let out one whole, checked sentence at a time.

    A sentence is shown once the next has begun (its markers have arrived) and the check has run: an
    unsupported one loses its markers before anyone sees it, so a stream never shows as cited what the
    final answer does not. `text` only grows, and the Answer of close() begins with it.
    """

    def __init__(self, answerer: LLMAnswerer, question: str, passages: list[Passage]):
        self.answerer = answerer
        self.question = question
        self.passages = passages
        self.reply = ""  # as received
        self._released = ""  # the visible reply that was checked, as received
        self._end_waiting = False
        self._check = self._new_check()

    def _new_check(self) -> citations.ReplyCheck:
        return citations.ReplyCheck([passage_context(p) for p in self.passages], _paragraph_keys(self.passages),
                                    entities=known_names(self.passages) | self.answerer.names)

    @property
    def text(self) -> str:
        """What may be shown so far: the checked sentences."""
        return self._check.text

    def add(self, piece: str) -> bool:
        """Take the next piece of the reply; True when more checked text can be shown."""
        self.reply += piece
        # Only a sentence end can make a sentence whole: without one since the last release, a reply of
        # one endless sentence costs no rescan per piece.
        self._end_waiting = self._end_waiting or bool(_SENTENCE_END_CHARACTER.search(piece))
        if not self._end_waiting:
            return False
        visible = citations.visible_reply(self.reply)
        if not visible.startswith(self._released):
            return False  # a closing </think> after text: the answer is what follows it, known at close()
        done = len(self._released)
        end = done + citations.checkable_end(visible[done:])
        if end == done:
            return False
        self._check.add(visible[done:end])
        self._released = visible[:end]
        self._end_waiting = bool(_SENTENCE_END_CHARACTER.search(visible, end))
        return True

    def close(self) -> Answer:
        """The Answer for the whole reply, its text beginning with what was shown."""
        whole = citations.clean_reply(self.reply)
        self.answerer._ensure_text(whole)
        passages = self.passages
        not_answered = Answer(self.question, refusal_for(self.question), False, passages=passages,
                              mode=self.answerer.model)
        if not passages or is_refusal(whole):
            return not_answered
        visible = citations.visible_reply(self.reply)
        if visible.startswith(self._released):
            rest = visible[len(self._released):]
            tail = citations.without_source_list(rest.strip()) or ("" if self._check.text else whole)
            if tail:
                self._check.add(rest[: len(rest) - len(rest.lstrip())] + tail)
        else:
            self._check = self._new_check()
            self._check.add(whole)
        checked = self._check.result()
        if not checked.uses_passages:
            not_answered.notice = NOTICE_NO_PASSAGE_CONTENT
            return not_answered
        return Answer(self.question, checked.text, True, citations=self._citations(checked), passages=passages,
                      mode=self.answerer.model, notice=_check_notice(checked), unsupported=checked.unsupported)

    def broken_off(self, fallback: Answer, why: str) -> Answer:
        """When the reply broke off after `text` was shown: that text, then the fallback answer set apart,
        its markers numbered after the model's (a paragraph both cite keeps the model's number)."""
        checked = self._check.result()
        cited = self._citations(checked)
        number_of = {c.paragraph_id: c.n for c in cited}
        fallback_cited = {c.n: c for c in fallback.citations}
        added: list[Citation] = []

        def renumbered(marker: re.Match) -> str:
            citation = fallback_cited.get(int(marker.group(1)))
            if citation is None:
                return marker.group()
            if citation.paragraph_id not in number_of:
                number_of[citation.paragraph_id] = len(cited) + len(added) + 1
                added.append(dataclasses.replace(citation, n=number_of[citation.paragraph_id]))
            return f"[{number_of[citation.paragraph_id]}]"

        rest = re.sub(r"\[(\d+)\]", renumbered, fallback.text)
        where = BROKEN_OFF_ZH if is_chinese(self.question) else BROKEN_OFF_EN
        notice = " ".join(part for part in (why, _check_notice(checked), fallback.notice) if part)
        return Answer(self.question, f"{checked.text}\n\n{where}\n\n{rest}", bool(cited) or fallback.answered,
                      citations=cited + added, passages=fallback.passages, mode=fallback.mode, notice=notice,
                      unsupported=checked.unsupported + list(fallback.unsupported))

    def _citations(self, checked: citations.CheckedReply) -> list[Citation]:
        return [
            Citation.of(
                self.passages[number - 1],
                n,
                citations.supporting_sentences(checked.claims.get(n, []), self.passages[number - 1].text),
            )
            for n, number in enumerate(checked.sources, start=1)
        ]


def _check_notice(checked: citations.CheckedReply) -> str:
    if checked.key_claim_unsupported:
        return NOTICE_KEY_CLAIM_UNSUPPORTED
    return NOTICE_SOME_UNSUPPORTED if checked.unsupported else ""


def _byte_limit(max_reply_chars: int) -> int:
    """Bytes a reply of `max_reply_chars` characters may take on the wire: JSON may escape a character as
    \\uXXXX (6 bytes), and the envelope around the text is small."""
    return max_reply_chars * 6 + 64 * 1024


def _completion_text(completion: object) -> str | None:
    try:
        content = completion["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else "" if content is None else None


def _delta_text(event: object) -> str:
    """The text of one streamed chunk; an error event (some servers send one mid-stream) is raised."""
    if isinstance(event, dict) and event.get("error"):
        raise ValueError(f"error event: {_error_message(json.dumps(event).encode())}")
    try:
        choices = event["choices"]
    except (KeyError, TypeError):
        raise ValueError("a chunk without choices") from None
    if not choices:
        return ""  # the closing chunk of servers that report usage
    content = (choices[0].get("delta") or {}).get("content") if isinstance(choices[0], dict) else None
    return content if isinstance(content, str) else ""


def _error_message(body: bytes) -> str:
    """What an error reply says: OpenAI's {"error": {"message"}}, Ollama's {"error": "..."}, or the text."""
    text = body[:4096].decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    message = text
    if isinstance(parsed, dict):
        error = parsed.get("error", parsed)
        message = error.get("message") or error if isinstance(error, dict) else error
        if isinstance(message, dict):
            message = parsed.get("message") or message
    return " ".join(str(message).split())[:160] or "no message"


def _paragraph_keys(passages: Sequence[Passage]) -> list[str]:
    """What each passage shows: two passages of one paragraph are one source."""
    return [passage.paragraph_id or f"passage {i}" for i, passage in enumerate(passages)]


def _root_cause(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    text = str(error).strip() or type(error).__name__
    if "refused" in text.lower():
        return "connection refused"
    return text[:120]
