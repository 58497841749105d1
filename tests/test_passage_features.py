"""Passage tags computed when a paragraph is indexed and read at question time: the same tags jieba gives, and
only the question tagged when it is asked."""

from __future__ import annotations

import re
import types
from pathlib import Path

import jieba.posseg as posseg
import pytest

from qa import passage_features
from qa.config import Settings
from qa.engine import Engine
from qa.text import split_sentences

CMRC_DOCS = Path(__file__).resolve().parent.parent / "eval" / "cmrc2018-trial" / "docs"
# Invented, with names jieba does not know, where its part-of-speech tagging is slowest.
LANTERNS = ("# 灯会\n\n乌拉卡镇的灯会始于1873年，由灯匠莫瑞纳·塔斯克发起。每年正月十五，镇上挂出三千盏灯笼。\n\n"
            "灯笼用竹篾和桑皮纸扎成，最高的一盏高4.5米，叫做“乌拉卡之星”。\n")
MILL = "# 水磨坊\n\n石溪村的水磨坊建于1921年，磨盘直径1.8米，由伐木工人贝达·洛伦兹修建。\n"


def recording(calls: list[str]):
    """jieba's tagger, counting what it is asked to tag."""
    def lcut(text, *args, **kwargs):
        calls.append(text)
        return posseg.lcut(text, *args, **kwargs)
    return types.SimpleNamespace(lcut=lcut, pair=posseg.pair)


@pytest.fixture
def lantern_engine(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "lanterns.md").write_text(LANTERNS, encoding="utf-8")
    (data / "mill.md").write_text(MILL, encoding="utf-8")
    engine = Engine(Settings(data_dir=data, index_dir=tmp_path / "index"))
    engine.build_index(show_bar=False)
    return engine


def test_the_stored_tags_are_what_jieba_gives_for_any_sentence_or_clause_of_a_passage(tmp_path):
    texts = [path.read_text(encoding="utf-8") for path in sorted(CMRC_DOCS.glob("*.md"))[:40]]
    passage_features.write(tmp_path, texts)
    passage_features.register(tmp_path)
    pieces = [piece for text in texts for sentence in split_sentences(text)
              for piece in (sentence, *sentence.split("，"))]
    assert len(pieces) > 500
    for piece in pieces:
        assert [(p.word, p.flag) for p in passage_features.tags(piece)] == \
               [(p.word, p.flag) for p in posseg.lcut(piece)], piece


def test_a_question_tags_only_itself_the_passages_tags_are_read(lantern_engine, monkeypatch):
    generation = next(lantern_engine.settings.index_dir.glob("gen-*"))
    assert (generation / passage_features.FEATURES_FILE).is_file()
    calls: list[str] = []
    monkeypatch.setattr(passage_features, "posseg", recording(calls))
    passage_features._tagged_run.cache_clear()
    question = "乌拉卡镇的灯会是哪一年开始的？"
    answer = lantern_engine.ask(question)
    assert answer.answered and "1873年" in answer.text
    # no passage's words went to the tagger (a lone punctuation mark needs no table)
    assert [text for text in calls if re.search("[\u4e00-\u9fff]", text) and text not in question] == []


def test_an_update_tags_only_the_paragraph_that_changed(lantern_engine, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(passage_features, "posseg", recording(calls))
    changed = MILL.replace("1921年", "1926年").replace("1.8米", "2.1米")
    (lantern_engine.settings.data_dir / "mill.md").write_text(changed, encoding="utf-8")
    lantern_engine.build_index(show_bar=False)
    assert calls and all(text in changed for text in calls), calls
    assert not any("灯" in text for text in calls)  # the unchanged file's text is not tagged again
    assert "2.1米" in lantern_engine.ask("水磨坊的磨盘直径是多少？").text
