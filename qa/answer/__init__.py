"""One Answerer interface for the extractive and the LLM answerers, and the factory that picks one from settings."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Protocol

from ..question import Question
from ..types import Answer, Passage

logger = logging.getLogger(__name__)


class Answerer(Protocol):
    mode: str

    def analyse(self, question: str, history: list[dict] | None = None) -> Question:
        """The question analysed once (a follow-up completed from the history)."""

    def answer(self, question: Question, passages: list[Passage]) -> Answer:
        """The final answer to an analysed question from the retrieved passages."""


def make_answerer(settings, index, embed_model) -> Answerer:
    """The extractive answerer, wrapped by the LLM one when an LLM is configured; built once per engine."""
    from .extractive import ExtractiveAnswerer

    extractive = ExtractiveAnswerer(index, embed_model)
    if not settings.uses_llm:
        return extractive
    return LLMWithFallback(settings, extractive)


class LLMWithFallback:
    """The LLM answers from the same analysis and passages; when it fails, the extractive answer, with why.

    The model is reached only inside the fallback, question by question: a server that is down, hangs or
    lists no model (when none is configured) costs one notice, never the service (status, documents, the
    extractive answer).
    """

    def __init__(self, settings, extractive):
        self.settings = settings
        self.extractive = extractive
        self.names = extractive.names
        self._llm = None

    @property
    def mode(self) -> str:
        """The configured model, or the one the server listed once it was asked."""
        if self._llm is not None and self._llm.known_model:
            return self._llm.known_model
        return self.settings.llm_model or "LLM"

    def _model(self):
        """The LLM answerer, made at its first use; LLMError when it cannot be."""
        from .llm import LLMAnswerer, LLMError

        if self._llm is None:
            canonical = {entry[0] for entry in self.names.entries.values()}
            try:
                self._llm = LLMAnswerer(self.settings, names=canonical)
            except ValueError as error:  # a base URL urllib cannot parse, such as an unclosed [IPv6
                raise LLMError(f"QA_LLM_BASE_URL is not a usable address ({error}); "
                               "showing the extractive answer") from None
        return self._llm

    def analyse(self, question: str, history: list[dict] | None = None) -> Question:
        """The model completes a follow-up from the conversation; without it, the extractive rewrite stands."""
        from .llm import LLMError

        analysed = self.extractive.analyse(question, history)
        if not any(turn.get("role") == "user" for turn in history or []):
            return analysed
        try:
            standalone = self._model().rewrite_question(question, history)
        except LLMError as error:
            _log_fallback(self.settings, error)
            analysed.notice = " ".join(part for part in (analysed.notice, str(error)) if part)
            return analysed
        rewritten = self.extractive.analyse(standalone)
        rewritten.text = question
        # The model returns a question that needs no conversation as it was asked: then none was used.
        rewritten.from_history = analysed.from_history or " ".join(standalone.split()) != " ".join(question.split())
        return rewritten

    def stream(self, question: Question, passages: list[Passage]) -> Iterator[Answer]:
        from .llm import LLMError

        checked = None
        try:
            llm = self._model()
            checked = llm.checked(question.standalone, passages)
            for delta in llm.stream(question.standalone, passages):
                if checked.add(delta):  # only checked sentences are shown, never text taken back later
                    yield Answer(question.text, checked.text, True, passages=passages, mode=llm.model,
                                 notice=question.notice)
            yield checked.close()
        except LLMError as error:  # down, too slow, an error or garbage: the extractive answer instead
            _log_fallback(self.settings, error)
            answer = self.extractive.answer(question, passages)
            if checked is not None and checked.text.strip():
                yield checked.broken_off(answer, str(error))
                return
            answer.notice = " ".join(part for part in (str(error), answer.notice) if part)
            yield answer

    def answer(self, question: Question, passages: list[Passage]) -> Answer:
        *_, final = self.stream(question, passages)
        return final


def _log_fallback(settings, error: Exception) -> None:
    # The server's address is for the operator's log; the user's notice names no address.
    logger.info("LLM at %s failed, extractive answer instead: %s", settings.llm_base_url, error)
