"""Ingestion of the shipped page and helpers: decoding, interviews and their metadata, page repair, chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.corpus import (
    CHUNK_CHARS,
    UnreadableFile,
    chunk_paragraph,
    decode,
    load_corpus,
    parse_document,
    repair_broken_paragraphs,
)
from qa.text import ends_a_paragraph, split_sentences

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "hohhot-2024-district-interviews.txt"


@pytest.fixture(scope="module")
def page():
    articles, paragraphs = parse_document(SHIPPED.read_text(encoding="utf-8"), SHIPPED.name)
    return articles, paragraphs


def paragraphs_of(page, district):
    articles, paragraphs = page
    article = next(a for a in articles if a.district == district)
    return [p.text for p in paragraphs if p.article_id == article.id]


def test_the_page_splits_into_six_interviews_with_their_metadata(page):
    articles, _ = page
    found = [(a.district, a.interviewee, a.role, a.reporter) for a in articles]
    assert found == [
        ("新城区", "殷树刚", "新城区委副书记、区长", "刘沙沙"),
        ("回民区", "乔文杰", "回民区委副书记、区长", "祁晓燕"),
        ("玉泉区", "南男", "玉泉区委副书记、区长", "阿柔娜"),
        ("赛罕区", "李晓燕", "市委常委、赛罕区委书记", "杨彩霞"),
        ("和林格尔新区", "朱建国", "市政府党组成员、和林格尔新区管委会主任", "刘丽霞"),
        ("呼和浩特经济技术开发区", "刘占英", "呼和浩特经济技术开发区党工委书记", "宋向华"),
    ]
    assert articles[0].title == "牢固树立“有解思维” 切实强化“交卷意识” 不折不扣抓落实"
    assert articles[3].subtitle == "——访市委常委、赛罕区委书记李晓燕"


def test_headline_subtitle_and_byline_are_not_paragraphs(page):
    articles, paragraphs = page
    titles = {a.title for a in articles}
    for paragraph in paragraphs:
        assert paragraph.text not in titles
        assert not paragraph.text.startswith(("——访", "●"))


@pytest.mark.parametrize(
    "district, joined",
    [
        ("新城区", "引进品牌首店、旗舰店。"),
        ("回民区", "其次，千方百计抓招商引资。"),
        ("玉泉区", "100平方公里现代农牧业发展示范区规划"),
        ("玉泉区", "加快形成两百亿级生物医药产业集群"),
        ("赛罕区", "确保呼石化、中环等重点企业放量生产"),
        ("和林格尔新区", "在争取国家荣誉方面"),
        ("呼和浩特经济技术开发区", "全年计划实施投资500万元以上项目101个，总投资810亿元。"),
    ],
)
def test_every_paragraph_cut_by_a_page_break_is_joined_back(page, district, joined):
    holding = [text for text in paragraphs_of(page, district) if joined in text]
    assert len(holding) == 1


def test_no_paragraph_is_left_cut_in_two(page):
    _, paragraphs = page
    assert all(ends_a_paragraph(p.text) for p in paragraphs)


def test_the_saihan_repair_drops_only_the_exact_repeat_and_keeps_print_order(page):
    saihan = paragraphs_of(page, "赛罕区")
    closing = [t for t in saihan if t.startswith("“新的一年，赛罕区将")]
    assert len(closing) == 1  # printed twice, word for word: indexed once
    # Nothing else is dropped or moved: the fragment printed by the layout slip ("等新业态深度融合…") stays, joined
    # to the paragraph cut right above it, and the paragraph printed after the closing quote stays after it.
    assert [t[:8] for t in saihan] == ["“市委、市政府发", "李晓燕表示，赛罕", "“新的一年，赛罕", "新区建设为复合型"]
    assert "区域消费生活中心配套，将等新业态深度融合" in saihan[1]
    assert saihan[3].count("六是敢闯敢试") == 1


def test_paragraphs_are_numbered_from_one_in_each_article_with_stable_ids(page):
    articles, paragraphs = page
    for article in articles:
        numbers = [p.number for p in paragraphs if p.article_id == article.id]
        assert numbers == list(range(1, len(numbers) + 1))
    _, again = parse_document(SHIPPED.read_text(encoding="utf-8"), SHIPPED.name)
    assert [p.id for p in again] == [p.id for p in paragraphs]
    assert len({p.id for p in paragraphs}) == len(paragraphs)


def test_repair_keeps_headings_and_joins_only_long_cut_lines_to_the_block_right_after():
    blocks = ["一、产业发展", "经开区全年计划实施投资500万元以上项目，总投资达到", "810亿元。",
              "今年将持续推进重点项目建设，确保项目早日", "“新的一年，继续努力。”", "建成投产。"]
    assert repair_broken_paragraphs(blocks) == [
        "一、产业发展",
        "经开区全年计划实施投资500万元以上项目，总投资达到810亿元。",
        "今年将持续推进重点项目建设，确保项目早日",  # a quotation follows: never joined past it
        "“新的一年，继续努力。”",
        "建成投产。",
    ]


def test_sentences_split_on_chinese_punctuation_and_keep_closing_quotes():
    text = "“目标已明确。”他说。全年实施128个项目；力争完成投资！是否可行？当然…"
    assert split_sentences(text) == ["“目标已明确。”", "他说。", "全年实施128个项目；", "力争完成投资！",
                                     "是否可行？", "当然…"]


def test_long_paragraphs_become_sentence_chunks_that_rebuild_the_paragraph(page):
    _, paragraphs = page
    longest = max(paragraphs, key=lambda p: len(p.text))
    chunks = chunk_paragraph(longest)
    assert len(chunks) > 1
    assert "".join(c.text for c in chunks) == longest.text
    assert all(len(c.text) <= CHUNK_CHARS or len(split_sentences(c.text)) == 1 for c in chunks)
    assert {c.paragraph_id for c in chunks} == {longest.id}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "big5"])
def test_files_in_chinese_encodings_are_decoded(tmp_path, encoding):
    text = "——访玉泉区委副书记、区长南男\n建设2.7万亩高标准农田，打造现代农业示范基地。" * 3
    if encoding == "big5":
        text = "玉泉區將建設2.7萬畝高標準農田，打造現代農業示範基地。" * 3
    assert decode(text.encode(encoding)) == text


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_read_not_skipped_as_binary(tmp_path, encoding):
    text = "玉泉区会议纪要\n\n玉泉区将建设2.7万亩高标准农田。\n\n会议还决定新建3个社区食堂（年内投入使用）。\n"
    (tmp_path / "minutes.txt").write_bytes(text.encode(encoding))
    (tmp_path / "notes.md").write_bytes("# Notes\n\nThe canteen opens in May 2024.\n".encode(encoding))
    # Beside them, binary data with NULs at both even and odd offsets, and UTF-8 with one stray NUL byte.
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "stray.txt").write_bytes("赛罕区计划新建3个社区食堂。\x00\n年内投入使用。\n".encode())
    documents, warnings = load_corpus(tmp_path)
    by_source = {d.source: d for d in documents}
    assert sorted(by_source) == ["minutes.txt", "notes.md", "stray.txt"]
    assert [p.text for p in by_source["minutes.txt"].paragraphs] == [
        "玉泉区将建设2.7万亩高标准农田。", "会议还决定新建3个社区食堂（年内投入使用）。"]
    assert by_source["minutes.txt"].articles[0].title == "玉泉区会议纪要"
    assert [p.text for p in by_source["notes.md"].paragraphs] == ["The canteen opens in May 2024."]
    stray = by_source["stray.txt"]
    read = stray.articles[0].title + "".join(p.text for p in stray.paragraphs)
    assert "赛罕区计划新建3个社区食堂" in read and "年内投入使用" in read  # read as UTF-8, as before
    assert [w for w in warnings if w.startswith("skipped")] == ["skipped binary.txt: binary data, not text"]


def test_unreadable_and_unsupported_files_are_skipped_with_a_warning_naming_them(tmp_path):
    (tmp_path / "good.txt").write_text("赛罕区计划新建3个社区食堂，年内投入使用。", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "report.xls").write_bytes(b"\xd0\xcf\x11\xe0 ...")
    documents, warnings = load_corpus(tmp_path)
    assert [d.source for d in documents] == ["good.txt"]
    assert any("binary.txt" in w for w in warnings)
    assert any("report.xls" in w and "unsupported" in w for w in warnings)
    with pytest.raises(UnreadableFile):
        decode(bytes(range(256)) * 8)


def test_a_plain_file_is_one_article_titled_by_its_heading(tmp_path):
    articles, paragraphs = parse_document("# 会议纪要\n\n赛罕区计划新建3个社区食堂。\n\n年内投入使用。", "notes.md")
    assert [a.title for a in articles] == ["会议纪要"]
    assert [p.text for p in paragraphs] == ["赛罕区计划新建3个社区食堂。", "年内投入使用。"]


def test_html_and_docx_files_are_read_as_articles(tmp_path):
    import docx

    (tmp_path / "page.html").write_text(
        "<html><head><title>简报</title><script>alert(1)</script></head><body><h1>赛罕区民生简报</h1>"
        "<p>赛罕区计划新建3个社区食堂，年内投入使用。</p><ul><li>新增停车位500个。</li></ul></body></html>",
        encoding="utf-8",
    )
    document = docx.Document()
    document.add_heading("玉泉区会议纪要", level=1)
    document.add_paragraph("玉泉区将建设2.7万亩高标准农田。")
    document.save(str(tmp_path / "minutes.docx"))
    (tmp_path / "broken.docx").write_bytes(b"PK not really a zip")

    documents, warnings = load_corpus(tmp_path)
    by_source = {d.source: d for d in documents}
    assert [a.title for a in by_source["page.html"].articles] == ["赛罕区民生简报"]
    assert [p.text for p in by_source["page.html"].paragraphs] == ["赛罕区计划新建3个社区食堂，年内投入使用。",
                                                                  "新增停车位500个。"]
    assert [a.title for a in by_source["minutes.docx"].articles] == ["玉泉区会议纪要"]
    assert [p.text for p in by_source["minutes.docx"].paragraphs] == ["玉泉区将建设2.7万亩高标准农田。"]
    assert any("broken.docx" in w for w in warnings)
