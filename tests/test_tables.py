"""Tables in every format read into the one row representation, so "X的Y是多少" is answered from the cell at
row X, column Y, with the unit its caption or column header states, citing the row: documents made here, asked
through a real engine."""

from __future__ import annotations

import re

import pytest

# A Markdown work plan: the unit of the first table in the line above it, of the second in its column headers.
PLAN_MD = """# 2024年城建工作计划

今年全市安排城建项目三大类，资金由市、区两级财政共同承担。

## 重点项目

单位：万元

| 项目 | 市级资金 | 区级资金 | 负责单位 |
| --- | ---: | ---: | --- |
| 道路改造 | 1200 | 400 | 住建局 |
| 公园提升 | 350 | 150 | 园林局 |
| 学校扩建 | 2800 | 900 | 教育局 |

## 进度安排

| 项目 | 工期（天） | 开工时间 |
| --- | --- | --- |
| 道路改造 | 180 | 3月 |
| 公园提升 | 90 | 5月 |

各项目完工后由市住建局组织验收。
"""


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    from conftest import engine_over

    return engine_over(tmp_path_factory, "tables", {"plan.md": PLAN_MD})


def lead(answer) -> str:
    return re.sub(r"\[\d+\]", "", answer.text.split("\n\n")[0])


@pytest.mark.parametrize("question, value, row", [
    ("公园提升的区级资金是多少？", "150万元", "公园提升（万元）：市级资金 350；区级资金 150；负责单位 园林局"),
    ("学校扩建的市级资金是多少？", "2800万元", "学校扩建（万元）：市级资金 2800；区级资金 900；负责单位 教育局"),
])
def test_a_markdown_table_cell_is_answered_with_the_caption_unit_citing_its_row(tables, question, value, row):
    answer = tables.ask(question)
    assert answer.answered and lead(answer).startswith(value), answer.text
    assert answer.citations[0].text == row
