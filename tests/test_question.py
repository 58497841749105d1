"""Question analysis: the expected answer type, follow-ups made standalone, and a follow-up with no question."""

from __future__ import annotations

import pytest

from qa.names import NameIndex
from qa.question import analyse, answer_type
from qa.types import Article, Paragraph


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("新城区今年计划实施多少个重点项目？", "number"),
        ("地球体育场能容纳多少名观众？", "number"),
        ("匈牙利工厂建设需要多久？", "duration"),
        ("尤金袋鼠最初是何时被发现的？", "date"),
        ("莫斯科公国在哪一年控制了此城镇？", "date"),
        ("那须盐原车站的经营方是谁？", "person"),
        ("潘仕成的祖籍在哪里？", "place"),
        ("游戏的模式有哪些？", "list"),
        ("为什么金氏能影响朝政？", "reason"),
        ("四川地区，将五月艾称之为什么？", "other"),
        ("什么是三鹰球？", "definition"),
        ("狭叶艾纳香能否进行人工栽培？", "yes/no"),
        ("How many key projects are planned?", "number"),
        ("When was the museum opened?", "date"),
        ("Who interviewed him?", "person"),
        ("哪两位受访者提到了这个目标？", "person"),
        ("这两个工厂分别是什么规模？", "number"),
        ("Which companies will sign the contract?", "organisation"),
        ("What capacity will the plant have?", "number"),
    ],
)
def test_the_expected_answer_type(question, kind):
    assert answer_type(question) == kind


@pytest.fixture(scope="module")
def names():
    articles = [Article(id="a1", title="甲报告", source="a.txt", metadata={"district": "回民区"}),
                Article(id="a2", title="乙报告", source="b.txt", metadata={"district": "新城区"}),
                Article(id="a3", title="比亚迪", source="c.txt")]
    paragraphs = [Paragraph(id=f"p{i}", article_id=a, number=1, text="今年实施重点项目。")
                  for i, a in enumerate(("a1", "a2", "a3"))]
    return NameIndex.build(articles, paragraphs)


def test_a_follow_up_takes_the_previous_question_with_the_new_entity(names):
    history = [{"role": "user", "content": "新城区今年计划实施多少个重点项目？"},
               {"role": "assistant", "content": "128个"}]
    analysed = analyse("那回民区呢？", history, names)
    assert analysed.standalone == "回民区今年计划实施多少个重点项目？"
    assert analysed.answer_type == "number" and analysed.entities[0].canonical == "回民区"
    chained = analyse("新城区呢？", [*history, {"role": "user", "content": "那回民区呢？"}], names)
    assert chained.standalone == "新城区今年计划实施多少个重点项目？"


def test_a_follow_up_naming_something_unknown_still_replaces_the_subject(names):
    history = [{"role": "user", "content": "比亚迪今年投资多少亿元？"}]
    assert analyse("那腾讯呢？", history, names).standalone == "腾讯今年投资多少亿元？"


def test_a_follow_up_without_an_earlier_question_says_why(names):
    analysed = analyse("回民区呢？", [], names)
    assert analysed.standalone == "回民区" and "追问" in analysed.notice
    assert "follow-up" in analyse("What about Huimin?", None, names).notice


def test_an_english_question_carries_chinese_words_to_search_and_match(names):
    from qa.question import analyse

    question = analyse("How many parking lots will the New Area build?", names=names)
    assert question.language == "en"
    assert any("停车场" in options for _, options in question.translations)
    assert "停车场" in question.keywords  # a telling phrase is searched for
    assert not any(len(word) == 1 for word in question.keywords)
    assert question.units == ()  # "New Area" names a place; it does not ask for an area
    assert analyse("新城区今年计划实施多少个重点项目？", names=names).translations == []
