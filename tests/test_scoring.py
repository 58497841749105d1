"""The extractive answerer's lead: the asked quantity among a sentence's numbers (the total, not what was added;
the whole, not a part), and the lead, quotes and confidence an answer carries as fields; documents written here."""

from __future__ import annotations

import json

import pytest
from conftest import engine_over

from qa.types import Answer

DOCUMENTS = {
    "年报.md": "# 星川科技2023年年度报告\n\n"
               "## 研发情况\n\n"
               "报告期内公司持续加大研发投入，研发费用达到3.2亿元，同比增长18%。"
               "截至报告期末，公司累计拥有授权发明专利156项，报告期内新增27项。"
               "公司研发人员共计412人，占员工总数的31%。\n",
    "地铁.md": "# 东港市轨道交通建设通告\n\n"
               "东港地铁3号线一期工程全长21.5公里，共设车站17座，其中换乘站5座，计划于2026年底通车。"
               "一期工程总投资约148亿元，由东港轨道交通集团负责建设。\n\n"
               "东港地铁1号线自开通以来运行平稳，日均客流达到28万人次。\n",
    "会议.md": "# 东港市文旅工作会议纪要\n\n"
               "会议于3月12日在市政府第三会议室召开，由副市长主持。"
               "会议听取了各区文旅部门的工作汇报，部署了春季旅游旺季的安全检查工作。\n",
}


@pytest.fixture(scope="module")
def own_engine(tmp_path_factory):
    return engine_over(tmp_path_factory, "scoring-data", DOCUMENTS)


def test_the_total_is_answered_with_the_total_not_what_was_added(own_engine):
    answer = own_engine.ask("星川科技累计拥有多少项授权发明专利？")
    assert answer.answered
    assert answer.lead.startswith("156项"), answer.lead
    assert "27项" not in answer.lead


def test_a_count_is_answered_with_the_whole_not_the_part_said_with_qizhong(own_engine):
    answer = own_engine.ask("东港地铁3号线一期工程设多少座车站？")
    assert answer.answered
    assert answer.lead.startswith("17座"), answer.lead
    assert "5座" not in answer.lead


def test_a_part_the_question_names_is_answered_with_the_part(own_engine):
    answer = own_engine.ask("东港地铁3号线一期工程有多少座换乘站？")
    assert answer.answered
    assert answer.lead.startswith("5座"), answer.lead
    assert "17座" not in answer.lead


def test_an_answer_carries_its_lead_quotes_and_confidence_as_fields(own_engine):
    answer = own_engine.ask("星川科技累计拥有多少项授权发明专利？")
    assert isinstance(answer, Answer)
    assert answer.quotes and all(quote in answer.text for quote in answer.quotes)
    assert answer.lead and answer.lead in answer.text and answer.lead not in answer.quotes
    assert isinstance(answer.confidence, float)  # the score the refusal threshold is calibrated on
    refused = own_engine.ask("腾讯的总部在哪里？")  # a name no document contains
    assert not refused.answered and refused.confidence < answer.confidence
    assert refused.lead == "" and refused.quotes == []
    said = json.loads(json.dumps(answer.to_dict(), ensure_ascii=False))
    assert said["confidence"] == answer.confidence
    assert said["lead"] == answer.lead and said["quotes"] == answer.quotes
    assert said["text"] == answer.text and [c["quote"] for c in said["citations"]] == \
        [c.quote for c in answer.citations]
