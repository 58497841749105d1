"""Web pages saved from a browser (main content only, site chrome left out) and spreadsheets (.xlsx, .csv: a row
per paragraph, under its column headers): documents made here, read by the layouts and asked through a real engine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa.corpus import format_summary, load_corpus

# A local news page as a browser saves it: top bar, menus, breadcrumb, the article (byline, a table), a share
# bar, related news, a comment box and a footer with the copyright and a report phone number.
NEWS_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>我市地铁2号线正式开通运营_本地新闻_青城新闻网</title>
<meta name="author" content="李明">
<meta property="article:published_time" content="2024-06-28T09:30:00+08:00">
<meta property="og:site_name" content="青城新闻网">
<script>var _hmt = _hmt || [];</script>
</head><body>
<div class="topbar"><a href="/">首页</a> | <a href="/login">登录</a> | <a href="/reg">注册</a> | <a href="/m">手机版</a>
 | 无障碍浏览</div>
<div class="header"><ul class="nav menu"><li><a href="/">首页</a></li><li><a href="/sz">时政</a></li>
<li><a href="/jj">经济</a></li><li><a href="/sh">社会</a></li><li><a href="/wl">文旅</a></li>
<li><a href="/sp">视频</a></li></ul></div>
<div class="breadcrumb">当前位置：<a href="/">首页</a> &gt; <a href="/news">新闻中心</a> &gt; 本地新闻</div>
<div class="main"><div class="article">
<h1>我市地铁2号线正式开通运营</h1>
<div class="info">来源：青城日报　作者：李明　发布时间：2024-06-28 09:30</div>
<div class="content">
<p>6月28日上午9时，我市地铁2号线正式开通运营，全线设车站24座，首日客流达到31.5万人次。</p>
<p>地铁2号线南起机场站，北至北站，沿线连接了火车站、市政府和大学城等客流集中区域，开通后城区南北向出行时间缩短约40分钟。</p>
<table><caption>地铁2号线主要指标</caption>
<tr><th>项目</th><th>数值</th></tr>
<tr><td>线路长度（公里）</td><td>27.3</td></tr>
<tr><td>车站数量（座）</td><td>24</td></tr>
<tr><td>最高时速（公里）</td><td>80</td></tr>
<tr><td>总投资（亿元）</td><td>186.4</td></tr>
</table>
<p>市轨道交通集团负责人介绍，2号线开通初期行车间隔为7分钟，早晚高峰将缩短至5分钟，运营时间为每日6时至23时。</p>
<p>据了解，2号线与1号线在新华广场站实现换乘，两条线路共同构成我市轨道交通“十字”骨架网络。</p>
</div></div>
<div class="share bdsharebuttonbox">分享到：<a href="#">微信</a><a href="#">微博</a><a href="#">QQ空间</a>
<a href="#">复制链接</a></div>
<div class="related"><h3>相关新闻</h3><ul>
<li><a href="/n/1">地铁1号线客流突破2亿人次</a></li>
<li><a href="/n/2">地铁3号线一期工程进展顺利</a></li>
<li><a href="/n/3">我市公交线网优化调整方案公布</a></li>
<li><a href="/n/4">青城站改造工程完工</a></li>
</ul></div>
<div class="comment"><h3>网友评论</h3><p>已有0条评论，<a href="/c">我来说两句</a></p></div>
</div>
<div class="footer"><p>关于我们 | 联系我们 | 网站地图 | 广告服务</p>
<p>版权所有 © 2024 青城新闻网 未经授权禁止转载</p>
<p>违法和不良信息举报电话：0471-6661234　举报邮箱：jubao@example.cn</p>
<p>蒙ICP备12345678号</p></div>
</body></html>
"""
ARTICLE = ["6月28日上午9时，我市地铁2号线正式开通运营", "沿线连接了火车站、市政府和大学城", "开通初期行车间隔为7分钟",
           "两条线路共同构成我市轨道交通"]
CHROME = ["登录", "时政", "当前位置", "分享到", "微博", "相关新闻", "地铁1号线客流突破2亿人次", "地铁3号线一期工程",
          "我来说两句", "版权所有", "举报电话", "ICP备", "网站地图"]


def read_one(folder: Path):
    documents, warnings = load_corpus(folder)
    assert len(documents) == 1, warnings
    return documents[0], warnings


