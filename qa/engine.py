"""The engine behind qa.ask, the CLI, the page and the eval: one loaded index, thread-safe."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .answer import Answerer, make_answerer
from .answer.script import in_own_scripts, simplified_passage
from .config import MAX_QUESTION_CHARS, Settings
from .embeddings import make_embedding
from .retrieval import MODES, Retriever, allowed_articles
from .store import FORMAT_VERSION, BuildBusy, BuildReport, IndexStore, IndexUnavailable, Progress
from .text import in_script, is_chinese, is_traditional, load_dictionary, simplified
from .types import Answer, Article, Passage
from .uploads import recover_interrupted_changes

__all__ = ["MODES", "BuildBusy", "Engine", "IndexUnavailable"]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text a browser or client may send that Python cannot encode (a lone surrogate) is replaced, not fatal."""
    return _LONE_SURROGATE.sub("\ufffd", text)


# Where a sentence ends: a long paste is cut there, so that what is kept starts with a whole sentence.
_SENTENCE_END = re.compile(r"[。！？!?；;\n]|\.(?=\s)")


def clean_question(question: str, limit: int = MAX_QUESTION_CHARS) -> tuple[str, str]:
    """The question to answer and a notice; ValueError for an empty one.

    A question longer than the limit is a paste with the question usually at its end: its last `limit`
    characters are kept, from the first sentence that starts within them."""
    if not isinstance(question, str):
        raise ValueError(f"the question must be text, not {type(question).__name__}")
    question = clean_text(question).strip()
    if not question:
        raise ValueError("the question is empty: type a question about the documents (问题为空，请输入关于文档的问题)")
    if len(question) > limit:
        kept = question[-limit:]
        if not _SENTENCE_END.match(question, len(question) - limit - 1):  # the cut falls inside a sentence
            end = _SENTENCE_END.search(kept, 0, limit // 2)
            kept = kept[end.end():] if end else kept
        kept = kept.strip() or question[-limit:]
        if is_chinese(question):
            notice = f"问题长 {len(question)} 个字符，只使用了最后 {len(kept)} 个（问题通常在末尾）。"
        else:
            notice = (f"The question was {len(question)} characters long; only its last {len(kept)} were used "
                      "(a question usually comes last).")
        return kept, notice
    return question, ""


def bounded_history(history: list | None, max_turns: int, max_chars: int,
                    chinese: bool = False) -> tuple[list[dict], str]:
    """The most recent messages that fit the bounds, and a notice when older ones were dropped: a caller
    cannot stall the server with an endless or enormous history."""
    messages = normalise_history(history)
    kept: list[dict] = []
    used = 0
    for message in reversed(messages[-max_turns:] if max_turns else []):
        content = message["content"]
        if used + len(content) > max_chars:
            if not kept:  # the latest turn alone is too long: keep its end, which the follow-up refers to
                kept.append({"role": message["role"], "content": content[-max_chars:]})
            break
        kept.append(message)
        used += len(content)
    kept.reverse()
    notice = ""
    if len(kept) < len(messages) or sum(len(m["content"]) for m in kept) < sum(len(m["content"]) for m in messages):
        notice = (f"对话超过 {max_turns} 条或 {max_chars} 个字符，只使用了最近的部分。" if chinese else
                  f"The conversation was longer than {max_turns} messages or {max_chars} characters; "
                  f"only the most recent part was used.")
    return kept, notice


def check_k(k, max_k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= max_k:
        raise ValueError(f"k must be a whole number of passages from 1 to {max_k} (got {k!r})")
    return k


def check_filters(filters, max_values: int) -> dict | None:
    if filters is None:
        return None
    if not isinstance(filters, dict):
        raise ValueError("filters must be an object such as {\"article_id\": [...]}")
    for key, value in filters.items():
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"filter {key!r} must be a text or a list of texts")
        if len(values) > max_values:
            raise ValueError(f"filter {key!r} lists {len(values)} values; at most {max_values} are allowed")
    return filters


class Engine:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()
        self.store = IndexStore(self.settings)
        self._lock = threading.RLock()
        self._retriever: Retriever | None = None
        self._embed_model = None
        self._embed_model_name = ""
        self._answerer: Answerer | None = None
        self._answerer_settings: Settings | None = None

    # --- index ---------------------------------------------------------------------------------
    def build_index(self, data_dir: Path | str | None = None, rebuild: bool = False,
                    progress: Progress | None = None, show_bar: bool = True, wait: float = 0.0) -> BuildReport:
        """Build or update the index; BuildBusy if another build holds the index for longer than `wait` s."""
        embed_model = self._embed_model if self._embed_model_name == self.settings.embed_model else None
        recover_interrupted_changes(self)  # what the build reads is the data folder as it was, or as it became
        report = self.store.build(Path(data_dir) if data_dir else None, rebuild, progress, show_bar, embed_model,
                                  wait=wait)
        self._forget_index()  # the next question loads the new index
        return report

    def ensure_index(self) -> BuildReport | None:
        """Build the index when it is missing or was written by an older version of this program; first put
        back the data folder an upload or deletion left half done."""
        recover_interrupted_changes(self)
        manifest = self.store.read_manifest()
        if manifest is not None and manifest.get("format") == FORMAT_VERSION:
            return None
        return self.build_index()

    def _forget_index(self) -> None:
        with self._lock:
            if self._retriever is not None:
                self._retriever.index.retire()  # closed when the questions still running on it are done
            self._retriever = None

    def _load_index(self):
        """The index on disk; loaded again when a build switched it over (and removed the generation being
        read) during the load, which is no damage."""
        for attempt in range(3):
            signature = self.store.signature()
            try:
                return self.store.load()
            except IndexUnavailable:
                if attempt == 2 or self.store.signature() == signature:
                    raise
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _in_use(self) -> Iterator[tuple[Retriever, Answerer]]:
        """The loaded index and its answerer, held open for a question: a build or another process switching
        the index meanwhile does not close it under the question."""
        with self._lock:
            retriever, answerer = self._ready()
            retriever.index.hold()
        try:
            yield retriever, answerer
        finally:
            retriever.index.release()

    def _ready(self) -> tuple[Retriever, Answerer]:
        with self._lock:
            # A build by another process (the CLI while the page serves) switched the manifest: follow it.
            if self._retriever is not None and self._retriever.index.signature != self.store.signature():
                self._forget_index()
            if self._retriever is None:
                self.ensure_index()
                index = self._load_index()
                if self._embed_model is None or self._embed_model_name != index.manifest["embed_model"]:
                    self._embed_model = make_embedding(index.manifest["embed_model"], self.settings)
                    self._embed_model_name = index.manifest["embed_model"]
                self._retriever = Retriever(index, self._embed_model)
                self._answerer = None
            # One answerer per loaded index and settings (extractive, or an LLM with the extractive fallback).
            if self._answerer is None or self._answerer_settings is not self.settings:
                self._answerer = make_answerer(self.settings, self._retriever.index, self._embed_model)
                self._answerer_settings = self.settings
            return self._retriever, self._answerer

    def warm(self) -> dict[str, float]:
        """Load what every question needs, part by part, and say how long each took (seconds): jieba's
        dictionary, the index (building it if missing), the embedding model. A server calls it in the
        background while its page loads; `qa ask --verbose` to show where a cold start goes. The English
        dictionary is not among them: only an English question reads it."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        load_dictionary()
        timings["jieba dictionary"] = time.perf_counter() - started
        started = time.perf_counter()
        retriever, _ = self._ready()
        timings["index (table, BM25, names, Chroma)"] = time.perf_counter() - started
        started = time.perf_counter()
        retriever.embed_model.get_query_embedding("query")
        timings["embedding model"] = time.perf_counter() - started
        return timings

    def articles(self) -> list[Article]:
        retriever, _ = self._ready()
        return list(retriever.index.articles.values())

    def status(self) -> dict:
        retriever, answerer = self._ready()  # never asks the LLM server: status answers while it is down
        counts = retriever.index.manifest.get("counts", {})
        return {
            "mode": answerer.mode,
            # Documents are files, as uploaded, listed and deleted; a file may hold several articles.
            "documents": len({article.source for article in retriever.index.articles.values()}),
            "articles": counts.get("articles", 0),
            "paragraphs": counts.get("paragraphs", 0),
            "chunks": counts.get("chunks", 0),
            "index_bytes": self.store.size_bytes(),
            "embed_model": retriever.index.manifest["embed_model"],
            "built_at": retriever.index.manifest.get("built_at", ""),
        }

    # --- questions -----------------------------------------------------------------------------
    def retrieve(self, question: str, k: int = 5, filters: dict | None = None, mode: str = "hybrid") -> list[Passage]:
        question, _ = clean_question(question, self.settings.max_question_chars)
        k = check_k(k, self.settings.max_k)
        filters = check_filters(filters, self.settings.max_filter_values)
        for attempt in range(2):
            with self._in_use() as (retriever, _):
                try:
                    return retriever.search(question, k, filters, mode)
                except IndexUnavailable:
                    if attempt or not self._index_moved(retriever):
                        raise
        raise AssertionError("unreachable")

    def ask(self, question: str, k: int = 5, filters: dict | None = None, history: list | None = None) -> Answer:
        *_, final = self.ask_stream(question, k, filters, history)
        return final

    def ask_stream(self, question: str, k: int = 5, filters: dict | None = None,
                   history: list | None = None) -> Iterator[Answer]:
        """Partial answers whose text grows; the last one is final, with its citations."""
        question, notice = clean_question(question, self.settings.max_question_chars)
        k = check_k(k, self.settings.max_k)
        filters = check_filters(filters, self.settings.max_filter_values)
        history, history_notice = bounded_history(history, self.settings.max_history_turns,
                                                  self.settings.max_history_chars, is_chinese(question))
        for attempt in range(2):
            with self._in_use() as (retriever, answerer):
                try:
                    yield from self._answers(question, k, filters, history, (notice, history_notice), retriever,
                                             answerer)
                    return
                except IndexUnavailable:
                    # The index was replaced under this question (another process rebuilt it): ask again, once.
                    if attempt or not self._index_moved(retriever):
                        raise

    def _index_moved(self, retriever: Retriever) -> bool:
        moved = retriever.index.signature != self.store.signature()
        if moved:
            self._forget_index()
        return moved

    def _answers(self, question, k, filters, history, notices, retriever, answerer) -> Iterator[Answer]:
        # Questions, names and passages are read in Simplified characters, whichever script each is written in;
        # the answer is shown in the documents' characters and the question's.
        traditional = is_traditional(question)
        history = [{**m, "content": simplified(m["content"])} for m in history]
        analysed = answerer.analyse(simplified(question), history)
        question_notice, history_notice = notices
        # That older turns were left out matters only to a question the conversation completed.
        notice = " ".join(part for part in (question_notice, analysed.from_history and history_notice) if part)
        passages = retriever.search(analysed, k, filters)
        read = [simplified_passage(passage) for passage in passages]
        answered = False
        # Said in place of a refusal when the filter, not the documents, left out what the question is about.
        allowed = allowed_articles(filters, retriever.index)
        outside = filtered_out_subject(analysed, allowed)
        refusal = outside and filter_refusal(outside, allowed, retriever.index, analysed.language)
        # Each answer goes out as it comes (each a new Answer): a partial held back until the next arrived
        # would show a checked sentence only once the one after it was checked too.
        for answer in answerer.stream(analysed, read) if hasattr(answerer, "stream") else ():
            answered = True
            yield _asked_as(answer, question, analysed, notice, refusal, passages, traditional)
        if not answered:
            yield _asked_as(answerer.answer(analysed, read), question, analysed, notice, refusal, passages,
                            traditional)


def _asked_as(answer: Answer, question: str, analysed, notice: str, filter_refusal_text: str,
              passages: list[Passage], traditional: bool) -> Answer:
    """The answer under the question as the user asked it, after the engine's notice (a cut question), in the
    documents' characters and the question's."""
    answer.follow_up = analysed.from_history
    if filter_refusal_text and not answer.answered:
        answer.text = filter_refusal_text
    answer = in_own_scripts(answer, question, passages, traditional)
    answer.notice = " ".join(part for part in (in_script(notice, traditional), answer.notice) if part)
    return answer


def filtered_out_subject(question, allowed: list[str] | None) -> str:
    """The name a question is about when the filter, allowing only these articles, leaves out every document
    about it ("" otherwise, and when there is no filter)."""
    if allowed is None:
        return ""
    allowed = set(allowed)
    about = [m for m in question.entities if m.article_ids and getattr(m, "about", False)]
    for mention in about:
        if allowed.isdisjoint(mention.article_ids):
            return mention.canonical
    return ""


MAX_NAMED_TITLES = 3


def filter_refusal(name: str, allowed: list[str], index, language: str) -> str:
    """A refusal that says the filter, not the documents, is why: what it searches and how to widen it."""
    titles = [index.articles[a].title for a in allowed[:MAX_NAMED_TITLES] if a in index.articles]
    if language == "zh":
        searched = "、".join(f"《{title}》" for title in titles) + (f"等 {len(allowed)} 份文档" if len(allowed) >
                                                                  MAX_NAMED_TITLES else "")
        return (f"筛选只搜索{searched}，其中没有关于{name}的文档：清除“只搜索这些文档”的筛选"
                f"（或把关于{name}的文档加进去）再问。")
    searched = ", ".join(f"“{title}”" for title in titles) + (f" and {len(allowed) - MAX_NAMED_TITLES} more"
                                                               if len(allowed) > MAX_NAMED_TITLES else "")
    return (f"The filter searches only {searched}, and none of them is about {name}: clear the filter "
            f"(“Search only these documents”) or add the documents about {name}, and ask again.")


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
