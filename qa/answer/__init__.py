"""One Answerer interface for the extractive and the LLM answerers, and the factory that picks one from settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ..question import Question
from ..types import Answer, Passage


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
    """The LLM answers from the same analysis and passages; when it fails, the extractive answer, with why."""

    def __init__(self, settings, extractive):
        from .llm import LLMAnswerer

        self.extractive = extractive
        self.names = extractive.names
        canonical = {entry[0] for entry in self.names.entries.values()}
        self.llm = LLMAnswerer(settings, names=canonical)
        self.mode = self.llm.model

    def analyse(self, question: str, history: list[dict] | None = None) -> Question:
        """The model completes a follow-up from the conversation; without it, the extractive rewrite stands."""
        from .llm import LLMError

        analysed = self.extractive.analyse(question, history)
        if not any(turn.get("role") == "user" for turn in history or []):
            return analysed
        try:
            standalone = self.llm.rewrite_question(question, history)
        except LLMError as error:
            analysed.notice = " ".join(part for part in (analysed.notice, str(error)) if part)
            return analysed
        rewritten = self.extractive.analyse(standalone)
        rewritten.text = question
        return rewritten

    def stream(self, question: Question, passages: list[Passage]) -> Iterator[Answer]:
        from .llm import LLMError

        reply = ""
        try:
            for delta in self.llm.stream(question.standalone, passages):
                reply += delta
                yield Answer(question.text, self.llm.preview(passages, reply), True, passages=passages,
                             mode=self.llm.model, notice=question.notice)
            yield self.llm.finish(question.standalone, passages, reply)
        except LLMError as error:  # down, too slow, an error or garbage: the extractive answer instead
            answer = self.extractive.answer(question, passages)
            answer.notice = " ".join(part for part in (str(error), answer.notice) if part)
            yield answer

    def answer(self, question: Question, passages: list[Passage]) -> Answer:
        *_, final = self.stream(question, passages)
        return final