# --- web pages ----------------------------------------------------------------------------------------------
def test_a_saved_news_page_keeps_its_article_and_table_and_leaves_the_site_chrome_out(tmp_path):
    (tmp_path / "metro.html").write_text(NEWS_PAGE, encoding="utf-8")
    document, warnings = read_one(tmp_path)
    texts = [p.text for p in document.paragraphs]
    article = document.articles[0]
    assert article.title == "我市地铁2号线正式开通运营"
    assert article.date == "2024-06-28"
    assert article.metadata["author"] == "李明"
    for sentence in ARTICLE:
        assert sum(sentence in text for text in texts) == 1, sentence
    assert "线路长度（公里）：数值 27.3" in texts  # a table row under its column header
    assert "总投资（亿元）：数值 186.4" in texts
    for chrome in CHROME:
        assert not any(chrome in text for text in texts), chrome
    assert len(texts) == 8
    summary = format_summary([document], warnings)
    assert "metro.html: main content kept 8 paragraphs, boilerplate removed" in summary
    removed = int(re.match(r"\d+", summary.split("boilerplate removed ")[1]).group())
    assert removed >= len(CHROME) - 2  # some chrome shares a line ("首页 | 登录 | 注册 …")


def test_a_page_with_no_article_to_tell_apart_is_read_whole_and_the_report_says_so(tmp_path):
    (tmp_path / "brief.html").write_text(
        "<html><head><title>简报</title></head><body><h1>城市服务简报</h1><p>全市新建社区食堂3个。</p>"
        "<ul><li>新增停车位500个。</li><li>新开公交线路4条。</li></ul><div>没有段落标签的文字也会读到。</div>"
        "</body></html>", encoding="utf-8")
    document, warnings = read_one(tmp_path)
    assert [p.text for p in document.paragraphs] == ["全市新建社区食堂3个。", "新增停车位500个。", "新开公交线路4条。",
                                                     "没有段落标签的文字也会读到。"]
    assert "brief.html: no main content found, read whole page" in format_summary([document], warnings)


def test_the_byline_gives_the_author_and_date_when_the_page_has_no_meta_tags(tmp_path):
    page = NEWS_PAGE.replace('<meta name="author" content="李明">', "").replace(
        '<meta property="article:published_time" content="2024-06-28T09:30:00+08:00">', "")
    (tmp_path / "metro.html").write_text(page, encoding="utf-8")
    document, _ = read_one(tmp_path)
    assert document.articles[0].metadata["author"] == "李明"
    assert document.articles[0].date == "2024-06-28"


@pytest.fixture(scope="module")
def news(tmp_path_factory):
    from conftest import engine_over

    return engine_over(tmp_path_factory, "news", {"metro.html": NEWS_PAGE})


def test_a_question_the_page_does_not_answer_is_refused_not_answered_from_a_related_link(news):
    answer = news.ask("地铁3号线的票价是多少？")
    assert not answer.answered, answer.text
    for citation in answer.citations:
        assert not any(chrome in citation.text for chrome in CHROME), citation.text


def test_a_figure_in_the_page_table_is_answered_from_its_row(news):
    answer = news.ask("地铁2号线的线路长度是多少？")
    assert answer.answered and answer.text.startswith("27.3"), answer.text
    assert answer.citations[0].text == "线路长度（公里）：数值 27.3"


# --- spreadsheets -------------------------------------------------------------------------------------------
def make_workbook(path: Path) -> None:
    """Two sheets: pay with a header row, an empty column B, an empty row and a formula openpyxl cannot compute
    (so it has no cached value), and district figures under a title row that gives the unit."""
    import openpyxl

    workbook = openpyxl.Workbook()
    pay = workbook.active
    pay.title = "工资表"
    pay.append(["姓名", None, "部门", "月薪（元）", "年终奖（元）"])
    pay.append(["张三", None, "财务部", 8500, "=D2*2"])
    pay.append([])
    pay.append(["李四", None, "技术部", 12000, 24000])
    pay.append(["王五", None, "市场部", 9800.0, 19600])
    people = workbook.create_sheet("各区人口")
    people.append(["2023年末常住人口（单位：万人）"])
    people.append(["区", "常住人口", "城镇化率"])
    people.append(["新城区", 78.6, 0.953])
    people.append(["赛罕区", 105.2, 0.912])
    for cell in ("C3", "C4"):
        people[cell].number_format = "0.0%"
    workbook.save(str(path))


def make_budget_workbook(path: Path) -> None:
    """A two-row header: each year merged over its 收入 and 支出 columns, 部门 merged down both rows; under a
    title merged across the sheet; a second sheet with a department merged down its people's rows."""
    import openpyxl

    workbook = openpyxl.Workbook()
    budget = workbook.active
    budget.title = "收支"
    budget.append(["各部门收支情况（万元）"])
    budget.append(["部门", "2023年", None, "2022年", None])
    budget.append([None, "收入", "支出", "收入", "支出"])
    budget.append(["财务部", 120, 80, 100, 70])
    budget.append(["技术部", 300, 260, 280, 240])
    for cells in ("A1:E1", "B2:C2", "D2:E2", "A2:A3"):
        budget.merge_cells(cells)
    staff = workbook.create_sheet("人员")
    staff.append(["部门", "姓名", "职务"])
    staff.append(["技术部", "赵六", "经理"])
    staff.append([None, "钱七", "工程师"])
    staff.merge_cells("A2:A3")
    workbook.save(str(path))


