"""Evaluation: ask every question of a question file and score answers, retrieved evidence, files, refusals,
answer lengths; a plain baseline beside ours; corpora indexed once and cached; refusal calibration."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .question import SPAN_TYPES, answer_type
from .text import content_tokens, normalise, split_sentences

QUESTION_TYPES = ("single", "multi", "meta", "reasoning", "crosslingual", "unanswerable", "broken-paragraph")
LANGUAGES = ("zh", "en")
SPLITS = ("train", "dev", "test")
# Shares of the documents in each split, in percent, in the order of SPLITS.
SPLIT_SHARES = (60, 20, 20)
REQUIRED_FIELDS = ("id", "question", "answers", "evidence", "answerable", "type", "lang")
OPTIONAL_FIELDS = ("split",)
# The figures a table shows, in order; the same keys as in the report's "summary".
METRICS = (
    "answer_accuracy",
    "evidence_recall",
    "hit_at_1",
    "hit_at_5",
    "mrr",
    "citation_precision",
    "refusal_rate",
    "false_refusal_rate",
    "answer_chars_p50",
    "lead_chars_p50",
)
# The shorter table `qa eval --corpus` prints per corpus.
CORPUS_METRICS = ("answer_accuracy", "evidence_recall", "hit_at_1", "hit_at_5", "refusal_rate", "false_refusal_rate",
                  "answer_chars_p50", "lead_chars_p50")
RETRIEVAL_METRICS = ("evidence_recall", "hit_at_1", "mrr")


class QuestionFileError(Exception):
    """A question file that cannot be used: the message names the line and what is wrong."""

    def __init__(self, path: Path, line_number: int, problem: str):
        super().__init__(f"{path}: line {line_number}: {problem}")
        self.line_number = line_number
        self.problem = problem


class InvalidQuestion(Exception):
    """One line of a question file that is not a usable question."""


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[tuple[str, ...], ...]  # every group must be matched by one of its alternatives
    evidence: tuple[str, ...]  # each is inside one supporting paragraph
    answerable: bool
    type: str
    lang: str
    split: str = "dev"
    document: str = ""  # the file that holds the answer, when the set says so


# ---------------------------------------------------------------------------------------------- file


def parse_question(record: object) -> Question:
    """Check one decoded line; raise InvalidQuestion saying what is wrong with it."""
    if not isinstance(record, dict):
        raise InvalidQuestion("a line must be a JSON object")
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if missing:
        raise InvalidQuestion(f"missing field(s) {', '.join(missing)}")
    unknown = sorted(set(record) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise InvalidQuestion(f"unknown field(s) {', '.join(unknown)}")
    for name in ("id", "question"):
        if not isinstance(record[name], str) or not record[name].strip():
            raise InvalidQuestion(f"'{name}' must be a non-empty string")
    answers, evidence = record["answers"], record["evidence"]
    if not isinstance(answers, list) or not all(
        isinstance(group, list) and group and all(isinstance(a, str) and normalise(a) for a in group)
        for group in answers
    ):
        raise InvalidQuestion("'answers' must be a list of non-empty lists of non-empty strings")
    if not isinstance(evidence, list) or not all(isinstance(e, str) and normalise(e) for e in evidence):
        raise InvalidQuestion("'evidence' must be a list of non-empty strings")
    if not isinstance(record["answerable"], bool):
        raise InvalidQuestion("'answerable' must be true or false")
    if record["type"] not in QUESTION_TYPES:
        raise InvalidQuestion(f"'type' must be one of {', '.join(QUESTION_TYPES)}, not {record['type']!r}")
    if record["lang"] not in LANGUAGES:
        raise InvalidQuestion(f"'lang' must be one of {', '.join(LANGUAGES)}, not {record['lang']!r}")
    split = record.get("split", "dev")
    if split not in SPLITS:
        raise InvalidQuestion(f"'split' must be one of {', '.join(SPLITS)}, not {split!r}")
    if record["answerable"] != (record["type"] != "unanswerable"):
        raise InvalidQuestion("'answerable' must be false exactly when 'type' is unanswerable")
    if record["answerable"] and not answers:
        raise InvalidQuestion("an answerable question needs at least one answer group")
    if not record["answerable"] and (answers or evidence):
        raise InvalidQuestion("an unanswerable question must have empty 'answers' and 'evidence'")
    return Question(
        id=record["id"],
        question=record["question"],
        answers=tuple(tuple(group) for group in answers),
        evidence=tuple(evidence),
        answerable=record["answerable"],
        type=record["type"],
        lang=record["lang"],
        split=split,
    )


def load_questions(path: Path) -> list[Question]:
    """Read and check a question file; blank lines are allowed, ids must be unique."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionFileError(path, 0, f"cannot read the file: {error}") from error
    questions: list[Question] = []
    first_line_of: dict[str, int] = {}
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            question = parse_question(json.loads(line))
        except json.JSONDecodeError as error:
            raise QuestionFileError(path, line_number, f"not valid JSON ({error.msg})") from error
        except InvalidQuestion as error:
            raise QuestionFileError(path, line_number, str(error)) from error
        if question.id in first_line_of:
            raise QuestionFileError(
                path, line_number, f"id {question.id!r} already used on line {first_line_of[question.id]}"
            )
        first_line_of[question.id] = line_number
        questions.append(question)
    if not questions:
        raise QuestionFileError(path, 0, "no questions in the file")
    return questions


