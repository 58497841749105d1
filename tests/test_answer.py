"""What qa.ask answers: the key fact first, citations that say it, refusals, follow-ups and bad input."""

from __future__ import annotations

import pytest

import qa


def test_the_readme_question_is_answered_with_128_and_cites_the_paragraph_that_says_it(engine):
    answer = qa.ask("新城区今年计划实施多少个区级重点项目？")
    assert answer.answered and answer.mode == "extractive"
    assert answer.text.splitlines()[0] == "128个[1]"  # the number with its unit leads
    [citation] = answer.citations
    assert answer.text.count(citation.quote) == 1  # the supporting sentence, quoted once
    assert "全年实施128个区级重点项目建设" in citation.quote and citation.quote in citation.text
    assert citation.district == "新城区" and citation.paragraph == 2
    assert citation.title.startswith("牢固树立")


def test_every_citation_quote_is_in_its_paragraph_and_no_paragraph_is_cited_twice(engine):
    for question in ["经开区今年500万元以上项目和基础设施项目各有多少个？",
                     "和林格尔新区的总算力规模目标是多少，还要引进多少家人力资源头部企业？",
                     "玉泉区要建设多少亩高标准农田？"]:
        answer = engine.ask(question)
        assert answer.answered
        assert len({c.paragraph_id for c in answer.citations}) == len(answer.citations)
        for citation in answer.citations:
            assert all(part in citation.text for part in citation.quote.split("。") if part)
            assert f"[{citation.n}]" in answer.text


def test_a_question_whose_parts_sit_in_two_articles_cites_both(engine):
    answer = engine.ask("新城区和回民区今年各安排了多少个重点项目？")
    assert answer.answered and "128" in answer.text and "72" in answer.text
    assert {c.district for c in answer.citations} == {"新城区", "回民区"}


def test_simple_arithmetic_over_two_facts(engine):
    answer = engine.ask("新城区的区级重点项目比回民区的重点项目多几个？")
    assert answer.answered and "56" in answer.text


def test_who_interviewed_whom_is_answered_from_the_byline(engine):
    answer = engine.ask("谁采访了殷树刚？")
    assert answer.answered and "刘沙沙" in answer.text
    [citation] = answer.citations
    assert citation.paragraph == 0 and "●本报记者 刘沙沙" in citation.text
    english = engine.ask("Who interviewed Yin Shugang?")
    assert english.answered and "刘沙沙" in english.text


def test_an_english_question_is_answered_from_the_chinese_text(engine):
    answer = engine.ask("How many key projects has Huimin District lined up for 2024?")
    assert answer.answered and "72" in answer.text
    assert answer.citations[0].district == "回民区"


@pytest.mark.parametrize(
    "question",
    [
        "新城区今年的GDP增长目标是多少？",
        "殷树刚今年多大年纪？",
        "玉泉区计划实施多少个区级重点项目？",  # 128 is 新城区's figure
        "回民区2025年计划实施多少个重点项目？",
        "新城医院建成后有多少张床位？",
        "玉泉区建设高标准农田的总投资是多少？",
        # the school count is another district's; 新建/续建 are tagged as names in some article's text
        "玉泉区今年要新建、续建几所中小学？",
    ],
)
def test_it_refuses_rather_than_guesses(engine, question):
    answer = engine.ask(question)
    assert not answer.answered
    assert answer.text.startswith("文档中")
    assert answer.citations == [] and answer.passages  # the closest passages are still shown


def test_an_age_question_is_not_answered_with_a_date(engine):
    answer = engine.ask("How old is Yin Shugang, head of Xincheng District?")
    assert not answer.answered and answer.citations == []
    assert "日" not in answer.text


def test_a_refusal_says_what_the_documents_do_not_mention_in_the_questions_language(engine):
    assert engine.ask("新城区今年的GDP增长目标是多少？").text == "文档中没有提到 GDP。"
    english = engine.ask("What is the GDP growth target of Xincheng District?")
    assert not english.answered and english.text == "The documents do not mention GDP."


def test_a_money_question_leads_with_the_amount_not_a_count(engine):
    answer = engine.ask("经开区基础设施总投资多少？")
    assert answer.answered and answer.text.splitlines()[0].startswith("38.6亿元")


def test_a_follow_up_with_no_earlier_question_says_why(engine):
    answer = engine.ask("回民区呢？")
    assert not answer.answered and "追问" in answer.notice


def test_a_follow_up_uses_the_conversation(engine):
    history = [
        {"role": "user", "content": "新城区今年计划实施多少个重点项目？"},
        {"role": "assistant", "content": "全年实施128个区级重点项目建设[1]"},
    ]
    answer = engine.ask("回民区呢？", history=history)
    assert answer.answered and "72" in answer.text
    assert answer.citations[0].district == "回民区"
    assert answer.question == "回民区呢？"


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_an_empty_question_is_refused_with_a_clear_message(engine, question):
    with pytest.raises(ValueError, match="empty"):
        qa.ask(question)


def test_a_huge_question_is_cut_with_a_notice(engine):
    question = "请详细说明。" * 800 + "新城区今年计划实施多少个区级重点项目？"  # a paste asks at its end
    answer = engine.ask(question)
    assert str(len(question)) in answer.notice and "最后" in answer.notice, answer.notice
    assert answer.answered and "128" in answer.text
