"""The engine behind qa.ask, the CLI, the page and the eval: one loaded index, thread-safe."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from .answer.extractive import ExtractiveAnswerer, standalone_question
from .config import MAX_QUESTION_CHARS, Settings
from .corpus import article_names
from .embeddings import make_embedding
from .retrieval import MODES, Retriever
from .store import FORMAT_VERSION, BuildReport, IndexStore, IndexUnavailable, Progress
from .types import Answer, Article, Passage

__all__ = ["MODES", "Engine", "IndexUnavailable"]


def clean_question(question: str) -> tuple[str, str]:
    """The question to answer and a notice; ValueError for an empty one."""
    if not isinstance(question, str):
        raise ValueError(f"the question must be text, not {type(question).__name__}")
    if not question.strip():
        raise ValueError("the question is empty: type a question about the documents (问题为空，请输入关于文档的问题)")
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        notice = (
            f"The question was {len(question)} characters long; only its first {MAX_QUESTION_CHARS} were used."
        )
        return question[:MAX_QUESTION_CHARS], notice
    return question, ""


class Engine:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()
        self.store = IndexStore(self.settings)
        self._lock = threading.RLock()
        self._retriever: Retriever | None = None
        self._embed_model = None
        self._embed_model_name = ""
        self._answerer: ExtractiveAnswerer | None = None

    # --- index ---------------------------------------------------------------------------------
    def build_index(self, data_dir: Path | str | None = None, rebuild: bool = False,
                    progress: Progress | None = None, show_bar: bool = True) -> BuildReport:
        embed_model = self._embed_model if self._embed_model_name == self.settings.embed_model else None
        report = self.store.build(Path(data_dir) if data_dir else None, rebuild, progress, show_bar, embed_model)
        with self._lock:
            self._retriever = None  # the next question loads the new index
        return report

    def ensure_index(self) -> BuildReport | None:
        """Build the index when it is missing or was written by an older version of this program."""
        manifest = self.store.read_manifest()
        if manifest is not None and manifest.get("format") == FORMAT_VERSION:
            return None
        return self.build_index()

    def _ready(self) -> tuple[Retriever, ExtractiveAnswerer]:
        with self._lock:
            if self._retriever is None:
                self.ensure_index()
                index = self.store.load()
                if self._embed_model is None or self._embed_model_name != index.manifest["embed_model"]:
                    self._embed_model = make_embedding(index.manifest["embed_model"])
                    self._embed_model_name = index.manifest["embed_model"]
                self._retriever = Retriever(index, self._embed_model)
                self._answerer = ExtractiveAnswerer(index, self._embed_model)
            return self._retriever, self._answerer

    def articles(self) -> list[Article]:
        retriever, _ = self._ready()
        return list(retriever.index.articles.values())

    def status(self) -> dict:
        retriever, _ = self._ready()
        counts = retriever.index.manifest.get("counts", {})
        return {
            "mode": (self.settings.llm_model or f"LLM at {self.settings.llm_base_url}")
            if self.settings.uses_llm else "extractive",
            "articles": counts.get("articles", 0),
            "paragraphs": counts.get("paragraphs", 0),
            "chunks": counts.get("chunks", 0),
            "index_bytes": self.store.size_bytes(),
            "embed_model": retriever.index.manifest["embed_model"],
            "built_at": retriever.index.manifest.get("built_at", ""),
        }

    # --- questions -----------------------------------------------------------------------------
    def retrieve(self, question: str, k: int = 5, filters: dict | None = None, mode: str = "hybrid") -> list[Passage]:
        question, _ = clean_question(question)
        retriever, _ = self._ready()
        return retriever.search(question, k, filters, mode)

    def ask(self, question: str, k: int = 5, filters: dict | None = None, history: list | None = None) -> Answer:
        *_, final = self.ask_stream(question, k, filters, history)
        return final

    def ask_stream(self, question: str, k: int = 5, filters: dict | None = None,
                   history: list | None = None) -> Iterator[Answer]:
        """Partial answers whose text grows; the last one is final, with its citations."""
        question, notice = clean_question(question)
        retriever, answerer = self._ready()
        history = normalise_history(history)
        # --- LLM hook start ---
        from .answer.llm import LLMAnswerer, LLMError

        answer = None
        if self.settings.uses_llm:
            names = {n for a in retriever.article_list for n in article_names(a.district, a.interviewee)}
            llm = LLMAnswerer(self.settings, names=names)
            try:
                standalone = llm.rewrite_question(question, history) if history else question
                passages = retriever.search(standalone, k, filters)
                reply = ""
                for delta in llm.stream(standalone, passages):
                    reply += delta
                    yield Answer(question, llm.preview(passages, reply), True, passages=passages,
                                 mode=llm.model, notice=notice)
                answer = llm.finish(standalone, passages, reply)
            except LLMError as error:  # down, too slow, an error or garbage: the extractive answer instead
                notice = " ".join(part for part in (notice, str(error)) if part)
        if answer is None:
            standalone = standalone_question(question, history, retriever.article_list)
            passages = retriever.search(standalone, k, filters)
            answer = answerer.answer(standalone, passages)
        # --- LLM hook end ---
        answer.question = question
        answer.notice = " ".join(part for part in (notice, answer.notice) if part)
        yield answer


def normalise_history(history: list | None) -> list[dict]:
    """OpenAI-style [{"role", "content"}] from that or from (user, assistant) pairs."""
    messages = []
    for item in history or []:
        if isinstance(item, dict) and "role" in item:
            content = item.get("content")
            if isinstance(content, str):
                messages.append({"role": item["role"], "content": content})
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            user, assistant = item
            if user:
                messages.append({"role": "user", "content": str(user)})
            if assistant:
                messages.append({"role": "assistant", "content": str(assistant)})
    return messages