# ------------------------------------------------------------------------------------------- metrics


def contains(text: str, fragment: str) -> bool:
    return normalise(fragment) in normalise(text)


def answer_correct(text: str, answers: Iterable[Iterable[str]]) -> bool:
    """Every group has at least one alternative inside the answer text."""
    return all(any(contains(text, alternative) for alternative in group) for group in answers)


def evidence_recall(passage_texts: list[str], evidence: Iterable[str]) -> float:
    """Share of the evidence strings that lie inside one of the passages."""
    evidence = list(evidence)
    found = sum(any(contains(text, e) for text in passage_texts) for e in evidence)
    return found / len(evidence)


def first_evidence_rank(passage_texts: list[str], evidence: Iterable[str]) -> int | None:
    """1-based rank of the first passage holding the first evidence string; None if none does."""
    first = next(iter(evidence))
    return next((rank for rank, text in enumerate(passage_texts, start=1) if contains(text, first)), None)


def supported_citations(citation_texts: list[str], evidence: Iterable[str]) -> int:
    """How many cited paragraphs contain at least one of the evidence strings."""
    evidence = list(evidence)
    return sum(any(contains(text, e) for e in evidence) for text in citation_texts)


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def lead_span(text: str, quotes: list[str]) -> str:
    """What the answer says before it quotes its source: the short span that answers. An answer that opens
    with its quote has no lead of its own, and then the whole first quote counts."""
    positions = [text.find(quote) for quote in quotes if quote and text.find(quote) >= 0]
    first = min(positions, default=-1)
    lead = text[:first] if first > 0 else text.split("\n")[0]
    return lead.strip()


def file_rank(passage_sources: list[str], document: str) -> int | None:
    """1-based rank of the first passage from the question's file; None if none is."""
    return next((rank for rank, source in enumerate(passage_sources, start=1) if source == document), None)