BUDGET_ROWS = ["财务部（万元）：2023年 收入 120；2023年 支出 80；2022年 收入 100；2022年 支出 70",
               "技术部（万元）：2023年 收入 300；2023年 支出 260；2022年 收入 280；2022年 支出 240"]


def test_a_header_merged_over_columns_heads_each_of_them_and_a_cell_merged_down_fills_its_rows(tmp_path):
    make_budget_workbook(tmp_path / "budget.xlsx")
    document, _ = read_one(tmp_path)
    assert [(p.section, p.text) for p in document.paragraphs] == [
        *((("收支", "各部门收支情况（万元）"), row) for row in BUDGET_ROWS),
        (("人员",), "技术部：姓名 赵六；职务 经理"),
        (("人员",), "技术部：姓名 钱七；职务 工程师"),
    ]


def test_a_workbook_too_large_to_load_whole_is_read_row_by_row_and_the_report_says_merges_were_not(tmp_path,
                                                                                                    monkeypatch):
    from qa.layouts import spreadsheet

    make_budget_workbook(tmp_path / "budget.xlsx")
    monkeypatch.setattr(spreadsheet, "MAX_WHOLE_BYTES", 1_000)
    document, warnings = read_one(tmp_path)
    assert "技术部：姓名 赵六；职务 经理" in [p.text for p in document.paragraphs]
    assert "budget.xlsx: sheets 2, rows" in format_summary([document], warnings)
    assert "merged cells not read (over 1,000 bytes unpacked)" in format_summary([document], warnings)


