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


def make_staff_docx(path) -> None:
    """Meeting minutes whose staff table states its units in the column headers only."""
    import docx

    document = docx.Document()
    document.add_heading("人力资源部会议纪要", level=1)
    document.add_paragraph("会议通报了各中心的人员和薪酬情况，并研究了下半年招聘计划。")
    rows = [("中心", "在岗人数（人）", "平均月薪（元）"), ("研发中心", "312", "18500"), ("销售中心", "146", "13200")]
    table = document.add_table(rows=len(rows), cols=3)
    for row, values in zip(table.rows, rows, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("会议要求下半年完成招聘40人。")
    document.save(str(path))


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    from qa.config import Settings
    from qa.engine import Engine

    data = tmp_path_factory.mktemp("tables")
    (data / "plan.md").write_text(PLAN_MD, encoding="utf-8")
    make_staff_docx(data / "minutes.docx")
    engine = Engine(Settings(data_dir=data, index_dir=tmp_path_factory.mktemp("tables-index")))
    engine.build_index(show_bar=False)
    return engine


def lead(answer) -> str:
    return re.sub(r"\[\d+\]", "", answer.lead)


@pytest.mark.parametrize("question, value, row", [
    ("公园提升的区级资金是多少？", "150万元", "公园提升（万元）：市级资金 350；区级资金 150；负责单位 园林局"),
    ("学校扩建的市级资金是多少？", "2800万元", "学校扩建（万元）：市级资金 2800；区级资金 900；负责单位 教育局"),
])
def test_a_markdown_table_cell_is_answered_with_the_caption_unit_citing_its_row(tables, question, value, row):
    answer = tables.ask(question)
    assert answer.answered and lead(answer).startswith(value), answer.text
    assert answer.citations[0].text == row


@pytest.mark.parametrize("question, value, row", [
    ("道路改造的工期是多少？", "180天", "道路改造：工期（天） 180；开工时间 3月"),
    ("研发中心的平均月薪是多少？", "18500元", "研发中心：在岗人数（人） 312；平均月薪（元） 18500"),
    ("销售中心的在岗人数是多少？", "146人", "销售中心：在岗人数（人） 146；平均月薪（元） 13200"),
])
def test_a_bare_figure_is_answered_with_the_unit_its_column_header_states(tables, question, value, row):
    answer = tables.ask(question)
    assert answer.answered and lead(answer).startswith(value), answer.text
    assert answer.citations[0].text == row
