"""Evaluation: ask every question of a JSON Lines set and score answers, retrieved evidence and citations."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from qa.text import normalise

DEFAULT_QUESTIONS = Path(__file__).resolve().with_name("questions.jsonl")
QUESTION_TYPES = ("single", "multi", "meta", "reasoning", "crosslingual", "unanswerable", "broken-paragraph")
LANGUAGES = ("zh", "en")
SPLITS = ("dev", "test")
REQUIRED_FIELDS = ("id", "question", "answers", "evidence", "answerable", "type", "lang")
OPTIONAL_FIELDS = ("split",)
# The embedding backends `--compare` tries by default (names as qa.embeddings.make_embedding takes them).
COMPARE_EMBED_MODELS = ("multilingual-e5-small", "use-multilingual")
# The figures a table shows, in order; the same keys as in the report's "summary".
METRICS = (
    "answer_accuracy",
    "evidence_recall",
    "hit_at_1",
    "mrr",
    "citation_precision",
    "refusal_rate",
    "false_refusal_rate",
)
RETRIEVAL_METRICS = ("evidence_recall", "hit_at_1", "mrr")
LLM_OPTIONS = {
    "llm_base_url": "QA_LLM_BASE_URL",
    "llm_model": "QA_LLM_MODEL",
    "llm_api_key": "QA_LLM_API_KEY",
    "llm_timeout": "QA_LLM_TIMEOUT",
}


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


def score(
    question: Question,
    *,
    answer_text: str,
    answered: bool,
    passage_texts: list[str],
    citation_texts: list[str],
    failed: bool = False,
) -> dict:
    """Per-question scores; a metric that does not apply to this question is None.
    A question the engine failed on counts against every metric."""
    scores: dict = {
        "correct": None,
        "evidence_recall": None,
        "hit_at_1": None,
        "reciprocal_rank": None,
        "citations": None,
        "supported_citations": None,
        "refused_correctly": None,
        "refused_falsely": None,
    }
    if not question.answerable:
        scores["refused_correctly"] = not answered and not failed
        return scores
    scores["correct"] = not failed and answer_correct(answer_text, question.answers)
    scores["refused_falsely"] = not answered
    if question.evidence:
        rank = first_evidence_rank(passage_texts, question.evidence)
        scores["evidence_recall"] = evidence_recall(passage_texts, question.evidence)
        scores["hit_at_1"] = float(rank == 1)
        scores["reciprocal_rank"] = 1 / rank if rank else 0.0
        scores["citations"] = len(citation_texts)
        scores["supported_citations"] = supported_citations(citation_texts, question.evidence)
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
        "mrr": _mean(present("reciprocal_rank")),
        "citation_precision": sum(present("supported_citations")) / citations if citations else None,
        "refusal_rate": _mean([float(v) for v in present("refused_correctly")]),
        "false_refusal_rate": _mean([float(v) for v in present("refused_falsely")]),
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
    return f"{value:.0f}" if metric.startswith("latency") else f"{value:.3f}"


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
    }


def evaluate_answers(questions: list[Question], ask: Callable, k: int) -> list[dict]:
    """Ask every question through `ask(question, k=k) -> Answer`; an exception is recorded, not raised."""
    items = []
    for question in questions:
        item = _item(question)
        started = time.perf_counter()
        try:
            answer = ask(question.question, k=k)
        except Exception as error:  # noqa: BLE001 - one failing question must not stop the run
            item.update(
                answer="",
                answered=False,
                mode="",
                notice="",
                citations=[],
                passages=[],
                latency_ms=None,
                error=f"{type(error).__name__}: {error}",
            )
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
            latency_ms=(time.perf_counter() - started) * 1000,
            error="",
        )
        item["scores"] = score(
            question,
            answer_text=answer.text,
            answered=answer.answered,
            passage_texts=[p.text for p in answer.passages],
            citation_texts=[c.text for c in answer.citations],
        )
        items.append(item)
    return items


def evaluate_retrieval(questions: list[Question], retrieve: Callable, k: int) -> list[dict]:
    """Retrieval metrics only, through `retrieve(question, k=k) -> list[Passage]`."""
    items = []
    for question in questions:
        item = _item(question)
        started = time.perf_counter()
        try:
            passages = retrieve(question.question, k=k)
            item.update(latency_ms=(time.perf_counter() - started) * 1000, error="")
        except Exception as error:  # noqa: BLE001
            passages = []
            item.update(latency_ms=None, error=f"{type(error).__name__}: {error}")
        item["passages"] = [_passage_record(rank, p) for rank, p in enumerate(passages, start=1)]
        item["scores"] = score(
            question,
            answer_text="",
            answered=True,
            passage_texts=[p.text for p in passages],
            citation_texts=[],
            failed=bool(item["error"]),
        )
        items.append(item)
    return items


def compare_setups(questions: list[Question], k: int, embed_models: list[str]) -> list[tuple[str, dict]]:
    """BM25 once, then dense and hybrid per embedding model, each model with its own index in a temp dir."""
    from qa.config import Settings
    from qa.engine import MODES, Engine

    rows = []
    with tempfile.TemporaryDirectory(prefix="qa-eval-compare-") as scratch:
        for position, model in enumerate(embed_models):
            settings = Settings.from_env(embed_model=model, index_dir=Path(scratch) / model.replace("/", "_"))
            try:
                engine = Engine(settings)
                engine.build_index(show_bar=False)
            except Exception as error:  # noqa: BLE001 - a model that cannot load is reported, not fatal
                print(f"skipped embedding model {model}: {type(error).__name__}: {error}", file=sys.stderr)
                continue
            # BM25 does not depend on the embedding model: measure it once.
            modes = [mode for mode in MODES if position == 0 or mode != "bm25"]
            for mode in modes:
                items = evaluate_retrieval(
                    questions, lambda q, k, mode=mode, engine=engine: engine.retrieve(q, k=k, mode=mode), k
                )
                label = "bm25" if mode == "bm25" else f"{mode}:{model}"
                rows.append((label, summarise(items)))
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="qa eval", description=__doc__)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="JSON Lines question file")
    parser.add_argument("--k", type=int, default=5, help="passages retrieved per question")
    parser.add_argument("--out", type=Path, help="write the summary and one record per question here (JSON)")
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="all")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="compare retrieval set-ups (BM25, dense, hybrid per embedding model) instead",
    )
    parser.add_argument("--embed-models", help="comma-separated embedding models for --compare")
    parser.add_argument("--llm-base-url")
    parser.add_argument("--llm-model")
    parser.add_argument("--llm-api-key")
    parser.add_argument("--llm-timeout", type=float)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        questions = load_questions(args.questions)
    except QuestionFileError as error:
        print(f"error: malformed question file: {error}", file=sys.stderr)
        return 2
    if args.split != "all":
        questions = [q for q in questions if q.split == args.split]
    for option, variable in LLM_OPTIONS.items():
        if getattr(args, option) is not None:
            os.environ[variable] = str(getattr(args, option))

    import qa  # after the environment is set: the default engine reads its Settings once

    report: dict = {"run": {"questions": str(args.questions), "split": args.split, "k": args.k}}
    if args.compare:
        models = args.embed_models.split(",") if args.embed_models else list(COMPARE_EMBED_MODELS)
        rows = compare_setups(questions, args.k, models)
        print(format_table(rows, (*RETRIEVAL_METRICS, "latency_ms_p50")))
        report["compare"] = {label: summary for label, summary in rows}
    else:
        qa.build_index()  # outside the timing: latency is that of answering, not of indexing
        items = evaluate_answers(questions, qa.ask, args.k)
        summary = summarise_by_group(items)
        print(format_table(summary_rows(summary)))
        print(
            f"latency ms: p50 {summary['latency_ms_p50'] or 0:.0f}, p95 {summary['latency_ms_p95'] or 0:.0f}"
            f"; errors: {summary['errors']}"
        )
        report.update(summary=summary, items=items)
    if args.out:
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
