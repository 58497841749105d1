"""The name index: built from documents, aliases (pinyin, short forms), token boundaries, saved and loaded."""

from __future__ import annotations

from qa.names import NameIndex, aliases
from qa.types import Article, Paragraph


def _corpus():
    articles = [
        Article(id="a1", title="尤金袋鼠", source="a.md"),
        Article(id="a2", title="年度报告", source="b.md",
                metadata={"interviewee": "李安", "district": "某某经济技术开发区"}),
        Article(id="a3", title="保罗·皮尔斯", source="c.md"),
    ]
    paragraphs = [
        Paragraph(id="p1", article_id="a1", number=1, text="尤金袋鼠分布在澳洲南部岛屿。"),
        Paragraph(id="p2", article_id="a2", number=1, text="李安表示，开发区今年引进企业十家。"),
        Paragraph(id="p3", article_id="a3", number=1, text="皮尔斯获得总决赛最有价值球员。"),
    ]
    return articles, paragraphs


def test_titles_metadata_and_their_aliases_are_found_on_token_boundaries():
    names = NameIndex.build(*_corpus())
    [mention] = names.find("尤金袋鼠分布在哪里？")
    assert mention.canonical == "尤金袋鼠" and mention.article_ids == ("a1",)
    assert {m.canonical for m in names.find("Who is Li An?")} == {"李安"}
    assert names.find("the alliance between them") == []  # "lian" inside a word is no name
    assert names.articles_named("经开区今年引进了多少家企业") == {"a2"}


def test_aliases_follow_general_rules():
    assert "经开区" in aliases("某某经济技术开发区", "place")
    assert "皮尔斯" in aliases("保罗·皮尔斯", "person")
    assert "xincheng district" in aliases("新城区", "place")
    assert aliases("某地（消歧义）", "title")[:2] == ["某地（消歧义）", "某地"]


def test_the_index_survives_saving_and_loading(tmp_path):
    names = NameIndex.build(*_corpus())
    names.save(tmp_path)
    loaded = NameIndex.load(tmp_path)
    assert len(loaded) == len(names)
    assert loaded.find("尤金袋鼠分布在哪里？") == names.find("尤金袋鼠分布在哪里？")
