"""Answers written by a model behind an OpenAI-compatible API (Ollama, vLLM, llama.cpp, DeepSeek, DashScope,
OpenAI), each sentence checked against the paragraphs it cites."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from urllib.parse import urlparse

import httpx
import openai
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai_like import OpenAILike

from ..config import Settings
from ..corpus import article_names
from ..types import Answer, Citation, Passage
from . import citations
from .prompts import answer_messages, is_refusal, refusal_for, rewrite_messages

logger = logging.getLogger(__name__)

# Ollama, vLLM and llama.cpp need no key, but the OpenAI client will not start without one.
NO_API_KEY = "no-key"
TEMPERATURE = 0.1
MAX_ANSWER_TOKENS = 1024
MAX_REWRITE_TOKENS = 200

NOTICE_KEY_CLAIM_UNSUPPORTED = (
    "The model's main claim is not stated in the passages it cites, so it is shown without a source: "
    "check the passages below."
)
NOTICE_SOME_UNSUPPORTED = (
    "Some sentences of the answer are not in the passages they cite: they are marked unsupported."
)
NOTICE_NO_PASSAGE_CONTENT = "The model's reply used none of the retrieved passages, so it is not shown."

# What models put before a rewritten question although asked not to.
_REWRITE_LABEL = re.compile(
    r"^[*_#\s]*(?:standalone question|rewritten question|question|独立问题|改写后的问题|改写后|问题)"
    r"[*_\s]*[:：]\s*",
    re.IGNORECASE,
)
_SPECIAL_TOKEN = re.compile(r"<\|[^|>]{1,40}\|>|</?s>")
_WORD_CHARACTER = re.compile(r"[\w\u4e00-\u9fff]")


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
        self._llm: OpenAILike | None = None

    @property
    def model(self) -> str:
        """The configured model, or the first one the server lists when none was configured."""
        if not self._model:
            self._model = self._first_served_model()
        return self._model

    # --- the two requests ----------------------------------------------------------------------
    def rewrite_question(self, question: str, history: list[dict]) -> str:
        """The follow-up question made standalone for retrieval ("那回民区呢？" → "回民区…？")."""
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
        messages = _chat_messages(answer_messages(question, passages))
        try:
            for chunk in self._client().stream_chat(messages, max_tokens=MAX_ANSWER_TOKENS):
                if chunk.delta:
                    yield chunk.delta
        except Exception as error:
            raise self._failure(error) from error

    def preview(self, passages: list[Passage], partial_reply: str) -> str:
        """A reply still arriving, fit to show: thinking hidden, markers renumbered as they will be."""
        return citations.preview(partial_reply, _paragraph_keys(passages))

    def finish(self, question: str, passages: list[Passage], reply: str) -> Answer:
        """The Answer for a complete reply: markers renumbered, every sentence checked, citations built."""
        text = citations.clean_reply(reply or "")
        self._ensure_text(text)
        passages = list(passages)
        not_answered = Answer(question, refusal_for(question), False, passages=passages, mode=self.model)
        if not passages or is_refusal(text):
            return not_answered
        checked = citations.check_reply(
            text,
            [passage_context(p) for p in passages],
            _paragraph_keys(passages),
            entities=known_names(passages) | self.names,
            given=question,
        )
        if not checked.uses_passages:
            not_answered.notice = NOTICE_NO_PASSAGE_CONTENT
            return not_answered
        cited = [
            Citation.of(
                passages[number - 1],
                n,
                citations.supporting_sentences(checked.claims.get(n, []), passages[number - 1].text),
            )
            for n, number in enumerate(checked.sources, start=1)
        ]
        notice = ""
        if checked.key_claim_unsupported:
            notice = NOTICE_KEY_CLAIM_UNSUPPORTED
        elif checked.unsupported:
            notice = NOTICE_SOME_UNSUPPORTED
        return Answer(
            question,
            checked.text,
            True,
            citations=cited,
            passages=passages,
            mode=self.model,
            notice=notice,
            unsupported=checked.unsupported,
        )

    # --- talking to the server -----------------------------------------------------------------
    @property
    def _where(self) -> str:
        return f"LLM server at {self.base_url}"

    def _client(self) -> OpenAILike:
        if self._llm is None:
            self._llm = OpenAILike(
                model=self.model,
                api_base=self.base_url,
                api_key=self.settings.llm_api_key or NO_API_KEY,
                is_chat_model=True,
                is_function_calling_model=False,
                temperature=TEMPERATURE,
                timeout=self.settings.llm_timeout,
                max_retries=0,  # a retry would multiply the timeout the user set
            )
        return self._llm

    def _chat(self, messages: list[dict], max_tokens: int) -> str:
        try:
            response = self._client().chat(_chat_messages(messages), max_tokens=max_tokens)
            reply = response.message.content or ""
        except Exception as error:
            raise self._failure(error) from error
        self._ensure_text(citations.clean_reply(reply))
        return reply

    def _first_served_model(self) -> str:
        client = openai.OpenAI(
            base_url=self.base_url,
            api_key=self.settings.llm_api_key or NO_API_KEY,
            timeout=self.settings.llm_timeout,
            max_retries=0,
        )
        try:
            models = [model.id for model in client.models.list()]
        except Exception as error:
            raise self._failure(error) from error
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

    def _failure(self, error: Exception) -> LLMError:
        """The user's one-line explanation of why the model gave no answer."""
        if isinstance(error, LLMError):
            return error
        # debug, not warning: a warning would print its traceback under the CLI's answer
        logger.debug("LLM request to %s failed", self.base_url, exc_info=error)
        if isinstance(error, (openai.APITimeoutError, httpx.TimeoutException)):
            why = f"did not answer within {self.settings.llm_timeout:g} s"
        elif isinstance(error, (openai.APIConnectionError, httpx.TransportError)):
            why = f"could not be reached ({_root_cause(error)})"
        elif isinstance(error, openai.APIStatusError):
            why = f"replied with HTTP {error.status_code}: {_server_message(error)}"
        else:
            why = f"sent a reply that is not a chat completion ({type(error).__name__})"
        return LLMError(f"{self._where} {why}; showing the extractive answer")


def _chat_messages(messages: list[dict]) -> list[ChatMessage]:
    return [ChatMessage(role=message["role"], content=message["content"]) for message in messages]


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


def _server_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body
    else:
        message = body or error.response.text or error.message
    return " ".join(str(message).split())[:160]
