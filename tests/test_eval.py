"""The evaluation: the question set stays true to the corpus, the metrics and file checks, one full run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from eval import run as eval_run
from qa import evaluation
from qa.corpus import load_corpus
from qa.text import normalise
from qa.types import Answer, Citation, Passage

ROOT = Path(__file__).resolve().parent.parent

DATA_DIR = ROOT / "data"
CORPUS_FILE = DATA_DIR / "hohhot-2024-district-interviews.txt"
CMRC = ROOT / "eval" / "cmrc2018-trial"

# Regression floors for the dev splits, a few points under what the engine measured when they were set
# (see the README's evaluation section): a guard against silent decay, not a target.
# Shipped page, dev split (paragraphs split 60/20/20; extractive answers, multilingual-e5-small, k=5, calibrated
# threshold): accuracy 0.939 (49 answerable: one miss is 0.020), evidence recall 1.000, hit@1 0.956, refusal 1.000
# (9 unanswerable), false refusal 0.041.
FLOORS = {"answer_accuracy": 0.90, "evidence_recall": 0.95, "hit_at_1": 0.90, "refusal_rate": 0.88}
CEILINGS = {"false_refusal_rate": 0.08}
ENGLISH_FLOOR = 0.84
# CMRC 2018 trial, dev split by document (answerable questions, and those whose document is left out asked
# again): accuracy 0.885, hit@1 0.992, refusal 0.790 (62 unanswerable: one miss is 0.016), false refusal 0.023.
# Over all 1,002 questions refusal is 0.907: this split's left-out articles are harder ones.
CMRC_FLOORS = {"answer_accuracy": 0.86, "hit_at_1": 0.96, "refusal_rate": 0.75}
CMRC_CEILINGS = {"false_refusal_rate": 0.07}
# CMRC 2018 trial, the 60 dev questions translated into English (questions-en.jsonl), over the whole pool:
# accuracy 0.450, hit@1 0.700, false refusal 0.133, left-out refusal 0.167 (0.350 accuracy when sentences were
# embedded at question time); one miss is 0.017.
CMRC_ENGLISH_FLOOR = 0.37


@pytest.fixture(scope="module")
def questions() -> list[eval_run.Question]:
    return eval_run.load_questions(eval_run.DEFAULT_QUESTIONS)


@pytest.fixture(scope="module")
def corpus():
    documents, warnings = load_corpus(DATA_DIR)
    assert not warnings
    return documents


# ------------------------------------------------------------------------------------- question set


def test_question_set_meets_the_minimums(questions):
    types = Counter(q.type for q in questions)
    assert len(questions) >= 90
    assert set(types) == set(eval_run.QUESTION_TYPES)
    assert types["unanswerable"] >= 12
    assert sum(1 for q in questions if q.type == "crosslingual" and q.lang == "en") >= 12
    assert all(q.lang == "en" for q in questions if q.type == "crosslingual")
    assert 12 <= sum(1 for q in questions if q.split == "test") <= 20
    assert {q.type for q in questions if q.split == "test"} == set(eval_run.QUESTION_TYPES)
    assert len({q.id for q in questions}) == len(questions)


def test_every_evidence_string_lies_in_exactly_one_article(questions, corpus):
    paragraphs = [(p.article_id, normalise(p.text)) for document in corpus for p in document.paragraphs]
    articles_with_evidence = set()
    for question in questions:
        for evidence in question.evidence:
            # One article; a fragment the page printed twice may hold it in a second paragraph of it.
            holders = {article for article, text in paragraphs if normalise(evidence) in text}
            assert len(holders) == 1, (question.id, evidence, len(holders))
            articles_with_evidence |= holders
    assert articles_with_evidence == {a.id for document in corpus for a in document.articles}


def test_every_answer_alternative_occurs_in_the_corpus(questions):
    text = normalise(CORPUS_FILE.read_text(encoding="utf-8"))
    for question in questions:
        if question.type == "reasoning":  # a computed answer (a sum, a rank) need not be printed
            continue
        for group in question.answers:
            for alternative in group:
                assert normalise(alternative) in text, (question.id, alternative)


def test_broken_paragraph_questions_need_the_repair(questions):
    printed_lines = [normalise(line) for line in CORPUS_FILE.read_text(encoding="utf-8").splitlines()]
    for question in (q for q in questions if q.type == "broken-paragraph"):
        assert any(not any(normalise(e) in line for line in printed_lines) for e in question.evidence), (
            question.id
        )


def test_meta_questions_about_bylines_have_no_evidence_and_unanswerable_have_nothing(questions):
    for question in questions:
        if not question.answerable:
            assert question.answers == () and question.evidence == ()
        else:
            assert question.answers


# ------------------------------------------------------------------------------------ file checks

GOOD = {
    "id": "x1",
    "question": "新城区有多少个重点项目？",
    "answers": [["128"]],
    "evidence": [],
    "answerable": True,
    "type": "single",
    "lang": "zh",
}


@pytest.mark.parametrize(
    ("bad_line", "says"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps(["a list"]), "JSON object"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "answers"}), "missing field(s) answers"),
        (json.dumps({**GOOD, "evidnce": []}), "unknown field(s) evidnce"),
        (json.dumps({**GOOD, "answers": ["128"]}), "'answers' must be"),
        (json.dumps({**GOOD, "answers": [[]]}), "'answers' must be"),
        (json.dumps({**GOOD, "type": "trivia"}), "'type' must be one of"),
        (json.dumps({**GOOD, "lang": "fr"}), "'lang' must be one of"),
        (json.dumps({**GOOD, "split": "validation"}), "'split' must be one of"),
        (json.dumps({**GOOD, "answerable": "yes"}), "'answerable' must be true or false"),
        (json.dumps({**GOOD, "answerable": False}), "exactly when 'type' is unanswerable"),
        (json.dumps({**GOOD, "answerable": False, "type": "unanswerable"}), "must have empty"),
        (json.dumps({**GOOD, "question": " "}), "'question' must be a non-empty string"),
        (json.dumps({**GOOD, "id": "x0"}), "id 'x0' already used on line 1"),
    ],
)
def test_a_malformed_question_file_exits_2_naming_the_line(tmp_path, capsys, bad_line, says):
    path = tmp_path / "questions.jsonl"
    first = json.dumps({**GOOD, "id": "x0"}, ensure_ascii=False)
    path.write_text(f"{first}\n\n{bad_line}\n", encoding="utf-8")
    assert eval_run.main(["--questions", str(path)]) == 2
    error = capsys.readouterr().err
    assert "line 3" in error and says in error


def test_an_empty_or_missing_question_file_exits_2(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    assert eval_run.main(["--questions", str(empty)]) == 2
    assert eval_run.main(["--questions", str(tmp_path / "absent.jsonl")]) == 2
    assert "no questions" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- metrics


def test_answer_matching_normalises_both_sides():
    assert eval_run.answer_correct("全年实施 １２８ 个项目", [["128"]])
    assert eval_run.answer_correct("打造“经”字招牌", [["经字招牌"], ["招牌"]])
    assert eval_run.answer_correct("TOTAL 15000P", [["15000p"]])
    assert eval_run.answer_correct("呼石化、中环", [["呼石化"], ["中环", "鑫华"]])
    assert not eval_run.answer_correct("呼石化", [["呼石化"], ["中环"]])


def test_evidence_recall_rank_and_citation_support():
    passages = ["甲乙丙丁", "全年实施128个区级重点项目建设", "对42个老旧小区实施改造"]
    evidence = ["实施128个区级", "42个老旧小区", "不在任何段落"]
    assert eval_run.evidence_recall(passages, evidence) == pytest.approx(2 / 3)
    assert eval_run.first_evidence_rank(passages, evidence) == 2
    assert eval_run.first_evidence_rank(passages, ["不在任何段落"]) is None
    assert eval_run.supported_citations(passages, evidence) == 2


def test_percentile_interpolates():
    assert eval_run.percentile([], 0.5) is None
    assert eval_run.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert eval_run.percentile([0.0, 10.0], 0.95) == pytest.approx(9.5)


def _passage(text: str) -> Passage:
    return Passage(text=text, title="t", district="新城区", paragraph=1, paragraph_id=text[:4], score=1.0)


def _citation(text: str) -> Citation:
    return Citation(
        n=1,
        title="t",
        district="新城区",
        paragraph=1,
        paragraph_id=text[:4],
        text=text,
        quote=text,
        score=1.0,
    )


def test_scores_and_summary_on_hand_made_answers():
    key = "全年实施128个区级重点项目建设"
    make = eval_run.Question
    questions = [
        make("a", "重点项目几个？", (("128",),), (key,), True, "single", "zh"),
        make("b", "老旧小区几个？", (("42",),), ("对42个老旧小区实施改造",), True, "single", "zh"),
        make("c", "GDP目标？", (), (), False, "unanswerable", "zh"),
        make("d", "Age?", (), (), False, "unanswerable", "en"),
        make("e", "Boom?", (("1",),), ("anything at all",), True, "crosslingual", "en"),
    ]
    answers = {
        "重点项目几个？": Answer(
            "q",
            "全年实施128个区级重点项目建设。[1]",
            True,
            citations=[_citation(key), _citation("无关段落")],
            passages=[_passage(key), _passage("无关段落")],
        ),
        "老旧小区几个？": Answer(
            "q", "", False, passages=[_passage("无关"), _passage("对42个老旧小区实施改造")]
        ),
        "GDP目标？": Answer("q", "文中没有提到。", False),
        "Age?": Answer("q", "He is 50.", True),
    }

    def ask(question: str, k: int) -> Answer:
        if question == "Boom?":
            raise RuntimeError("engine fell over")
        return answers[question]

    items = eval_run.evaluate_answers(questions, ask, k=5)
    assert items[4]["error"] == "RuntimeError: engine fell over" and items[4]["scores"]["correct"] is False
    summary = eval_run.summarise_by_group(items)
    assert summary["answer_accuracy"] == pytest.approx(1 / 3)
    assert summary["evidence_recall"] == pytest.approx(2 / 3)
    assert summary["hit_at_1"] == pytest.approx(1 / 3)
    assert summary["mrr"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert summary["citation_precision"] == pytest.approx(1 / 2)
    assert summary["refusal_rate"] == pytest.approx(1 / 2)
    assert summary["false_refusal_rate"] == pytest.approx(2 / 3)
    assert summary["errors"] == 1
    assert summary["by_type"]["unanswerable"]["answer_accuracy"] is None
    assert summary["by_lang"]["en"]["questions"] == 2
    table = eval_run.format_table(eval_run.summary_rows(summary))
    assert "type:crosslingual" in table and "lang:en" in table


# ------------------------------------------------------------------------------ span sets, baseline


def test_a_span_set_is_split_by_document_and_every_fourth_document_is_left_out():
    questions = evaluation.load_span_questions(CMRC / "questions.jsonl")
    assert len(questions) == 1000  # 1,002 records, two of which have an empty question
    by_document: dict[str, set[str]] = {}
    for question in questions:
        by_document.setdefault(question.document, set()).add(question.split)
    assert all(len(splits) == 1 for splits in by_document.values())  # a document never straddles splits
    for split, share in (("train", 0.6), ("dev", 0.2), ("test", 0.2)):
        found = sum(1 for splits in by_document.values() if split in splits) / len(by_document)
        assert share - 0.06 < found < share + 0.06, (split, found)
    left_out = evaluation.left_out_documents(q.document for q in questions)
    assert len(left_out) == len(by_document) // 4
    assert evaluation.left_out_documents(reversed([q.document for q in questions])) == left_out


def test_every_corpus_is_split_by_document_the_same_way_in_every_run():
    names = [f"文档{number}.md" for number in range(300)]
    first = [evaluation.split_of(name) for name in names]
    assert first == [evaluation.split_of(name) for name in list(reversed(names))[::-1]]
    assert {split: first.count(split) for split in evaluation.SPLITS} == pytest.approx(
        {"train": 180, "dev": 60, "test": 60}, abs=20)
    for name in ("cmrc", "drcd"):
        questions = eval_run.corpora()[name].load()
        splits_of: dict[str, set[str]] = {}
        for question in questions:
            splits_of.setdefault(question.document, set()).add(question.split)
        assert all(len(splits) == 1 for splits in splits_of.values())
        assert {split for splits in splits_of.values() for split in splits} == set(evaluation.SPLITS)


def test_the_shipped_page_is_split_by_the_paragraph_its_evidence_lies_in(questions):
    split = evaluation.split_by_evidence(questions, DATA_DIR)
    assert [q.id for q in split] == [q.id for q in questions]
    assert {q.split for q in split if q.answerable} == set(evaluation.SPLITS)
    assert {q.split for q in split if not q.answerable} == set(evaluation.SPLITS)
    by_evidence: dict[str, set[str]] = {}
    for question in split:
        if question.evidence:
            by_evidence.setdefault(normalise(question.evidence[0]), set()).add(question.split)
    assert all(len(splits) == 1 for splits in by_evidence.values())
    assert split == evaluation.split_by_evidence(questions, DATA_DIR)


def test_the_lead_span_is_what_comes_before_the_quote():
    assert evaluation.lead_span("128个[1]\n\n全年实施128个项目。[1]", ["全年实施128个项目。"]) == "128个[1]"
    assert evaluation.lead_span("全年实施128个项目。[1]", ["全年实施128个项目。"]) == "全年实施128个项目。[1]"


def test_the_baseline_answers_every_question_from_the_top_file(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# 甲\n\n甲公司成立于1990年。甲公司总部设在北京。\n", encoding="utf-8")
    (docs / "b.md").write_text("# 乙\n\n乙河全长300公里。乙河流经三个省。\n", encoding="utf-8")
    questions = tmp_path / "q.jsonl"
    rows = [{"id": "1", "document": "a.md", "question": "甲公司总部设在哪里？", "answers": ["北京"]},
            {"id": "2", "document": "b.md", "question": "乙河全长多少？", "answers": ["300公里"]}]
    questions.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    corpus = evaluation.EvalCorpus("t", docs, questions, span=True)
    items = evaluation.baseline_items(corpus)
    answerable = [i for i in items if i["answerable"]]
    assert [i["answer"] for i in answerable] == ["甲公司总部设在北京。", "乙河全长300公里。"]
    assert all(i["scores"]["correct"] and i["scores"]["hit_at_1"] == 1.0 for i in answerable)
    assert all(not i["scores"]["refused_correctly"] for i in items if not i["answerable"])  # it never refuses


def test_calibration_ends_the_most_questions_right_within_the_false_refusal_budget():
    answerable = [(0.9, True)] * 90 + [(0.2, False)] * 3 + [(0.3, True)] * 2 + [(0.6, True)] * 5
    unanswerable = [0.1, 0.25, 0.35, 0.8]
    threshold = evaluation.best_threshold(answerable, unanswerable)
    # Refusing below 0.3 ends two unanswerable questions right and loses no correct answer; refusing the one at
    # 0.35 too would lose the two correct answers at 0.3; refusing the 0.6 answers, 10 % of the answerable.
    assert 0.25 < threshold <= 0.3
    assert evaluation.best_threshold([(0.5, True)] * 10, []) <= 0.5
    # One refusal gained is not worth two correct answers lost, however few the unanswerable questions are.
    assert evaluation.best_threshold([(0.9, True)] * 98 + [(0.4, True)] * 2, [0.45]) <= 0.4
    assert evaluation.best_threshold([(0.9, True)] * 98 + [(0.4, True)] * 2, [0.45, 0.46, 0.47]) > 0.47


def test_calibration_keeps_the_false_refusal_budget_on_each_corpus():
    large = [(0.9, True)] * 190
    small = [(0.4, True)] * 8 + [(0.9, True)] * 2  # 8 of 10 answerable would be refused at 0.5
    unanswerable = [0.3] + [0.45] * 10
    pooled = evaluation.best_threshold(large + small, unanswerable)
    assert pooled > 0.4  # over the union, 8 of 200 (4 %) fits the budget
    assert evaluation.best_threshold(large + small, unanswerable, groups=[large, small]) <= 0.4


# ------------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def cmrc_engines():
    """The CMRC trial corpus indexed once and cached where `qa eval` keeps it (keyed by corpus hash and model):
    the first run embeds it, later runs and `qa eval` reuse it."""
    return evaluation.corpus_engines(eval_run.corpora()["cmrc"], eval_run.DEFAULT_CACHE, "multilingual-e5-small")


def _check(summary: dict, floors: dict, ceilings: dict):
    for metric, floor in floors.items():
        assert summary[metric] >= floor, (metric, summary[metric], floor)
    for metric, ceiling in ceilings.items():
        assert summary[metric] <= ceiling, (metric, summary[metric], ceiling)


def test_the_shipped_dev_split_scores_at_least_the_floors(built_index):
    corpus = eval_run.corpora()["shipped"]
    items = evaluation.run_corpus(corpus, {"all": built_index}, 5, "dev")
    summary = evaluation.summarise(items)
    assert summary["errors"] == 0 and summary["questions"] == sum(1 for q in corpus.load() if q.split == "dev")
    _check(summary, FLOORS, CEILINGS)
    english = evaluation.summarise([i for i in items if i["lang"] == "en"])
    assert english["answer_accuracy"] >= ENGLISH_FLOOR and english["false_refusal_rate"] < 1.0
    item = items[0]
    assert {"question", "answer", "answered", "citations", "passages", "scores"} <= set(item)


def test_the_cmrc_dev_split_scores_at_least_the_floors_and_beats_the_baseline(cmrc_engines):
    corpus = eval_run.corpora()["cmrc"]
    items = evaluation.run_corpus(corpus, cmrc_engines, 5, "dev")
    summary = evaluation.summarise(items)
    assert summary["errors"] == 0
    _check(summary, CMRC_FLOORS, CMRC_CEILINGS)
    baseline = evaluation.summarise(evaluation.baseline_items(corpus, "dev"))
    assert summary["answer_accuracy"] > baseline["answer_accuracy"]


def test_the_cmrc_english_questions_score_at_least_their_floor(cmrc_engines):
    corpus = eval_run.corpora()["cmrc"]
    items = evaluation.run_corpus(corpus, cmrc_engines, 5, "all", translated=True)
    summary = evaluation.summarise([i for i in items if i["answerable"]])
    assert summary["errors"] == 0 and {i["lang"] for i in items} == {"en"}
    assert summary["answer_accuracy"] >= CMRC_ENGLISH_FLOOR, summary["answer_accuracy"]


def test_the_eval_cache_lives_outside_the_index_folder_the_page_serves():
    """`make test` then `make run`: a cache inside index/ would make that folder someone else's files."""
    from qa.config import Settings

    assert not eval_run.DEFAULT_CACHE.resolve().is_relative_to(Settings().index_dir.resolve())