def score(
    question: Question,
    *,
    answer_text: str,
    answered: bool,
    passage_texts: list[str],
    citation_texts: list[str],
    failed: bool = False,
    passage_sources: list[str] | None = None,
    citation_quotes: list[str] | None = None,
) -> dict:
    """Per-question scores; a metric that does not apply to this question is None.
    A question the engine failed on counts against every metric. Hit@n is the evidence's rank, or, for a
    set that names each question's file instead of evidence strings, the rank of that file's first passage."""
    scores: dict = {
        "correct": None,
        "evidence_recall": None,
        "hit_at_1": None,
        "hit_at_5": None,
        "reciprocal_rank": None,
        "citations": None,
        "supported_citations": None,
        "refused_correctly": None,
        "refused_falsely": None,
        "answer_chars": None,
        "lead_chars": None,
    }
    if not question.answerable:
        scores["refused_correctly"] = not answered and not failed
        return scores
    scores["correct"] = not failed and answered and answer_correct(answer_text, question.answers)
    scores["refused_falsely"] = not answered
    if answered and not failed:
        scores["answer_chars"] = len(answer_text)
        if answer_type(question.question) in SPAN_TYPES:
            scores["lead_chars"] = len(lead_span(answer_text, citation_quotes or []))
    rank = None
    if question.document and passage_sources is not None:
        rank = file_rank(passage_sources, question.document)
        scores["evidence_recall"] = evidence_recall(passage_texts, [a for group in question.answers for a in group][:1])
    elif question.evidence:
        rank = first_evidence_rank(passage_texts, question.evidence)
        scores["evidence_recall"] = evidence_recall(passage_texts, question.evidence)
        scores["citations"] = len(citation_texts)
        scores["supported_citations"] = supported_citations(citation_texts, question.evidence)
    if question.document or question.evidence:
        scores["hit_at_1"] = float(rank == 1)
        scores["hit_at_5"] = float(rank is not None and rank <= 5)
        scores["reciprocal_rank"] = 1 / rank if rank else 0.0
    return scores


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarise(items: list[dict]) -> dict:
    """The metrics of a group of scored items (see the module's README section for definitions)."""

    def present(key: str) -> list:
        return [item["scores"][key] for item in items if item["scores"][key] is not None]

    citations = sum(present("citations"))
    latencies = [item["latency_ms"] for item in items if item.get("latency_ms") is not None]
    return {
        "questions": len(items),
        "errors": sum(1 for item in items if item.get("error")),
        "answer_accuracy": _mean([float(v) for v in present("correct")]),
        "evidence_recall": _mean(present("evidence_recall")),
        "hit_at_1": _mean(present("hit_at_1")),
        "hit_at_5": _mean(present("hit_at_5")),
        "mrr": _mean(present("reciprocal_rank")),
        "citation_precision": sum(present("supported_citations")) / citations if citations else None,
        "refusal_rate": _mean([float(v) for v in present("refused_correctly")]),
        "false_refusal_rate": _mean([float(v) for v in present("refused_falsely")]),
        "answer_chars_p50": percentile(present("answer_chars"), 0.50),
        "lead_chars_p50": percentile(present("lead_chars"), 0.50),
        "latency_ms_p50": percentile(latencies, 0.50),
        "latency_ms_p95": percentile(latencies, 0.95),
    }


def summarise_by_group(items: list[dict]) -> dict:
    """Overall, then per type and per language, in a fixed order."""
    summary = summarise(items)
    summary["by_type"] = {
        kind: summarise(group)
        for kind in QUESTION_TYPES
        if (group := [i for i in items if i["type"] == kind])
    }
    summary["by_lang"] = {
        lang: summarise(group) for lang in LANGUAGES if (group := [i for i in items if i["lang"] == lang])
    }
    return summary