def test_a_small_xlsx_holding_a_huge_sheet_is_refused_by_name_before_openpyxl_reads_it(tmp_path, monkeypatch):
    import zipfile

    import openpyxl

    make_budget_workbook(tmp_path / "plain.xlsx")
    # 60 MB of sheet (whitespace between its elements, which XML allows) that compresses to some 60 KB
    with zipfile.ZipFile(tmp_path / "plain.xlsx") as plain, \
            zipfile.ZipFile(tmp_path / "bomb.xlsx", "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in plain.infolist():
            content = plain.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(b"</worksheet>", b" " * 60_000_000 + b"</worksheet>")
            bomb.writestr(item.filename, content)
    (tmp_path / "plain.xlsx").unlink()
    (tmp_path / "notes.txt").write_text("预算表另附。", encoding="utf-8")
    assert (tmp_path / "bomb.xlsx").stat().st_size < 1_000_000

    def refuse(*args, **kwargs):
        raise AssertionError("openpyxl was given the file")

    monkeypatch.setattr(openpyxl, "load_workbook", refuse)
    documents, warnings = load_corpus(tmp_path)
    assert [d.source for d in documents] == ["notes.txt"]
    assert len(warnings) == 1 and warnings[0].startswith("skipped bomb.xlsx: it unpacks to 60,"), warnings
    assert "QA_MAX_EXPANDED_BYTES" in warnings[0]


def test_a_tsv_splits_at_tabs_only_and_an_xlsm_is_read_as_its_cells(tmp_path):
    import zipfile

    (tmp_path / "grants.tsv").write_text("项目\t金额（元）\t说明\n路灯改造\t1,200\t含安装, 调试\n", encoding="utf-8")
    make_budget_workbook(tmp_path / "book.xlsx")
    # The same workbook as Excel saves it with macros: the macro-enabled content type and a VBA project.
    with zipfile.ZipFile(tmp_path / "book.xlsx") as plain, zipfile.ZipFile(tmp_path / "macro.xlsm", "w") as macro:
        for item in plain.infolist():
            content = plain.read(item.filename)
            if item.filename == "[Content_Types].xml":
                content = content.replace(b"vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                                          b"vnd.ms-excel.sheet.macroEnabled.main+xml")
            macro.writestr(item, content)
        macro.writestr("xl/vbaProject.bin", b"Attribute VB_Name = \"Module1\"\nSub AutoOpen()\nEnd Sub\n")
    (tmp_path / "book.xlsx").unlink()
    documents, warnings = load_corpus(tmp_path)
    by_name = {d.source: d for d in documents}
    assert [p.text for p in by_name["grants.tsv"].paragraphs] == ["路灯改造：金额（元） 1,200；说明 含安装, 调试"]
    assert by_name["macro.xlsm"].layout == "xlsx"
    assert [p.text for p in by_name["macro.xlsm"].paragraphs][:2] == BUDGET_ROWS
    assert not any("Sub" in p.text for p in by_name["macro.xlsm"].paragraphs)


METRO_CSV = "线路,线路长度（公里）,车站数量（座）,开通年份\n地铁1号线,21.7,20,2019\n地铁2号线,27.3,24,2024\n"
NOTICE_CSV = ("序号,项目,金额（万元）,负责单位\n1,道路改造,1200,住建局\n2,公园提升,350,园林局\n,,,\n"
              "3,学校扩建,2800,教育局\n")


def test_each_sheet_is_a_section_and_each_row_one_paragraph_under_its_headers(tmp_path):
    from qa.layouts.spreadsheet import XlsxLayout

    make_workbook(tmp_path / "book.xlsx")
    document, warnings = read_one(tmp_path)
    assert document.layout == "xlsx"
    assert [(p.section, p.text) for p in document.paragraphs] == [
        (("工资表",), "张三：部门 财务部；月薪（元） 8500"),
        (("工资表",), "李四：部门 技术部；月薪（元） 12000；年终奖（元） 24000"),
        (("工资表",), "王五：部门 市场部；月薪（元） 9800；年终奖（元） 19600"),
        (("各区人口", "2023年末常住人口（单位：万人）"), "新城区（万人）：常住人口 78.6；城镇化率 95.3%"),
        (("各区人口", "2023年末常住人口（单位：万人）"), "赛罕区（万人）：常住人口 105.2；城镇化率 91.2%"),
    ]
    assert not any("=" in p.text or "None" in p.text for p in document.paragraphs)  # no formula text
    assert "book.xlsx: sheets 2, rows 5" in format_summary([document], warnings)
    parsed = XlsxLayout().parse("book.xlsx", (tmp_path / "book.xlsx").read_bytes(), None)[0]
    assert [block.row for block in parsed.blocks] == [2, 4, 5, 3, 4]  # the rows as the sheet numbers them


def test_a_gb18030_csv_is_decoded_and_read_row_by_row(tmp_path):
    from qa.layouts.spreadsheet import CsvLayout

    (tmp_path / "notice.csv").write_bytes(NOTICE_CSV.encode("gb18030"))
    (tmp_path / "bom.csv").write_bytes(NOTICE_CSV.replace("住建局", "交通局").encode("utf-8-sig"))
    documents, warnings = load_corpus(tmp_path)
    by_name = {d.source: [p.text for p in d.paragraphs] for d in documents}
    assert by_name["notice.csv"] == ["道路改造：金额（万元） 1200；负责单位 住建局；序号 1",
                                     "公园提升：金额（万元） 350；负责单位 园林局；序号 2",
                                     "学校扩建：金额（万元） 2800；负责单位 教育局；序号 3"]
    assert by_name["bom.csv"][0] == "道路改造：金额（万元） 1200；负责单位 交通局；序号 1"  # no BOM in the header
    assert "notice.csv: sheets 1, rows 3" in format_summary(documents, warnings)
    parsed = CsvLayout().parse("notice.csv", b"", NOTICE_CSV)[0]
    assert [block.row for block in parsed.blocks] == [2, 3, 5]


@pytest.fixture(scope="module")
def sheets(tmp_path_factory):
    from qa.config import Settings
    from qa.engine import Engine

    data = tmp_path_factory.mktemp("sheets")
    make_workbook(data / "book.xlsx")
    (data / "notice.csv").write_bytes(NOTICE_CSV.encode("gb18030"))
    (data / "metro.csv").write_text(METRO_CSV, encoding="utf-8")
    make_budget_workbook(data / "budget.xlsx")
    engine = Engine(Settings(data_dir=data, index_dir=tmp_path_factory.mktemp("sheets-index")))
    engine.build_index(show_bar=False)
    return engine


# The answer's lead (its first line) gives the value of the right cell with the unit its label ("赛罕区（万人）")
# or column header ("月薪（元）") states; the cited row carries it too.
@pytest.mark.parametrize("question, value, unit, row", [
    ("李四的月薪是多少？", "12000", "元", "李四：部门 技术部；月薪（元） 12000；年终奖（元） 24000"),
    ("赛罕区的常住人口是多少？", "105.2", "万人", "赛罕区（万人）：常住人口 105.2；城镇化率 91.2%"),
    ("公园提升的金额是多少？", "350", "万元", "公园提升：金额（万元） 350；负责单位 园林局；序号 2"),
    ("地铁2号线的线路长度是多少？", "27.3", "公里",
     "地铁2号线：线路长度（公里） 27.3；车站数量（座） 24；开通年份 2024"),
    ("财务部2023年的支出是多少？", "80", "万元", BUDGET_ROWS[0]),
])
def test_a_cell_is_answered_from_its_row_and_column_citing_the_row(sheets, question, value, unit, row):
    answer = sheets.ask(question)
    assert answer.answered and re.sub(r"\[\d+\]", "", answer.lead).startswith(value + unit), answer.text
    assert unit in answer.citations[0].text
    assert answer.citations[0].text == row
