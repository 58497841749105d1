"""Layouts: each format built small in the test, read through load_corpus as a user's folder would be."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa.corpus import chunk_paragraph, context_line, format_summary, keyword_context, load_corpus
from qa.layouts import LAYOUTS, detect
from qa.text import normalise

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "data" / "hohhot-2024-district-interviews.txt"
CMRC_DOCS = ROOT.parent / "shared" / "corpora" / "cmrc2018-trial" / "docs"
if not CMRC_DOCS.is_dir():
    CMRC_DOCS = Path("/work/shared/corpora/cmrc2018-trial/docs")


def read_one(folder: Path, **options):
    """The single document of a folder, as (document, warnings)."""
    documents, warnings = load_corpus(folder, **options)
    assert len(documents) == 1, (documents, warnings)
    return documents[0], warnings


def texts(document) -> list[str]:
    return [p.text for p in document.paragraphs]


def sections(document) -> list[tuple[str, ...]]:
    return [p.section for p in document.paragraphs]


# --- Markdown ---------------------------------------------------------------------------------------------
def test_markdown_headings_of_every_level_become_sections_and_the_title_is_no_paragraph(tmp_path):
    (tmp_path / "report.md").write_text(
        "# 星河科技年度报告\n\n"
        "公司全年实现营业收入52亿元。\n\n"
        "## 经营概况\n\n"
        "海外业务收入占比首次超过三成。\n\n"
        "### 研发投入\n\n"
        "全年研发投入6.3亿元，新增发明专利47项。\n\n"
        "#### 储能材料\n\n"
        "储能材料的专利最多。\n\n"
        "## 员工\n\n"
        "新增就业岗位1200个。\n",
        encoding="utf-8",
    )
    document, _ = read_one(tmp_path)
    assert document.layout == "markdown"
    assert [a.title for a in document.articles] == ["星河科技年度报告"]
    assert texts(document) == ["公司全年实现营业收入52亿元。", "海外业务收入占比首次超过三成。",
                               "全年研发投入6.3亿元，新增发明专利47项。", "储能材料的专利最多。",
                               "新增就业岗位1200个。"]
    assert sections(document) == [(), ("经营概况",), ("经营概况", "研发投入"), ("经营概况", "研发投入", "储能材料"),
                                  ("员工",)]
    assert [p.number for p in document.paragraphs] == [1, 2, 3, 4, 5]
    paragraph = document.paragraphs[3]
    assert context_line(document.articles[0], paragraph) == "星河科技年度报告 经营概况 › 研发投入 › 储能材料"


def test_markdown_lists_are_paragraphs_table_rows_carry_their_headers_and_an_access_bullet_stays_one(tmp_path):
    (tmp_path / "platform.md").write_text(
        "# 平台运营简报\n\n"
        "## 平台数据\n\n"
        "- 访问用户数达到1.2亿人次\n"
        "- 日活跃用户**3000万**\n\n"
        "| 季度 | 收入 | 用户 |\n|---|---|---|\n| 一季度 | 12亿元 | 800万 |\n| **二季度** | 14亿元 | |\n"
        "详见[附件](http://example.com/a.pdf)。\n",
        encoding="utf-8",
    )
    document, _ = read_one(tmp_path)
    assert [a.title for a in document.articles] == ["平台运营简报"]
    assert texts(document) == ["访问用户数达到1.2亿人次", "日活跃用户3000万", "一季度：收入 12亿元；用户 800万",
                               "二季度：收入 14亿元", "详见附件。"]
    assert set(sections(document)) == {("平台数据",)}


def test_a_markdown_table_takes_its_unit_from_the_line_or_heading_above_it(tmp_path):
    (tmp_path / "data.md").write_text(
        "# 年报摘要\n\n## 主要会计数据\n\n单位：亿元\n\n"
        "| 项目 | 2023年 | 2022年 |\n| :--- | ---: | ---: |\n"
        "| 营业收入 | 38.60 | 31.21 |\n| 研发投入 | 2.87 | 2.11 |\n\n"
        "## 员工构成（人）\n\n| 类别 | 人数 |\n|--|--|\n| 研发人员 | 312 |\n",
        encoding="utf-8",
    )
    document, _ = read_one(tmp_path)
    assert texts(document) == ["营业收入（亿元）：2023年 38.60；2022年 31.21",
                               "研发投入（亿元）：2023年 2.87；2022年 2.11", "研发人员（人）：人数 312"]
    assert sections(document) == [("主要会计数据",), ("主要会计数据",), ("员工构成（人）",)]


def test_a_summary_repeated_in_the_body_of_an_article_is_kept_with_its_own_id(tmp_path):
    summary = "全年营业收入52亿元，同比增长18%。"
    (tmp_path / "a.md").write_text(f"# 年报\n\n{summary}\n\n## 正文\n\n海外收入过三成。\n\n{summary}\n",
                                   encoding="utf-8")
    document, _ = read_one(tmp_path)
    assert texts(document) == [summary, "海外收入过三成。", summary]
    assert len({p.id for p in document.paragraphs}) == 3


# --- HTML ---------------------------------------------------------------------------------------------------
def test_html_title_sections_paragraphs_and_a_table_as_rows(tmp_path):
    (tmp_path / "page.html").write_text(
        "<html><head><title>简报 - 某网站</title><meta name='author' content='王五'>"
        "<script>var secret = '不应被索引';</script><style>p {color: red}</style></head><body>"
        "<h1>城市服务简报</h1><p>全市新建社区食堂<b>3个</b>，年内投入使用。</p>"
        "<h2>交通</h2><ul><li>新增停车位500个。</li><li>新开公交线路4条。</li></ul>"
        "<h3>数据</h3><table><tr><th>项目</th><th>数量</th></tr><tr><td>停车位</td><td>500个</td></tr>"
        "<tr><td>公交线路</td><td>4条</td></tr></table>"
        "<div>没有段落标签的文字也会读到。</div></body></html>",
        encoding="utf-8",
    )
    document, _ = read_one(tmp_path)
    article = document.articles[0]
    assert document.layout == "html"
    assert article.title == "城市服务简报"
    assert article.metadata["author"] == "王五"
    assert texts(document) == ["全市新建社区食堂3个，年内投入使用。", "新增停车位500个。", "新开公交线路4条。",
                               "停车位：数量 500个", "公交线路：数量 4条", "没有段落标签的文字也会读到。"]
    assert sections(document) == [(), ("交通",), ("交通",), ("交通", "数据"), ("交通", "数据"), ("交通", "数据")]
    assert not any("不应被索引" in t or "color" in t for t in texts(document))


# --- .docx --------------------------------------------------------------------------------------------------
def test_docx_heading_styles_give_title_and_sections_and_tables_give_rows(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("星河科技年度报告", level=0)  # the Title style
    document.add_paragraph("公司全年实现营业收入52亿元。")
    document.add_heading("经营概况", level=1)
    document.add_paragraph("海外业务收入占比首次超过三成。")
    document.add_heading("研发投入", level=2)
    document.add_paragraph("全年研发投入6.3亿元。")
    table = document.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, [("项目", "数量"), ("发明专利", "47项")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_heading("员工", level=1)
    document.add_paragraph("新增就业岗位1200个。")
    document.save(str(tmp_path / "report.docx"))

    parsed, _ = read_one(tmp_path)
    assert parsed.layout == "docx"
    assert [a.title for a in parsed.articles] == ["星河科技年度报告"]
    assert texts(parsed) == ["公司全年实现营业收入52亿元。", "海外业务收入占比首次超过三成。", "全年研发投入6.3亿元。",
                             "发明专利：数量 47项", "新增就业岗位1200个。"]
    assert sections(parsed) == [(), ("经营概况",), ("经营概况", "研发投入"), ("经营概况", "研发投入"), ("员工",)]
    assert "author" not in parsed.articles[0].metadata  # python-docx wrote "python-docx" there


def test_a_docx_table_row_carries_its_column_headers_and_the_caption_unit(tmp_path):
    import docx

    document = docx.Document()
    document.core_properties.author = "王芳"
    document.add_heading("主要会计数据", level=1)
    document.add_paragraph("单位：亿元")
    table = document.add_table(rows=3, cols=3)
    for row, values in zip(table.rows, [("项目", "2023年", "2022年"), ("营业收入", "38.60", "31.21"),
                                        ("研发投入", "2.87", "2.11")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.save(str(tmp_path / "data.docx"))
    parsed, _ = read_one(tmp_path)
    assert texts(parsed) == ["营业收入（亿元）：2023年 38.60；2022年 31.21",
                                  "研发投入（亿元）：2023年 2.87；2022年 2.11"]
    assert parsed.articles[0].metadata["author"] == "王芳"  # a person's name is shown


def test_one_broken_docx_is_skipped_with_a_warning_and_the_others_are_read(tmp_path):
    import docx

    good = docx.Document()
    good.add_heading("会议纪要", level=1)
    good.add_paragraph("会议决定新建3个社区食堂。")
    good.save(str(tmp_path / "good.docx"))
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "notes.txt").write_text("会议纪要补充\n\n食堂年内投入使用。", encoding="utf-8")
    documents, warnings = load_corpus(tmp_path)
    assert [d.source for d in documents] == ["good.docx", "notes.txt"]
    assert [w for w in warnings if "broken.docx" in w] == [w for w in warnings if w.startswith("skipped ")]
    assert len(warnings) == 1 and warnings[0].startswith("skipped broken.docx: ")


def write_docx_bomb(path: Path, unpacked_bytes: int) -> None:
    """A valid .docx whose body repeats one paragraph until its XML is `unpacked_bytes` long: it compresses
    to a few hundred KB, under any upload limit."""
    import io
    import zipfile

    import docx

    document = docx.Document()
    document.add_paragraph("第一段。")
    buffer = io.BytesIO()
    document.save(buffer)
    paragraph = "<w:p><w:r><w:t>重复的段落。</w:t></w:r></w:p>".encode()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename != "word/document.xml":
                bomb.writestr(entry, data)
                continue
            head, tail = data.split(b"<w:body>", 1)
            with bomb.open("word/document.xml", "w") as part:
                part.write(head + b"<w:body>")
                block = paragraph * (1024 * 1024 // len(paragraph))
                for _ in range(unpacked_bytes // len(block) + 1):
                    part.write(block)
                part.write(tail)


def test_a_docx_that_unpacks_past_the_limit_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    from qa.layouts.docx_file import DocxLayout

    write_docx_bomb(tmp_path / "bomb.docx", 60 * 1024 * 1024)
    assert (tmp_path / "bomb.docx").stat().st_size < 1024 * 1024
    (tmp_path / "notes.txt").write_text("会议纪要\n\n食堂年内投入使用。", encoding="utf-8")
    parsed = []
    real_parse = DocxLayout.parse
    monkeypatch.setattr(DocxLayout, "parse", lambda self, *args: parsed.append(args[0]) or real_parse(self, *args))
    documents, warnings = load_corpus(tmp_path)
    assert [d.source for d in documents] == ["notes.txt"]
    assert parsed == []
    [warning] = warnings
    unpacked, compressed = (int(n.replace(",", "")) for n in re.findall(r"[\d,]{5,}", warning)[:2])
    assert warning.startswith("skipped bomb.docx: it unpacks to ")
    assert unpacked > 60 * 1024 * 1024 and compressed == (tmp_path / "bomb.docx").stat().st_size
    assert "52,428,800 (QA_MAX_EXPANDED_BYTES)" in warning


def test_an_upload_that_unpacks_past_the_limit_is_a_413_and_nothing_is_written(tmp_path, monkeypatch):
    from qa.config import Settings
    from qa.uploads import UploadError, save_upload

    write_docx_bomb(tmp_path / "bomb.docx", 3 * 1024 * 1024)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("QA_MAX_EXPANDED_BYTES", str(2 * 1024 * 1024))
    with pytest.raises(UploadError) as refused:
        save_upload(Settings.from_env(data_dir=data_dir), "bomb.docx", (tmp_path / "bomb.docx").read_bytes())
    assert refused.value.status == 413
    assert "bomb.docx" in str(refused.value) and "2,097,152 (QA_MAX_EXPANDED_BYTES)" in str(refused.value)
    assert list(data_dir.iterdir()) == []
    # Under a higher size limit it is parsed, and its ~100,000 paragraphs meet the other bound.
    monkeypatch.setenv("QA_MAX_EXPANDED_BYTES", str(8 * 1024 * 1024))
    with pytest.raises(UploadError) as refused:
        save_upload(Settings.from_env(data_dir=data_dir), "bomb.docx", (tmp_path / "bomb.docx").read_bytes())
    assert refused.value.status == 413 and "more than 20,000 paragraphs" in str(refused.value)
    assert list(data_dir.iterdir()) == []


def test_a_file_of_more_paragraphs_than_the_limit_is_refused_with_the_limit_named(tmp_path):
    (tmp_path / "many.txt").write_text("\n\n".join(f"第{n}条记录。" for n in range(20_001)), encoding="utf-8")
    (tmp_path / "few.txt").write_text("\n\n".join(f"第{n}条记录。" for n in range(300)), encoding="utf-8")
    documents, warnings = load_corpus(tmp_path)
    assert [d.source for d in documents] == ["few.txt"]
    assert warnings == ["skipped many.txt: it holds more than 20,000 paragraphs, the limit for one file "
                        "(QA_MAX_PARAGRAPHS_PER_FILE); split it into several files"]
    documents, warnings = load_corpus(tmp_path, max_paragraphs=100)
    assert documents == [] and len(warnings) == 2 and all("more than 100 paragraphs" in w for w in warnings)


# --- PDF ----------------------------------------------------------------------------------------------------
def make_two_column_pdf(path: Path) -> None:
    """Two pages, two columns, Chinese text in PyMuPDF's built-in CJK font; a paragraph runs from the foot
    of the left column to the head of the right one; a running header and page numbers on every page."""
    import pymupdf

    pdf = pymupdf.open()
    left, right, across = (50, 280), (315, 545), (50, 545)

    def box(page, column, top, text, size=11, height=200):
        rect = pymupdf.Rect(column[0], top, column[1], top + height)
        spare = page.insert_textbox(rect, text, fontname="china-s", fontsize=size)
        assert spare >= 0, text
        return top + height - spare + 8

    page = pdf.new_page(width=595, height=842)
    box(page, across, 20, "星河科技2024年度报告", size=9, height=20)
    box(page, across, 50, "星河科技年度经营报告", size=20, height=40)
    y = box(page, left, 100, "一、经营概况", size=14, height=30)
    y = box(page, left, y, "公司全年实现营业收入52亿元，同比增长18%。海外业务收入占比首次超过三成。")
    box(page, left, y, "研发投入方面，公司全年研发投入6.3亿元，占营业收入的比重为12%，新增发明专利授权47项，"
                       "主要集中在储能材料领域和")
    y = box(page, right, 100, "智能制造领域。")
    y = box(page, right, y, "二、员工", size=14, height=30)
    box(page, right, y, "公司全年新增就业岗位1200个，员工培训覆盖率达到95%。")
    box(page, (280, 320), 810, "1", size=9, height=20)
    page = pdf.new_page(width=595, height=842)
    box(page, across, 20, "星河科技2024年度报告", size=9, height=20)
    y = box(page, left, 60, "三、展望", size=14, height=30)
    box(page, left, y, "2025年公司计划在华东地区新建两座工厂，预计新增产能30%。")
    box(page, right, 60, "右栏的文字在左栏之后读到。")
    box(page, (280, 320), 810, "2", size=9, height=20)
    pdf.save(str(path))


def test_a_two_column_chinese_pdf_is_read_column_by_column_with_title_sections_and_repair(tmp_path):
    make_two_column_pdf(tmp_path / "report.pdf")
    document, warnings = read_one(tmp_path)
    assert warnings == []
    assert document.layout == "pdf"
    assert [a.title for a in document.articles] == ["星河科技年度经营报告"]
    assert texts(document) == [  # the running header and the page numbers are left out
        "公司全年实现营业收入52亿元，同比增长18%。海外业务收入占比首次超过三成。",
        # cut by the column break, joined back
        "研发投入方面，公司全年研发投入6.3亿元，占营业收入的比重为12%，新增发明专利授权47项，主要集中在储能材料领域和"
        "智能制造领域。",
        "公司全年新增就业岗位1200个，员工培训覆盖率达到95%。",
        "2025年公司计划在华东地区新建两座工厂，预计新增产能30%。",
        "右栏的文字在左栏之后读到。",
    ]
    assert sections(document) == [("一、经营概况",), ("一、经营概况",), ("二、员工",), ("三、展望",), ("三、展望",)]
    assert [p.page for p in document.paragraphs] == [1, 1, 1, 2, 2]


def test_paragraphs_sharing_one_pdf_text_block_are_told_apart_by_their_short_last_lines(tmp_path):
    import pymupdf

    paragraphs = ["公司全年实现营业收入52亿元，同比增长18%，海外业务收入占比首次超过三成，创历史新高。",
                  "研发投入6.3亿元。", "新增就业岗位1200个，员工培训覆盖率达到95%，员工满意度继续提升。"]
    pdf = pymupdf.open()
    pdf.new_page().insert_textbox(pymupdf.Rect(50, 50, 300, 400), "\n".join("\u3000\u3000" + p for p in paragraphs),
                                  fontname="china-s", fontsize=11)
    pdf.save(str(tmp_path / "a.pdf"))
    document, _ = read_one(tmp_path)
    assert texts(document) == paragraphs


def test_a_newspaper_page_printed_to_pdf_is_split_into_its_articles(tmp_path):
    import pymupdf

    pdf = pymupdf.open()
    page = pdf.new_page()
    lines = [("全力抓落实", 18), ("——访某区区委书记张三", 12), ("●本报记者 李四", 10),
             ("“今年办好十件实事。”张三说。", 11), ("做好民生实事", 18), ("——访某县县长王五", 12), ("●通讯员 赵六", 10),
             ("全县计划新建社区食堂三个，年内全部投入使用，", 11), ("由街道负责运营。", 11)]
    for n, (text, size) in enumerate(lines):
        page.insert_text((50, 50 + 40 * n), text, fontname="china-s", fontsize=size)
    pdf.save(str(tmp_path / "page.pdf"))
    document, _ = read_one(tmp_path)
    first, second = document.articles
    assert first.header == "全力抓落实\n——访某区区委书记张三\n●本报记者 李四"
    assert second.header == "做好民生实事\n——访某县县长王五\n●通讯员 赵六"
    assert context_line(first) == "某区 张三（某区区委书记） 全力抓落实"
    assert texts(document) == ["“今年办好十件实事。”张三说。",
                               "全县计划新建社区食堂三个，年内全部投入使用，由街道负责运营。"]


def test_a_file_that_is_not_a_pdf_is_skipped_with_its_reason(tmp_path):
    (tmp_path / "fake.pdf").write_bytes(b"%PDF-1.4 this is not a PDF at all")
    (tmp_path / "ok.txt").write_text("正常的文件。", encoding="utf-8")
    documents, warnings = load_corpus(tmp_path)
    assert [d.source for d in documents] == ["ok.txt"]
    assert len(warnings) == 1 and warnings[0].startswith("skipped fake.pdf: ")


# --- plain text ---------------------------------------------------------------------------------------------
def test_a_plain_text_report_has_its_title_dateline_and_numbered_sections(tmp_path):
    (tmp_path / "report.txt").write_text(
        "关于城市社区建设的调研报告\n2024年3月5日\n\n"
        "为了解社区建设情况，调研组走访了12个社区。\n\n"
        "一、基本情况\n全市共有社区服务中心86个。\n"
        "（一）服务设施\n新建社区食堂3个。\n"
        "二、存在问题\n部分社区服务人员不足。\n",
        encoding="utf-8",
    )
    document, _ = read_one(tmp_path)
    article = document.articles[0]
    assert document.layout == "text"
    assert (article.title, article.date) == ("关于城市社区建设的调研报告", "2024-03-05")
    assert article.header == "关于城市社区建设的调研报告\n2024年3月5日"
    assert texts(document) == ["为了解社区建设情况，调研组走访了12个社区。", "全市共有社区服务中心86个。",
                               "新建社区食堂3个。", "部分社区服务人员不足。"]
    assert sections(document) == [(), ("一、基本情况",), ("一、基本情况", "（一）服务设施"), ("二、存在问题",)]


def test_an_iso_dateline_and_a_file_without_a_title_line(tmp_path):
    (tmp_path / "a.txt").write_text("2024-03-05\n今天开会决定新建社区食堂3个，年内投入使用。\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("会议决定新建社区食堂3个，年内投入使用。\n食堂由街道负责运营。\n",
                                    encoding="utf-8")
    documents, _ = load_corpus(tmp_path)
    by_source = {d.source: d for d in documents}
    assert (by_source["a.txt"].articles[0].title, by_source["a.txt"].articles[0].date) == ("a", "2024-03-05")
    assert by_source["b.txt"].articles[0].title == "b"
    assert texts(by_source["b.txt"]) == ["会议决定新建社区食堂3个，年内投入使用。", "食堂由街道负责运营。"]


def test_a_bullet_line_in_plain_text_is_a_paragraph_not_an_interview(tmp_path):
    (tmp_path / "notes.txt").write_text(
        "平台运营数据\n\n用户增长明显\n- 访问用户数达到1.2亿人次\n●日活跃用户3000万\n", encoding="utf-8"
    )
    document, _ = read_one(tmp_path)
    assert document.layout == "text" and len(document.articles) == 1
    assert "- 访问用户数达到1.2亿人次" in texts(document)


# --- the newspaper page -------------------------------------------------------------------------------------
def test_the_shipped_page_yields_its_six_interviews_with_metadata_and_verbatim_headers(tmp_path):
    printed = [line.strip() for line in SHIPPED.read_text(encoding="utf-8").splitlines() if line.strip()]
    documents, warnings = load_corpus(SHIPPED.parent)
    assert warnings == [] and len(documents) == 1
    document = documents[0]
    assert document.layout == "newspaper" and len(document.articles) == 6
    for article in document.articles:
        metadata = article.metadata
        assert {"subtitle", "interviewee", "role", "reporter", "district", "byline"} <= set(metadata)
        # every header line is a line of the page, in print order, and the byline is quoted as printed
        at = printed.index(article.title)
        assert printed[at : at + 3] == metadata["header_lines"] == article.header.split("\n")
        assert metadata["byline"] == printed[at + 2] and metadata["subtitle"] == printed[at + 1]
        assert metadata["interviewee"] in metadata["subtitle"] and metadata["role"] in metadata["subtitle"]
        assert metadata["district"] in metadata["role"] and metadata["reporter"] in metadata["byline"]
        assert context_line(article).startswith(metadata["district"])
    assert not any(p.text in printed and p.text.startswith(("——访", "●")) for p in document.paragraphs)


def page(*articles: tuple[str, str, str, str]) -> str:
    return "\n\n".join(f"{headline}\n\n{subtitle}\n\n{byline}\n\n{body}"
                       for headline, subtitle, byline, body in articles)


def test_a_correspondent_byline_is_quoted_as_written_and_a_committee_is_no_district(tmp_path):
    (tmp_path / "page.txt").write_text(
        page(("加强城市社区委员会建设", "——访城市社区委员会主任王五", "●通讯员 赵六", "“社区建设要久久为功。”王五说。"),
             ("做好民生实事", "——访某县县委书记钱七", "●本报记者 孙八", "“今年办好十件实事。”钱七说。")),
        encoding="utf-8",
    )
    document, _ = read_one(tmp_path)
    first, second = document.articles
    assert first.header == "加强城市社区委员会建设\n——访城市社区委员会主任王五\n●通讯员 赵六"
    assert first.metadata["byline"] == "●通讯员 赵六" and first.reporter == "赵六"
    assert (first.interviewee, first.role, first.district) == ("王五", "城市社区委员会主任", "")
    assert "district" not in first.metadata
    assert (second.district, second.interviewee) == ("某县", "钱七")
    assert [p.text for p in document.paragraphs] == ["“社区建设要久久为功。”王五说。", "“今年办好十件实事。”钱七说。"]


def test_a_page_needs_headline_interview_line_and_byline_together(tmp_path):
    (tmp_path / "a.txt").write_text("标题一行\n\n——访某区区长张三\n\n正文没有署名。\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("标题一行\n\n●本报记者 李四\n\n——访某区区长张三\n\n正文。\n", encoding="utf-8")
    documents, _ = load_corpus(tmp_path)
    assert [d.layout for d in documents] == ["text", "text"]
    assert all(len(d.articles) == 1 for d in documents)


def test_page_repair_drops_only_exact_repeats_and_joins_in_print_order(tmp_path):
    body = "\n\n".join([
        "今年全区计划实施重点项目128个，总投资达到",  # cut by a column break ...
        "200亿元以上。",  # ... and its continuation
        "“新的一年，我们将 继续努力。”张三说。",
        "“新的一年，我们将继续努力。”张三说。",  # the same after normalisation: dropped
        "“新的一年，我们将继续努力！”张三说。",  # one character differs: kept
        "实施重点项目128个",  # a fragment of an earlier paragraph: kept
        "今年全区计划实施重点项目，总投资达到",  # cut, but the next block opens a quotation: not joined
        "“要抓好落实。”",
    ])
    (tmp_path / "page.txt").write_text(page(("全力抓落实", "——访某区区长张三", "●本报记者 李四", body)),
                                       encoding="utf-8")
    document, _ = read_one(tmp_path)
    assert texts(document) == [
        "今年全区计划实施重点项目128个，总投资达到200亿元以上。",
        "“新的一年，我们将 继续努力。”张三说。",
        "“新的一年，我们将继续努力！”张三说。",
        "实施重点项目128个",
        "今年全区计划实施重点项目，总投资达到",
        "“要抓好落实。”",
    ]


def test_a_paragraph_repeating_one_sentence_three_times_is_kept_whole_with_distinct_chunk_ids(tmp_path):
    sentence = ("全区计划新建社区食堂3个并在年内全部投入使用，由街道统一负责日常运营和监督管理，"
                "确保老年人就近用餐方便实惠，同时做好食品安全检查、价格公示、服务评价、意见收集和困难群众用餐补贴等各项工作。")
    (tmp_path / "a.md").write_text(f"# 食堂\n\n{sentence * 3}\n", encoding="utf-8")
    document, _ = read_one(tmp_path)
    assert texts(document) == [sentence * 3]
    chunks = chunk_paragraph(document.paragraphs[0])
    assert [c.text for c in chunks] == [sentence] * 3  # three chunks of one text ...
    assert len({c.id for c in chunks}) == 3  # ... each with its own id


# --- bounds and robustness ----------------------------------------------------------------------------------
def test_a_20_mb_file_on_one_line_becomes_bounded_paragraphs_that_rebuild_it(tmp_path):
    sentence = "全区计划新建社区食堂3个，年内投入使用" + "，并由街道负责运营" * 3
    line = ""
    parts = []
    size = 0
    n = 0
    while size < 20 * 1024 * 1024:
        piece = sentence + (f"第{n}期。" if n % 7 else "")  # some sentences run on without end punctuation
        parts.append(piece)
        size += len(piece.encode("utf-8"))
        n += 1
    line = "".join(parts)
    (tmp_path / "huge.txt").write_text(line, encoding="utf-8")
    document, _ = read_one(tmp_path, max_paragraph_chars=1500)
    lengths = [len(p.text) for p in document.paragraphs]
    assert max(lengths) <= 1500 and len(lengths) >= len(line) // 1500
    assert "".join(texts(document)) == line
    assert [p.number for p in document.paragraphs] == list(range(1, len(lengths) + 1))


def test_a_long_paragraph_is_cut_at_sentence_ends_before_the_cap(tmp_path):
    sentences = [f"第{i}项工作要在年内完成并通过验收。" for i in range(100)]
    (tmp_path / "a.md").write_text("# 工作\n\n" + "".join(sentences) + "\n", encoding="utf-8")
    document, _ = read_one(tmp_path, max_paragraph_chars=200)
    assert all(len(t) <= 200 and t.endswith("。") for t in texts(document))
    assert "".join(texts(document)) == "".join(sentences)


def test_a_paragraph_bound_too_small_to_use_is_refused_with_a_message(tmp_path):
    (tmp_path / "a.txt").write_text("会议决定新建社区食堂。", encoding="utf-8")
    with pytest.raises(ValueError, match="QA_MAX_PARAGRAPH_CHARS=0"):
        load_corpus(tmp_path, max_paragraph_chars=0)


def test_a_few_invalid_bytes_are_replaced_with_a_warning_that_counts_them(tmp_path):
    sentence = "会议决定新建社区食堂3个，年内投入使用。"
    data = sentence.encode("utf-8") * 10 + b"\xff" + sentence.encode("utf-8") * 10
    data += "食堂".encode()[:2] + sentence.encode() * 10  # a character cut short: 2 bytes
    (tmp_path / "notes.txt").write_bytes(data)
    document, warnings = read_one(tmp_path)
    assert warnings == ["notes.txt: replaced 3 invalid bytes (the file is not quite UTF-8)"]
    assert "".join(texts(document)).count("\ufffd") == 2  # one mark for the lone byte, one for the cut character
    assert "会议决定新建社区食堂3个" in texts(document)[0]


def test_a_symlink_out_of_the_data_folder_is_skipped_unless_allowed(tmp_path):
    data, outside = tmp_path / "data", tmp_path / "outside"
    data.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("管理员密码是hunter2。", encoding="utf-8")
    (data / "notes.txt").write_text("会议决定新建社区食堂。", encoding="utf-8")
    (data / "link-outside.txt").symlink_to(outside / "secret.txt")
    (data / "folder-outside").symlink_to(outside, target_is_directory=True)
    (data / "link-inside.txt").symlink_to(data / "notes.txt")

    documents, warnings = load_corpus(data)
    assert [d.source for d in documents] == ["link-inside.txt", "notes.txt"]
    assert not any("hunter2" in p.text for d in documents for p in d.paragraphs)
    assert sorted(w.split(":")[0] for w in warnings) == ["skipped folder-outside/", "skipped link-outside.txt"]

    documents, warnings = load_corpus(data, follow_symlinks=True)
    assert sorted(d.source for d in documents) == ["folder-outside/secret.txt", "link-inside.txt",
                                                   "link-outside.txt", "notes.txt"]
    assert warnings == []


def test_paragraph_ids_are_stable_for_the_same_text_in_the_same_document(tmp_path):
    path = tmp_path / "a.md"
    path.write_text("# 年报\n\n收入52亿元。\n\n利润8亿元。\n\n员工1200人。\n", encoding="utf-8")
    before, _ = read_one(tmp_path)
    path.write_text("# 年报\n\n收入52亿元。\n\n新增一段。\n\n利润8亿元。\n\n员工1300人。\n", encoding="utf-8")
    after, _ = read_one(tmp_path)
    ids_before = {p.text: p.id for p in before.paragraphs}
    ids_after = {p.text: p.id for p in after.paragraphs}
    assert ids_after["收入52亿元。"] == ids_before["收入52亿元。"]
    assert ids_after["利润8亿元。"] == ids_before["利润8亿元。"]
    assert ids_after["员工1300人。"] != ids_before["员工1200人。"]


def test_the_summary_counts_documents_per_format_and_names_skipped_files(tmp_path):
    (tmp_path / "a.md").write_text("# 甲\n\n第一段。\n\n第二段。\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# 乙\n\n一段。\n", encoding="utf-8")
    (tmp_path / "c.xyz").write_text("?", encoding="utf-8")
    (tmp_path / "d.txt").write_bytes(bytes(range(256)) * 4)
    documents, warnings = load_corpus(tmp_path)
    summary = format_summary(documents, warnings)
    assert summary.startswith("md: 2 documents, 2 articles, 3 paragraphs; skipped 2: ")
    assert "c.xyz (unsupported file type .xyz)" in summary and "d.txt (binary data, not text)" in summary


def test_detect_chooses_by_suffix_and_content():
    assert set(LAYOUTS) == {"text", "markdown", "html", "docx", "pdf", "newspaper", "xlsx", "csv", "tsv"}
    assert detect(Path("a.pdf"), None).name == "pdf"
    assert detect(Path("a.docx"), None).name == "docx"
    assert detect(Path("a.XLSX"), None).name == "xlsx"
    assert detect(Path("a.xlsm"), None).name == "xlsx"
    assert detect(Path("a.csv"), "<html><body>a,b</body></html>").name == "csv"
    assert detect(Path("a.tsv"), "# 标题\t说明").name == "tsv"
    assert detect(Path("a.txt"), "<!DOCTYPE html><html><body><p>x</p></body></html>").name == "html"
    assert detect(Path("a.txt"), "# 标题\n\n正文。").name == "markdown"
    assert detect(Path("a.md"), "正文。").name == "markdown"
    assert detect(Path("a.txt"), "正文。").name == "text"
    assert detect(Path("a.txt"), SHIPPED.read_text(encoding="utf-8")).name == "newspaper"


def test_keyword_context_carries_short_metadata_and_pinyin_of_names(tmp_path):
    (tmp_path / "page.txt").write_text(
        page(("做好民生实事", "——访某县县委书记钱七", "●本报记者 孙八", "“今年办好十件实事。”钱七说。")),
        encoding="utf-8",
    )
    document, _ = read_one(tmp_path)
    context = keyword_context(document.articles[0])
    assert "孙八" in context and "qian qi" in context and "做好民生实事" in context


# --- the second corpus --------------------------------------------------------------------------------------
@pytest.mark.skipif(not CMRC_DOCS.is_dir(), reason="the cmrc2018-trial corpus is not on this machine")
def test_every_cmrc_article_is_one_article_titled_by_its_heading_and_none_merged():
    files = sorted(CMRC_DOCS.glob("*.md"))
    documents, warnings = load_corpus(CMRC_DOCS)
    assert len(files) == len(documents) == 256 and warnings == []
    by_source = {d.source: d for d in documents}
    for path in files:
        document = by_source[path.name]
        heading = next(line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("# "))
        assert [a.title for a in document.articles] == [heading[2:].strip()]
        assert document.paragraphs and all(p.article_id == document.articles[0].id for p in document.paragraphs)
        body = re.sub(r"^# .*$", "", path.read_text(encoding="utf-8"), count=1, flags=re.M)
        body = normalise(body.replace("<br>", ""))  # the only markup in these files
        assert normalise("".join(texts(document))) == body
    assert len({a.id for d in documents for a in d.articles}) == 256