def _cell(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if metric.startswith("latency") or metric.endswith("chars_p50") else f"{value:.3f}"


def format_table(rows: list[tuple[str, dict]], metrics: Iterable[str] = METRICS) -> str:
    """A fixed-width text table: one row per (label, summary), '-' where a metric does not apply."""
    metrics = list(metrics)
    header = ["", "n", *metrics]
    lines = [[label, str(summary["questions"])] for label, summary in rows]
    for line, (_, summary) in zip(lines, rows, strict=True):
        line += [_cell(summary[m], m) for m in metrics]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    text = [
        " ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *lines]
    ]
    return "\n".join(text)


def summary_rows(summary: dict) -> list[tuple[str, dict]]:
    return [
        ("all", summary),
        *((f"type:{kind}", s) for kind, s in summary["by_type"].items()),
        *((f"lang:{lang}", s) for lang, s in summary["by_lang"].items()),
    ]


# ------------------------------------------------------------------------------------------- running


def _passage_record(rank: int, passage) -> dict:
    return {
        "rank": rank,
        "paragraph_id": passage.paragraph_id,
        "title": passage.title,
        "district": passage.district,
        "paragraph": passage.paragraph,
        "source": passage.source,
        "score": passage.score,
        "text": passage.text,
    }


def _citation_record(citation) -> dict:
    return {
        "n": citation.n,
        "paragraph_id": citation.paragraph_id,
        "title": citation.title,
        "district": citation.district,
        "paragraph": citation.paragraph,
        "quote": citation.quote,
        "text": citation.text,
    }


def _item(question: Question) -> dict:
    return {
        "id": question.id,
        "question": question.question,
        "type": question.type,
        "lang": question.lang,
        "split": question.split,
        "answerable": question.answerable,
        "document": question.document,
    }


def _timed(call: Callable, question: Question, k: int) -> tuple[object, float | None, str]:
    """`call(question text, k=k)`'s result, its milliseconds and "" — or None, None and the error: one failing
    question must not stop the run."""
    started = time.perf_counter()
    try:
        result = call(question.question, k=k)
    except Exception as error:  # noqa: BLE001 - recorded with the question instead
        return None, None, f"{type(error).__name__}: {error}"
    return result, (time.perf_counter() - started) * 1000, ""


def evaluate_answers(questions: list[Question], ask: Callable, k: int) -> list[dict]:
    """Ask every question through `ask(question, k=k) -> Answer`; an exception is recorded, not raised."""
    items = []
    for question in questions:
        item = _item(question)
        answer, latency_ms, error = _timed(ask, question, k)
        if error:
            item.update(answer="", answered=False, mode="", notice="", citations=[], passages=[], latency_ms=None,
                        error=error)
            item["scores"] = score(
                question, answer_text="", answered=False, passage_texts=[], citation_texts=[], failed=True
            )
            items.append(item)
            continue
        item.update(
            answer=answer.text,
            answered=answer.answered,
            mode=answer.mode,
            notice=answer.notice,
            citations=[_citation_record(c) for c in answer.citations],
            passages=[_passage_record(rank, p) for rank, p in enumerate(answer.passages, start=1)],
            latency_ms=latency_ms,
            error="",
        )
        item["scores"] = score(
            question,
            answer_text=answer.text,
            answered=answer.answered,
            passage_texts=[p.text for p in answer.passages],
            citation_texts=[c.text for c in answer.citations],
            passage_sources=[p.source for p in answer.passages],
            citation_quotes=[c.quote for c in answer.citations],
        )
        if getattr(answer, "confidence", None) is not None:
            item["confidence"] = answer.confidence
        items.append(item)
    return items


def evaluate_retrieval(questions: list[Question], retrieve: Callable, k: int) -> list[dict]:
    """Retrieval metrics only, through `retrieve(question, k=k) -> list[Passage]`."""
    items = []
    for question in questions:
        item = _item(question)
        passages, latency_ms, error = _timed(retrieve, question, k)
        passages = passages or []
        item.update(latency_ms=latency_ms, error=error)
        item["passages"] = [_passage_record(rank, p) for rank, p in enumerate(passages, start=1)]
        item["scores"] = score(
            question,
            answer_text="",
            answered=True,
            passage_texts=[p.text for p in passages],
            citation_texts=[],
            failed=bool(item["error"]),
            passage_sources=[p.source for p in passages],
        )
        items.append(item)
    return items




# ------------------------------------------------------------------------------- reading-comprehension sets


def split_of(document: str) -> str:
    """The split of a document (train, dev or test, 60/20/20) by a hash of its name: the same on every machine
    and in every run, so a document's questions never straddle two splits and a fit on `train` never sees a
    `dev` or `test` document."""
    bucket = int(hashlib.sha1(document.encode("utf-8")).hexdigest(), 16) % 100
    for split, upper in zip(SPLITS, itertools.accumulate(SPLIT_SHARES), strict=True):
        if bucket < upper:
            return split
    raise AssertionError("the split shares add up to 100")


def load_span_questions(path: Path) -> list[Question]:
    """A span-extraction set (`id`, `document`, `question`, `answers`: any one answer is right; `lang` when the
    question is not in Chinese, as in a translated set) as Questions, split by document."""
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionFileError(path, 0, f"cannot read the file: {error}") from error
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            answers = tuple(a for a in record["answers"] if isinstance(a, str) and normalise(a))
            if not answers:
                raise KeyError("answers")
            if not record["question"].strip():
                continue  # a record with no question cannot be asked (one of the CMRC trial's 1,002)
            lang = record.get("lang", "zh")
            if lang not in LANGUAGES:
                raise KeyError(f"lang {lang!r} (use one of {', '.join(LANGUAGES)})")
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise QuestionFileError(path, line_number, f"not a span question ({error})") from error
        questions.append(Question(id=record["id"], question=record["question"], answers=(answers,), evidence=(),
                                  answerable=True, type="single", lang=lang, split=split_of(record["document"]),
                                  document=record["document"]))
    if not questions:
        raise QuestionFileError(path, 0, "no questions in the file")
    return questions


def evidence_units(data_dir: Path) -> list[tuple[str, str]]:
    """(name, text) of every paragraph and article header of the corpus: the units a question's evidence lies
    in, named by file, article title and paragraph number (0 for the header)."""
    from .corpus import load_corpus

    documents, _ = load_corpus(data_dir)
    units = []
    for document in documents:
        articles = {article.id: article for article in document.articles}
        units += [(f"{article.source}#{article.title}#0", article.header) for article in document.articles]
        units += [(f"{articles[p.article_id].source}#{articles[p.article_id].title}#{p.number}", p.text)
                  for p in document.paragraphs]
    return units


def split_by_evidence(questions: list[Question], data_dir: Path) -> list[Question]:
    """A question file's questions split by where their first evidence string lies (`split_of` of that
    paragraph); a question without evidence (an unanswerable one) by its id. The unit is the paragraph, not the
    file or the article: the shipped page is one file of six articles, too few to split 60/20/20."""
    units = evidence_units(data_dir)
    split = []
    for question in questions:
        unit = next((name for name, text in units if question.evidence and contains(text, question.evidence[0])),
                    question.id)
        split.append(dataclasses.replace(question, split=split_of(unit)))
    return split


def left_out_documents(documents: Iterable[str]) -> set[str]:
    """The documents held out of the index to make refusal cases: every fourth by sorted name."""
    return {name for position, name in enumerate(sorted(set(documents))) if position % 4 == 3}


def as_unanswerable(question: Question) -> Question:
    """The same question asked of an index without its document: the right reply is a refusal."""
    return Question(id=f"{question.id}-left-out", question=question.question, answers=(), evidence=(),
                    answerable=False, type="unanswerable", lang=question.lang, split=question.split,
                    document=question.document)


# ------------------------------------------------------------------------------------------- corpora


@dataclass
class EvalCorpus:
    """A folder of documents with its question file. `span` sets name each question's document and have no
    unanswerable questions: those are made by leaving documents out."""

    name: str
    data_dir: Path
    questions_file: Path
    span: bool = False
    questions: list[Question] = field(default_factory=list)
    # Questions translated from the corpus's own into another language (a span set): scored on rows of their
    # own, so that the corpus's figures stay those of its own questions.
    translated_file: Path | None = None
    translated: list[Question] = field(default_factory=list)

    def load(self) -> list[Question]:
        if not self.questions:
            if self.span:
                self.questions = load_span_questions(self.questions_file)
            else:
                self.questions = split_by_evidence(load_questions(self.questions_file), self.data_dir)
        return self.questions

    def load_translated(self) -> list[Question]:
        if not self.translated and self.translated_file is not None:
            self.translated = load_span_questions(self.translated_file)
        return self.translated

    def digest(self) -> str:
        """A hash of every file's name and bytes: the cache key of the corpus's index."""
        digest = hashlib.sha1()
        for path in sorted(p for p in self.data_dir.rglob("*") if p.is_file()):
            digest.update(path.relative_to(self.data_dir).as_posix().encode("utf-8") + b"\0")
            digest.update(path.read_bytes())
        return digest.hexdigest()[:12]


def cached_engine(data_dir: Path, cache_dir: Path, embed_model: str, **settings):
    """An engine over `data_dir` whose index lives in `cache_dir`, built once and only updated after that."""
    from .config import Settings
    from .engine import Engine

    engine = Engine(Settings.from_env(data_dir=data_dir, index_dir=cache_dir, embed_model=embed_model, **settings))
    engine.build_index(show_bar=False)
    return engine


def corpus_engines(corpus: EvalCorpus, cache_root: Path, embed_model: str, **settings) -> dict:
    """{"all": engine over every document} and, for a span set, {"kept": engine without the left-out ones}.
    The kept index starts as a copy of the whole one, so nothing is embedded twice."""
    key = f"{corpus.name}-{embed_model.replace('/', '_')}-{corpus.digest()}"
    folder = cache_root / key
    engines = {"all": cached_engine(corpus.data_dir, folder / "all", embed_model, **settings)}
    if corpus.span:
        left_out = left_out_documents(q.document for q in corpus.load())
        kept_docs = folder / "kept-docs"
        if not kept_docs.exists():
            scratch = folder / "kept-docs.partial"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            for path in sorted(corpus.data_dir.iterdir()):
                if path.is_file() and path.name not in left_out:
                    shutil.copy2(path, scratch / path.name)
            scratch.rename(kept_docs)
        if not (folder / "kept").exists():
            shutil.copytree(folder / "all", folder / "kept.partial", dirs_exist_ok=True)
            (folder / "kept.partial").rename(folder / "kept")
        engines["kept"] = cached_engine(kept_docs, folder / "kept", embed_model, **settings)
    return engines


def run_corpus(corpus: EvalCorpus, engines: dict, k: int = 5, split: str = "all",
               translated: bool = False) -> list[dict]:
    """Every question of the corpus (or, with `translated`, of its translated set), scored: answerable ones over
    the whole index; for a span set, the left-out documents' questions again over the index without them
    (refusal cases)."""
    pool = corpus.load_translated() if translated else corpus.load()
    questions = [q for q in pool if split == "all" or q.split == split]
    items = evaluate_answers(questions, engines["all"].ask, k)
    if corpus.span:
        left_out = left_out_documents(q.document for q in corpus.load())
        unanswerable = [as_unanswerable(q) for q in questions if q.document in left_out]
        items += evaluate_answers(unanswerable, engines["kept"].ask, k)
    return items


# ------------------------------------------------------------------------------------------ baseline


def baseline_items(corpus: EvalCorpus, split: str = "all", k: int = 5) -> list[dict]:
    """The plain baseline: BM25 on jieba tokens over whole articles, then the top article's sentence sharing
    the most question words. It never refuses."""
    import bm25s

    from .corpus import load_corpus

    documents, _ = load_corpus(corpus.data_dir)
    articles = [(a, [p.text for p in d.paragraphs if p.article_id == a.id]) for d in documents for a in d.articles]
    retriever = bm25s.BM25()
    retriever.index([content_tokens(" ".join([a.title, *texts])) or ["∅"] for a, texts in articles],
                    show_progress=False)
    questions = [q for q in corpus.load() if split == "all" or q.split == split]
    items = []
    for question in questions:
        started = time.perf_counter()
        words = content_tokens(question.question)
        scores = retriever.get_scores(words) if words else [0.0] * len(articles)
        ranked = sorted(range(len(articles)), key=lambda i: -scores[i])[:k]
        top, texts = articles[ranked[0]]
        wanted = set(words)
        sentences = [s for text in texts for s in split_sentences(text)] or [top.title]
        answer = max(sentences, key=lambda s: len(wanted & set(content_tokens(s))))
        item = _item(question)
        item.update(answer=answer, answered=True, latency_ms=(time.perf_counter() - started) * 1000, error="")
        passage_texts = ["\n".join(articles[i][1]) for i in ranked]
        item["scores"] = score(question, answer_text=answer, answered=True, passage_texts=passage_texts,
                               citation_texts=[], passage_sources=[articles[i][0].source for i in ranked],
                               citation_quotes=[answer])
        items.append(item)
        if question.document and corpus.span:
            pass
    if corpus.span:
        left_out = left_out_documents(q.document for q in corpus.load())
        for question in questions:
            if question.document in left_out:
                unanswerable = as_unanswerable(question)
                item = _item(unanswerable)
                item.update(answer="", answered=True, error="")
                item["scores"] = score(unanswerable, answer_text="", answered=True, passage_texts=[],
                                       citation_texts=[])
                items.append(item)
    return items


def split_rows(items: list[dict], label: str, by_lang: bool = False) -> list[tuple[str, dict]]:
    """One row per split present, then all; with by_lang, one row per language too."""
    rows = []
    for split in SPLITS:
        if group := [i for i in items if i["split"] == split]:
            rows.append((f"{label} {split}", summarise(group)))
    rows.append((f"{label} all", summarise(items)))
    return rows + language_rows(items, label) if by_lang else rows


def language_rows(items: list[dict], label: str) -> list[tuple[str, dict]]:
    """One row per language and split present ("ours dev en")."""
    return [(f"{label} {split} {lang}", summarise(group)) for lang in LANGUAGES for split in SPLITS
            if (group := [i for i in items if i["lang"] == lang and i["split"] == split])]


# ------------------------------------------------------------------------------------------ calibration


def best_threshold(answerable: list[tuple[float, bool]], unanswerable: list[float],
                   max_false_refusal: float = 0.05, groups: list[list[tuple[float, bool]]] = ()) -> float:
    """The confidence threshold under which the most questions end right (a correct answer kept, an
    unanswerable question refused), refusing at most `max_false_refusal` of the answerable ones, and of each of
    `groups` (one per corpus: a budget kept over the union can still be spent on one corpus); answerable items
    are (confidence, answered correctly), and refusing a wrong answer costs nothing. Every question counts once:
    a refusal gained is worth a correct answer lost, not more because unanswerable questions are fewer."""
    candidates = sorted({0.0, *(c for c, _ in answerable), *unanswerable})
    best, best_value = 0.0, -1
    for threshold in candidates:
        if any(sum(c < threshold for c, _ in group) / max(len(group), 1) > max_false_refusal
               for group in (answerable, *groups)):
            break
        value = sum(c < threshold for c in unanswerable) - sum(ok for c, ok in answerable if c < threshold)
        if value > best_value:
            best, best_value = threshold, value
    return best


def confidences(items: list[dict]) -> tuple[list[tuple[float, bool]], list[float]]:
    """(confidence, correct) of the answerable items and the confidences of the unanswerable ones."""
    answerable = [(i["confidence"], bool(i["scores"]["correct"])) for i in items
                  if i["answerable"] and "confidence" in i]
    unanswerable = [i["confidence"] for i in items if not i["answerable"] and "confidence" in i]
    return answerable, unanswerable
