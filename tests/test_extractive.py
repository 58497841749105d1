"""The extractive answerer on documents written here: which sentence it quotes, and with what around it."""

from __future__ import annotations

import pytest
from conftest import engine_over

from qa.answer import calibration
from qa.answer.extractive import sentences_of

DOCUMENTS = {
    "青石镇.md": "# 青石镇\n\n"
                 "青石镇是一座位于山谷中的小镇，以石板路闻名。"
                 "镇上的泉水常年不冻，冬季也有大量游客。因此青石镇又被人们称为暖泉镇。"
                 "镇北有一座古桥，建于清代。\n\n"
                 "1998年，镇上举办了第一届石雕节，吸引了三万名游客。此次活动让青石镇成为省级文化名镇。"
                 "镇政府随后修建了一座石雕博物馆。\n",
    "蓝斑鱼.md": "# 蓝斑鱼\n\n"
                 "蓝斑鱼（学名：），又名蓝点鱼、海蓝仔，是鲈形目的一种鱼。"
                 "本鱼分布于南海的珊瑚礁区，水深10至40米。"
                 "体呈淡蓝色，背部有黑色斑点，尾鳍金黄。"
                 "蓝斑鱼以小型甲壳类为食。\n",
    "灰鹭.md": "# 灰鹭\n\n"
               "灰鹭是一种涉禽，别名“长脚鹭”，分布于河口湿地。"
               "灰鹭以鱼类为食，繁殖季在春季。\n",
    "唱片.md": "# 星河唱片\n\n"
               "星河唱片成立于2001年，总部设在海港市。"
               "乐队在节目《夜空！星光》中第一次于公开场合演唱。"
               "该唱片公司在2010年停止营业。\n",
}


@pytest.fixture(scope="module")
def own_engine(tmp_path_factory):
    return engine_over(tmp_path_factory, "own-data", DOCUMENTS)


def quote_of(answer) -> str:
    return "".join(c.quote for c in answer.citations)


def test_a_why_question_answered_by_a_consequence_quotes_the_cause_before_it(own_engine):
    answer = own_engine.ask("为什么青石镇被称为暖泉镇？")
    assert answer.answered
    assert "因此青石镇又被人们称为暖泉镇" in answer.text
    assert "泉水常年不冻" in answer.text  # the cause, said by the sentence before
    assert "泉水常年不冻" in quote_of(answer)


def test_a_sentence_that_points_back_is_quoted_with_the_one_it_points_to(own_engine):
    answer = own_engine.ask("是什么活动让青石镇成为省级文化名镇？")
    assert answer.answered
    assert "第一届石雕节" in answer.text  # "此次活动" is only named by the sentence before
    assert "修建了一座石雕博物馆" not in answer.text  # not the sentence after


def test_a_sentence_that_stands_alone_is_quoted_alone(own_engine):
    answer = own_engine.ask("蓝斑鱼分布在哪里？")
    assert answer.answered
    assert "南海的珊瑚礁区" in answer.text
    assert "又名" not in answer.text


def test_an_alias_question_finds_the_sentence_that_says_it_with_another_word(own_engine):
    answer = own_engine.ask("蓝斑鱼的别名是什么？")
    assert answer.answered
    assert "蓝点鱼" in answer.text  # said with 又名, asked with 别名
    assert "长脚鹭" not in answer.text  # another article's 别名


def test_a_word_shared_in_part_picks_the_sentence(own_engine):
    # Which sentence is chosen, whatever the refusal threshold: sharing part of a word orders sentences and
    # adds nothing to the confidence.
    with calibration.overridden(0.0):
        answer = own_engine.ask("蓝斑鱼的身体是什么颜色？")
    assert answer.answered
    assert "淡蓝色" in answer.text  # 体呈…色 shares characters of 身体 and 颜色


def test_an_end_mark_inside_a_title_does_not_cut_the_sentence(own_engine):
    assert sentences_of("乐队在节目《夜空！星光》中第一次于公开场合演唱。该公司停业。") == [
        "乐队在节目《夜空！星光》中第一次于公开场合演唱。", "该公司停业。"]
    answer = own_engine.ask("乐队第一次在公开场合演唱是在什么节目？")
    assert answer.answered
    assert "《夜空！星光》" in answer.text