def test_an_eval_over_a_slice_of_drcd_answers_traditional_questions_and_refuses_left_out_ones(tmp_path):
    """Four DRCD articles and their questions: the Traditional corpus runs like the others."""
    drcd = eval_run.corpora()["drcd"]
    documents = sorted({q.document for q in drcd.load()})[:4]
    (tmp_path / "docs").mkdir()
    for name in documents:
        (tmp_path / "docs" / name).write_bytes((drcd.data_dir / name).read_bytes())
    lines = [line for line in drcd.questions_file.read_text(encoding="utf-8").splitlines()
             if json.loads(line)["document"] in documents]
    (tmp_path / "questions.jsonl").write_text("\n".join(lines), encoding="utf-8")
    corpus = evaluation.EvalCorpus("drcd-slice", tmp_path / "docs", tmp_path / "questions.jsonl", span=True)
    engines = evaluation.corpus_engines(corpus, tmp_path / "cache", "multilingual-e5-small")
    items = evaluation.run_corpus(corpus, engines)
    summary = evaluation.summarise(items)
    assert summary["errors"] == 0 and summary["questions"] > len(lines)  # the left-out ones asked again
    assert summary["answer_accuracy"] >= 0.5 and summary["refusal_rate"] >= 0.5, summary
    refusal = next(i for i in items if not i["answered"])
    assert "没" not in refusal["answer"]  # a Traditional question is refused in Traditional characters


def test_the_shipped_figures_come_from_a_frozen_copy_that_an_upload_into_data_does_not_change(tmp_path, monkeypatch,
                                                                                            questions):
    # A checkout whose data/ holds the shipped page and a document a user uploaded.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / CORPUS_FILE.name).write_bytes(CORPUS_FILE.read_bytes())
    (tmp_path / "data" / "canteens.md").write_text("# 社区食堂\n\n赛罕区计划新建3个社区食堂。\n", encoding="utf-8")
    monkeypatch.setattr(eval_run, "ROOT", tmp_path)
    shipped = eval_run.corpora()["shipped"]
    documents, _ = load_corpus(shipped.data_dir)
    titles = [article.title for document in documents for article in document.articles]
    assert "社区食堂" not in titles and len(titles) == 6
    # and the questions' evidence is all in that copy
    text = normalise("".join(p.text for document in documents for p in document.paragraphs))
    assert all(normalise(evidence) in text for q in questions for evidence in q.evidence)
