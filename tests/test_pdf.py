"""A four-page annual report made as a PDF in the test (a ruled table, a running header, a footer with page
numbers, a sentence crossing a page end), read, indexed and asked as a user would."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from qa.corpus import load_corpus
from qa.text import normalise

HEADER = "XX股份有限公司 2023年年度报告"
FOOTER = "第 {n} 页 共 {pages} 页 · 证券代码：300999"
TITLE_PROPERTY = "XX股份有限公司2023年年度报告"
TABLE = [["项目", "2023年", "2022年", "同比变动"],
         ["营业收入（亿元）", "38.60", "31.21", "23.7%"],
         ["研发投入（亿元）", "2.87", "2.11", "36.0%"],
         ["基本每股收益（元）", "1.38", "1.05", "31.4%"]]
# The sentence cut by the end of page 2: its first part at the foot of page 2, the rest at the head of page 3.
BEFORE_BREAK = "报告期内公司新签订单继续保持增长，报告期末在手订单金额约为42亿元，为"
AFTER_BREAK = "未来三年的业绩增长提供了有力保障。"


def write_lines(page, x: float, y: float, text: str, size: float = 11, per_line: int = 40) -> float:
    """A paragraph set line by line as a typesetter does (first line indented); returns the y below it."""
    import pymupdf

    for i in range(0, len(text), per_line):
        page.insert_text(pymupdf.Point(x + (22 if i == 0 else 0), y), text[i:i + per_line], fontname="china-s",
                         fontsize=size)
        y += size * 1.6
    return y + 12


def make_annual_report(path: Path, pages: int = 4) -> None:
    import pymupdf

    pdf = pymupdf.open()

    def new_page(n: int):
        page = pdf.new_page(width=595, height=842)
        page.insert_text((50, 40), HEADER, fontname="china-s", fontsize=9)
        page.draw_line((50, 46), (545, 46))
        page.insert_text((200, 815), FOOTER.format(n=n, pages=pages), fontname="china-s", fontsize=9)
        return page

    page = new_page(1)
    page.insert_text((180, 200), "2023年年度报告", fontname="china-s", fontsize=24)
    write_lines(page, 50, 300, "本公司董事会、监事会及董事、监事、高级管理人员保证年度报告内容的真实、准确、完整，"
                               "不存在虚假记载、误导性陈述或者重大遗漏。")
    page = new_page(2)
    page.insert_text((50, 90), "一、主要会计数据和财务指标", fontname="china-s", fontsize=15)
    y = write_lines(page, 50, 120, "报告期内，公司持续加大研发投入，主营业务保持稳定增长，主要会计数据如下")
    widths, top = [170, 100, 100, 100], y + 4
    for r, row in enumerate(TABLE):  # a ruled table: every cell boxed, as a report's tables are
        x = 50
        for width, cell in zip(widths, row, strict=True):
            page.draw_rect(pymupdf.Rect(x, top + r * 24, x + width, top + (r + 1) * 24))
            page.insert_text((x + 4, top + r * 24 + 16), cell, fontname="china-s", fontsize=10)
            x += width
    write_lines(page, 50, top + len(TABLE) * 24 + 30,
                "公司营业收入的增长主要来自新能源业务板块，该板块收入同比增长超过四成，成为公司最重要的增长引擎。")
    write_lines(page, 50, 760, BEFORE_BREAK)
    page = new_page(3)
    y = write_lines(page, 28, 80, AFTER_BREAK)  # the rest of the cut sentence: no indent
    page.insert_text((50, y + 10), "二、经营情况讨论与分析", fontname="china-s", fontsize=15)
    write_lines(page, 50, y + 40, "公司全年研发人员增加至612人，占员工总数的比例为18.5%，新增授权发明专利37项。")
    page = new_page(4)
    page.insert_text((50, 90), "三、未来发展展望", fontname="china-s", fontsize=15)
    write_lines(page, 50, 120, "2024年公司计划在华东地区新建一座智能制造基地，预计新增产能约30%。")
    pdf.set_metadata({"title": TITLE_PROPERTY, "author": "Administrator"})
    pdf.save(str(path))


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("annual-report")
    make_annual_report(folder / "report.pdf")
    return folder


@pytest.fixture(scope="module")
def report_engine(report_folder, tmp_path_factory):
    from qa.config import Settings
    from qa.engine import Engine

    engine = Engine(Settings(data_dir=report_folder, index_dir=tmp_path_factory.mktemp("annual-report-index")))
    engine.report = engine.build_index(show_bar=False)
    return engine


def read_report(folder: Path):
    documents, warnings = load_corpus(folder)
    assert warnings == [] and len(documents) == 1
    return documents[0]


def test_each_table_row_is_one_paragraph_with_its_column_headers_on_its_page(report_folder):
    document = read_report(report_folder)
    rows = {p.text: p.page for p in document.paragraphs if "：2023年" in p.text}
    assert rows == {"营业收入（亿元）：2023年 38.60；2022年 31.21；同比变动 23.7%": 2,
                    "研发投入（亿元）：2023年 2.87；2022年 2.11；同比变动 36.0%": 2,
                    "基本每股收益（元）：2023年 1.38；2022年 1.05；同比变动 31.4%": 2}
    before = next(p for p in document.paragraphs if p.text.startswith("报告期内，公司持续加大研发投入"))
    assert before.text == "报告期内，公司持续加大研发投入，主营业务保持稳定增长，主要会计数据如下"  # no cell glued on


def test_no_paragraph_holds_the_running_header_the_footer_or_a_page_number(report_folder):
    document = read_report(report_folder)
    for paragraph in document.paragraphs:
        text = normalise(paragraph.text)
        assert normalise(HEADER) not in text and "证券代码" not in text and "共4页" not in text.replace(" ", "")


def test_the_sentence_cut_by_a_page_end_is_whole_and_on_the_page_it_starts(report_folder):
    document = read_report(report_folder)
    whole = [p for p in document.paragraphs if AFTER_BREAK in p.text]
    assert [(p.text, p.page) for p in whole] == [(BEFORE_BREAK + AFTER_BREAK, 2)]


def test_the_title_property_names_the_document_and_a_default_author_is_not_shown(report_folder):
    article = read_report(report_folder).articles[0]
    assert article.title == TITLE_PROPERTY
    assert "author" not in article.metadata and "Administrator" not in str(article.metadata)


@pytest.mark.parametrize("footer", ["- 1 -", "1/12", "第1页", "第 1 页 共 12 页", "Page 1 of 12"])
def test_a_page_number_in_the_margin_of_a_one_page_file_is_left_out(tmp_path, footer):
    import pymupdf

    pdf = pymupdf.open()
    page = pdf.new_page(width=595, height=842)
    page.insert_text((50, 100), "公司全年实现营业收入52亿元。", fontname="china-s", fontsize=11)
    page.insert_text((270, 815), footer, fontname="china-s", fontsize=9)
    pdf.save(str(tmp_path / "a.pdf"))
    assert [p.text for p in read_report(tmp_path).paragraphs] == ["公司全年实现营业收入52亿元。"]


FUNDS = [["项目", "市级资金", "区级资金", "负责单位"], ["道路改造", "1200", "400", "住建局"],
         ["公园提升", "350", "150", "园林局"], ["学校扩建", "2800", "900", "教育局"],
         ["管网更新", "640", "260", "水务局"], ["路灯改造", "180", "60", "城管局"]]


def draw_table(page, top: float, rows: list[list[str]]) -> float:
    """A ruled table of boxed cells from `top`; returns the y below it."""
    import pymupdf

    widths = [150, 110, 110, 110]
    for r, row in enumerate(rows):
        x = 50
        for width, cell in zip(widths, row, strict=True):
            page.draw_rect(pymupdf.Rect(x, top + r * 24, x + width, top + (r + 1) * 24))
            page.insert_text((x + 4, top + r * 24 + 16), cell, fontname="china-s", fontsize=10)
            x += width
    return top + len(rows) * 24


def make_plan_with_a_table_over_two_pages(path: Path, header_repeated: bool, second_header: list[str] = ()) -> None:
    """A table whose first three rows end page 1 and whose last two open page 2, under the page 1 headers
    repeated or not repeated at all; or, given a second header, a table of its own opening page 2 under it."""
    import pymupdf

    pdf = pymupdf.open()
    for n in (1, 2):
        page = pdf.new_page(width=595, height=842)
        page.insert_text((50, 40), "青城市2024年城建工作计划", fontname="china-s", fontsize=9)
        page.insert_text((270, 815), f"- {n} -", fontname="china-s", fontsize=9)
    first, second = pdf[0], pdf[1]
    y = write_lines(first, 50, 120, "今年全市安排城建重点项目五项，资金由市、区两级财政共同承担，各项目负责单位" * 6)
    first.insert_text((50, 628), "表1 重点项目资金安排（万元）", fontname="china-s", fontsize=10)
    draw_table(first, 640, FUNDS[:4])  # to y 736, just above the footer margin
    if second_header:
        second.insert_text((50, 108), "表2 项目工期安排", fontname="china-s", fontsize=10)
    y = draw_table(second, 120, ([second_header] if second_header else FUNDS[:1] if header_repeated else [])
                   + FUNDS[4:])
    write_lines(second, 50, y + 30, "各项目完工后由市住建局组织验收，验收结果向社会公开。")
    pdf.save(str(path))


@pytest.mark.parametrize("header_repeated", [True, False])
def test_a_table_continued_on_the_next_page_keeps_the_first_pages_headers_and_unit(tmp_path, header_repeated):
    make_plan_with_a_table_over_two_pages(tmp_path / "plan.pdf", header_repeated)
    document = read_report(tmp_path)
    rows = [(p.text, p.page) for p in document.paragraphs if "：" in p.text and "级资金" in p.text]
    assert rows == [("道路改造（万元）：市级资金 1200；区级资金 400；负责单位 住建局", 1),
                    ("公园提升（万元）：市级资金 350；区级资金 150；负责单位 园林局", 1),
                    ("学校扩建（万元）：市级资金 2800；区级资金 900；负责单位 教育局", 1),
                    ("管网更新（万元）：市级资金 640；区级资金 260；负责单位 水务局", 2),
                    ("路灯改造（万元）：市级资金 180；区级资金 60；负责单位 城管局", 2)]
    assert "1 table (5 rows)" in document.found


def test_a_captioned_table_opening_the_next_page_is_a_table_of_its_own(tmp_path):
    make_plan_with_a_table_over_two_pages(tmp_path / "plan.pdf", True, ["项目", "工期", "开工", "监理单位"])
    document = read_report(tmp_path)
    assert [p.text for p in document.paragraphs if p.page == 2 and "：" in p.text] == [
        "管网更新：工期 640；开工 260；监理单位 水务局", "路灯改造：工期 180；开工 60；监理单位 城管局"]
    assert "2 tables (5 rows)" in document.found


def test_a_table_figure_is_answered_with_its_unit_and_cited_with_its_page(report_engine):
    from qa.api import answer_json, chat_extras

    answer = report_engine.ask("2023年研发投入是多少？")
    assert answer.answered, answer.text
    assert answer.text.startswith("2.87亿元[1]") and "2.872" not in answer.text
    cited = answer.citations[0]
    assert cited.text.startswith("研发投入（亿元）：2023年 2.87") and cited.page == 2
    body = answer_json(answer)
    assert body["citations"][0]["page"] == 2 and body["citations"][0]["row"] == 0
    assert f"第2页 · 第{cited.paragraph}段" in chat_extras(answer, body["citations"])

    answer = report_engine.ask("基本每股收益是多少？")
    assert answer.text.startswith("1.38元[1]") and "1.381" not in answer.text


@pytest.mark.parametrize(("question", "expected"), [("2022年营业收入是多少？", "31.21亿元"),
                                                    ("2022年的基本每股收益是多少？", "1.05元"),
                                                    ("研发投入同比变动多少？", "36.0%")])
def test_the_column_a_question_names_gives_the_figure(report_engine, question, expected):
    answer = report_engine.ask(question)
    assert answer.text.startswith(f"{expected}[1]"), answer.text


def test_the_cut_sentence_is_quoted_without_the_footer(report_engine):
    answer = report_engine.ask("报告期末在手订单金额约为多少？")
    assert answer.answered and "42亿元" in answer.text
    for citation in answer.citations:
        assert "第 2 页" not in citation.quote and "证券代码" not in citation.text


def test_the_page_and_the_cli_show_the_page_of_a_cited_paragraph(report_engine, monkeypatch):
    import app
    from qa import cli

    answer = report_engine.ask("2023年研发投入是多少？")
    cited = answer.citations[0]
    assert f"第2页 · 第{cited.paragraph}段" in app.render_citation(cited, "src")
    monkeypatch.setenv("QA_DATA_DIR", str(report_engine.settings.data_dir))
    monkeypatch.setenv("QA_INDEX_DIR", str(report_engine.settings.index_dir))
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert cli.main(["ask", "2023年研发投入是多少？"]) == 0
    assert f"[1] {TITLE_PROPERTY} · p. 2, ¶{cited.paragraph}" in printed.getvalue().splitlines()


def test_the_build_report_says_what_the_pdf_held(report_engine):
    assert "report.pdf: 4 pages, 1 table (3 rows), 8 header and footer lines left out" in report_engine.report.summary()
    # an update that finds nothing changed reports the same, from what the index stored
    assert "report.pdf: 4 pages, 1 table (3 rows)" in report_engine.build_index(show_bar=False).summary()
