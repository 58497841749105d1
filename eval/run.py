"""`qa eval`: one table per corpus (the shipped page, the CMRC 2018 trial set, DRCD in Traditional characters)
with the plain baseline beside ours; `--questions FILE` scores one question file against the configured engine;
`--calibrate` sets refusal thresholds."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from qa.evaluation import (  # noqa: F401 - re-exported: eval/bench.py and older callers import them from here
    CORPUS_METRICS,
    LANGUAGES,
    METRICS,
    QUESTION_TYPES,
    RETRIEVAL_METRICS,
    SPLITS,
    EvalCorpus,
    Question,
    QuestionFileError,
    answer_correct,
    baseline_items,
    best_threshold,
    confidences,
    corpus_engines,
    evaluate_answers,
    evaluate_retrieval,
    evidence_recall,
    first_evidence_rank,
    format_table,
    language_rows,
    load_questions,
    load_span_questions,
    percentile,
    run_corpus,
    split_rows,
    summarise,
    summarise_by_group,
    summary_rows,
    supported_citations,
)

EVAL_DIR = Path(__file__).resolve().parent
ROOT = EVAL_DIR.parent
DEFAULT_QUESTIONS = EVAL_DIR / "questions.jsonl"
CMRC_DIR = EVAL_DIR / "cmrc2018-trial"
DRCD_DIR = EVAL_DIR / "drcd-dev"
# A frozen copy of the shipped page: what is uploaded into data/ never changes the shipped figures.
SHIPPED_DIR = EVAL_DIR / "shipped" / "docs"
# Indexes of the eval corpora, keyed by corpus hash and model: a repeat run costs seconds, not an embedding pass.
DEFAULT_CACHE = ROOT / ".eval-cache"  # beside the index folder, never inside it: that folder holds one index
# The embedding backends `--compare` and `--calibrate` try by default (names as qa.embeddings.make_embedding takes).
COMPARE_EMBED_MODELS = ("multilingual-e5-small", "use-multilingual")
LLM_OPTIONS = {
    "llm_base_url": "QA_LLM_BASE_URL",
    "llm_model": "QA_LLM_MODEL",
    "llm_api_key": "QA_LLM_API_KEY",
    "llm_timeout": "QA_LLM_TIMEOUT",
}


def corpora() -> dict[str, EvalCorpus]:
    return {
        "shipped": EvalCorpus("shipped", SHIPPED_DIR, DEFAULT_QUESTIONS),
        "cmrc": EvalCorpus("cmrc", CMRC_DIR / "docs", CMRC_DIR / "questions.jsonl", span=True,
                           translated_file=CMRC_DIR / "questions-en.jsonl"),
        "drcd": EvalCorpus("drcd", DRCD_DIR / "docs", DRCD_DIR / "questions.jsonl", span=True),
    }


def compare_setups(questions: list[Question], k: int, embed_models: list[str]) -> list[tuple[str, dict]]:
    """BM25 once, then dense and hybrid per embedding model, each model with its own cached index."""
    from qa.engine import MODES
    from qa.evaluation import cached_engine

    rows = []
    for position, model in enumerate(embed_models):
        try:
            engine = cached_engine(SHIPPED_DIR, DEFAULT_CACHE / f"compare-{model.replace('/', '_')}", model)
        except Exception as error:  # noqa: BLE001 - a model that cannot load is reported, not fatal
            print(f"skipped embedding model {model}: {type(error).__name__}: {error}", file=sys.stderr)
            continue
        # BM25 does not depend on the embedding model: measure it once.
        for mode in [mode for mode in MODES if position == 0 or mode != "bm25"]:
            items = evaluate_retrieval(
                questions, lambda q, k, mode=mode, engine=engine: engine.retrieve(q, k=k, mode=mode), k
            )
            rows.append(("bm25" if mode == "bm25" else f"{mode}:{model}", summarise(items)))
    return rows


def corpus_tables(names: list[str], split: str, k: int, cache: Path, embed_model: str) -> dict:
    """Ours and the baseline on each corpus; prints one table per corpus and returns the report."""
    report = {}
    for name in names:
        corpus = corpora()[name]
        engines = corpus_engines(corpus, cache, embed_model)
        items = run_corpus(corpus, engines, k, split)
        baseline = baseline_items(corpus, split, k)
        rows = split_rows(items, "ours", by_lang=not corpus.span)
        translated = run_corpus(corpus, engines, k, split, translated=True) if corpus.translated_file else []
        # The translated questions' own rows, named as the shipped page's per-language ones ("ours dev en").
        rows += language_rows(translated, "ours")
        rows += split_rows(baseline, "baseline")
        print(f"\n== {name} ({corpus.data_dir.name}, {embed_model}, k={k}) ==")
        print(format_table(rows, CORPUS_METRICS))
        report[name] = {"rows": dict(rows), "items": items + translated}
    return report


def calibrate(cache: Path, k: int, embed_models: list[str]) -> dict:
    """Per embedding model: the refusal threshold under which the most dev questions of both corpora end right
    (a correct answer kept; a shipped unanswerable question or a CMRC left-out one refused) while refusing at most
    5 % of the answerable ones of each corpus. Written to the package's calibration file."""
    from qa.answer import calibration

    thresholds = {}
    for model in embed_models:
        answerable, unanswerable, groups = [], [], []
        with calibration.overridden(0.0):
            for corpus in corpora().values():
                items = run_corpus(corpus, corpus_engines(corpus, cache, model), k, "dev")
                found = confidences(items)
                answerable += found[0]
                unanswerable += found[1]
                groups.append(found[0])
        threshold = best_threshold(answerable, unanswerable, groups=groups)
        refused = sum(c < threshold for c in unanswerable) / max(len(unanswerable), 1)
        falsely = sum(c < threshold for c, _ in answerable) / max(len(answerable), 1)
        print(f"{model}: threshold {threshold:.4f} refuses {refused:.3f} of {len(unanswerable)} unanswerable "
              f"and {falsely:.3f} of {len(answerable)} answerable dev questions")
        thresholds[model] = round(threshold, 4)
        calibration.save(model, thresholds[model])
    return thresholds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="qa eval", description=__doc__)
    parser.add_argument("--corpus", choices=(*corpora(), "all"), default="all")
    parser.add_argument("--questions", type=Path, help="score this question file against the configured engine")
    parser.add_argument("--k", type=int, default=5, help="passages retrieved per question")
    parser.add_argument("--out", type=Path, help="write the summaries and one record per question here (JSON)")
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="all")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="folder of the cached eval indexes")
    parser.add_argument("--embed-model", help="embedding model of the corpus indexes (default: the configured one)")
    parser.add_argument("--compare", action="store_true",
                        help="compare retrieval set-ups (BM25, dense, hybrid per embedding model) instead")
    parser.add_argument("--calibrate", action="store_true",
                        help="set the refusal threshold per embedding model from the dev splits of both corpora")
    parser.add_argument("--embed-models", help="comma-separated embedding models for --compare / --calibrate")
    parser.add_argument("--llm-base-url")
    parser.add_argument("--llm-model")
    parser.add_argument("--llm-api-key")
    parser.add_argument("--llm-timeout", type=float)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for option, variable in LLM_OPTIONS.items():
        if getattr(args, option) is not None:
            os.environ[variable] = str(getattr(args, option))
    models = args.embed_models.split(",") if args.embed_models else list(COMPARE_EMBED_MODELS)
    report: dict = {"run": {"split": args.split, "k": args.k}}
    try:
        if args.calibrate:
            report["calibration"] = calibrate(args.cache, args.k, models)
        elif args.questions or args.compare:
            questions = load_questions(args.questions or DEFAULT_QUESTIONS)
            if args.split != "all":
                questions = [q for q in questions if q.split == args.split]
            report["run"]["questions"] = str(args.questions or DEFAULT_QUESTIONS)
            if args.compare:
                rows = compare_setups(questions, args.k, models)
                print(format_table(rows, (*RETRIEVAL_METRICS, "latency_ms_p50")))
                report["compare"] = dict(rows)
            else:
                import qa  # after the environment is set: the default engine reads its Settings once

                qa.build_index()  # outside the timing: latency is that of answering, not of indexing
                items = evaluate_answers(questions, qa.ask, args.k)
                summary = summarise_by_group(items)
                print(format_table(summary_rows(summary)))
                print(f"latency ms: p50 {summary['latency_ms_p50'] or 0:.0f}, "
                      f"p95 {summary['latency_ms_p95'] or 0:.0f}; errors: {summary['errors']}")
                report.update(summary=summary, items=items)
        else:
            from qa.config import Settings

            model = args.embed_model or Settings.from_env().embed_model
            names = list(corpora()) if args.corpus == "all" else [args.corpus]
            report["corpora"] = corpus_tables(names, args.split, args.k, args.cache, model)
    except QuestionFileError as error:
        print(f"error: malformed question file: {error}", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
