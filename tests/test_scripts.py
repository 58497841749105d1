"""Both Chinese scripts: a question in one finds and answers from documents in the other, the answer shows the
documents' own characters and a refusal the question's."""

from __future__ import annotations

import pytest
from conftest import engine_over

from qa.text import is_traditional, simplified, tokens

# Invented documents: one in Traditional characters, one in Simplified ones.
TRADITIONAL_MILL = ("# 青溪水磨坊\n\n青溪水磨坊建於1872年，由陳姓兄弟出資興建。"
                    "磨坊的水輪直徑為六公尺，每天可碾穀物三百斤。\n\n1950年代以後，磨坊改為紀念館，對遊客開放。\n")
SIMPLIFIED_LANTERNS = ("# 白沙镇灯会\n\n白沙镇灯会始于清朝乾隆年间，每年元宵节举办。灯会上展出的花灯约有两千盏，"
                       "其中最大的龙灯长达四十米。\n\n灯会期间，镇上的茶馆会通宵营业。\n")


@pytest.fixture(scope="module")
def mixed_engine(tmp_path_factory):
    return engine_over(tmp_path_factory, "scripts", {"mill.md": TRADITIONAL_MILL, "lanterns.md": SIMPLIFIED_LANTERNS})


def test_simplified_keeps_every_offset_of_the_original():
    for text in (TRADITIONAL_MILL, SIMPLIFIED_LANTERNS, "髮型與發展、乾隆與乾燥，ABC１２３"):
        converted = simplified(text)
        assert len(converted) == len(text)
        assert simplified(converted) == converted
    assert simplified("磨坊的水輪直徑") == "磨坊的水轮直径"


def test_a_question_is_told_traditional_by_its_characters_not_by_one_shared_form():
    assert is_traditional("磨坊的水輪直徑是多少？")
    assert not is_traditional("磨坊的水轮直径是多少？")
    assert not is_traditional("乾隆年间的灯会在哪里举办？")  # 乾 is also a Simplified character
    assert not is_traditional("How large is the wheel?")


def test_tokens_are_the_same_in_both_scripts():
    assert tokens("磨坊的水輪直徑為六公尺") == tokens("磨坊的水轮直径为六公尺")


def test_a_traditional_question_answers_from_a_simplified_document(mixed_engine):
    answer = mixed_engine.ask("白沙鎮燈會上最大的龍燈有多長？")
    assert answer.answered, answer.text
    assert "四十米" in answer.text
    assert answer.citations and answer.citations[0].source == "lanterns.md"
    # The document's own characters in its quote and cited paragraph
    assert "龙灯长达四十米" in answer.citations[0].quote
    assert answer.citations[0].text in SIMPLIFIED_LANTERNS


def test_a_simplified_question_answers_from_a_traditional_document(mixed_engine):
    answer = mixed_engine.ask("青溪水磨坊建于哪一年？")
    assert answer.answered, answer.text
    assert "1872" in answer.text
    assert answer.citations and answer.citations[0].source == "mill.md"
    assert "青溪水磨坊建於1872年" in answer.citations[0].quote
    assert "建於1872年" in answer.text  # the quote as the document writes it, not converted
    assert answer.citations[0].text in TRADITIONAL_MILL


def test_a_traditional_question_is_answered_as_well_as_its_simplified_form(mixed_engine):
    traditional = mixed_engine.ask("青溪水磨坊的水輪直徑是多少？")
    simplified_form = mixed_engine.ask("青溪水磨坊的水轮直径是多少？")
    assert traditional.answered and simplified_form.answered
    assert "六公尺" in traditional.text and "六公尺" in simplified_form.text
    assert [c.quote for c in traditional.citations] == [c.quote for c in simplified_form.citations]
    assert "水輪直徑為六公尺" in traditional.citations[0].quote


def test_a_traditional_question_is_refused_in_traditional_characters(mixed_engine):
    refused = mixed_engine.ask("青溪水磨坊的股票代碼是什麼？")
    assert not refused.answered
    assert refused.text and simplified(refused.text) != refused.text  # Traditional characters in the message
    assert "没" not in refused.text and "文档" not in refused.text
    simplified_refusal = mixed_engine.ask("青溪水磨坊的股票代码是什么？")
    assert not simplified_refusal.answered
    assert simplified(simplified_refusal.text) == simplified_refusal.text
