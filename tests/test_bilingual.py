"""English questions over Chinese documents, and questions in parts: answered from the right sentence, each part
labelled with what it is about. A tiny corpus written here, indexed with the default embedding model."""

from __future__ import annotations

import pytest
from conftest import engine_over

from qa.bilingual import chinese_words, closest_words, latin_names
from qa.question import analyse

DISTRICTS = {
    "donghu.md": "# 东湖区\n\n"
                 "东湖区今年计划建设12个停车场，并改造3个街心公园。"
                 "区里将引进15家软件企业，打造数字产业园。"
                 "东湖区还将与两家银行签约，共建一座数据中心。\n\n"
                 "全年计划修建乡村道路40公里，总投资2.5亿元。\n",
    "nanshan.md": "# 南山区\n\n"
                 "南山区今年计划建设9个停车场。"
                 "南山区将建设一所中学，可容纳1200名学生。\n\n"
                 "南山区的果园面积将扩大到8000亩。"
                 "全区8家物流企业今年计划实现营业收入12亿元。\n",
}


# Foreign names are written in Latin letters once, beside their first mention, as encyclopaedias do.
COMPANIES = {
    "lanhai.md": "# 蓝海食品\n\n"
                 "蓝海食品公司（Blue Harbour Foods）是一家美国食品企业，总部设在芝加哥，员工约1.5万人。"
                 "蓝海食品公司创立于1939年，最初主要销售食糖和咖啡。"
                 "公司的招牌产品是冷冻蛋糕。\n",
    "beifeng.md": "# 北峰机械\n\n"
                  "北峰机械（Northpeak Machinery）是一家德国机械制造商，总部设在斯图加特。"
                  "北峰机械成立于1952年，主要生产机床。\n",
}


# Chinese text gives an English title in Latin letters: its common words ("Where", "Came") are no names.
RAILWAY = {
    "album.md": "# 归来之处\n\n"
                "《归来之处》（This Is Where I Came In）是一张摇滚专辑，收录了十二首歌曲。"
                "专辑中最受欢迎的是第三首歌曲。\n",
    "port.md": "# 达湾港\n\n"
               "达湾港位于东部海岸，是该国最大的海港之一。"
               "跨海铁路计划的东段终点是达湾港，西端终点在白石港。\n",
}


@pytest.fixture(scope="module")
def railway(tmp_path_factory):
    return engine_over(tmp_path_factory, "railway", RAILWAY)


@pytest.fixture(scope="module")
def districts(tmp_path_factory):
    return engine_over(tmp_path_factory, "districts", DISTRICTS)


@pytest.fixture(scope="module")
def companies(tmp_path_factory):
    return engine_over(tmp_path_factory, "companies", COMPANIES)


def test_the_dictionary_gives_chinese_words_for_english_phrases():
    found = dict(chinese_words("Which companies' data centre projects will the town sign?"))
    assert "数据" in found["data"] and "中心" in found["centre"]  # British spelling, as the dictionary is American
    assert "签约" in found["sign"] and "项目" in found["projects"]
    assert "which" not in found and "will" not in found  # question and function words carry no topic


@pytest.mark.parametrize(
    "question, expected, sentence",
    [
        ("How many software companies will Donghu District bring in?", "15家", "引进15家软件企业"),
        ("How many parking lots will Donghu District build this year?", "12个", "建设12个停车场"),
        ("How many students can the new middle school in Nanshan District hold?", "1200名", "可容纳1200名学生"),
    ],
)
def test_an_english_question_is_answered_from_the_chinese_sentence_saying_it(districts, question, expected, sentence):
    answer = districts.ask(question)
    assert answer.answered, answer.text
    assert answer.text.startswith(expected)
    assert sentence in answer.citations[0].quote


def test_a_verb_and_its_preposition_are_translated_together():
    found = dict(chinese_words("Which language does the word come from?"))
    assert "来自" in found["come from"]


@pytest.mark.parametrize(
    "question, sentence",
    [
        ("In what year was Blue Harbour Foods founded?", "创立于1939年"),
        ("When was Northpeak Machinery established?", "成立于1952年"),
    ],
)
def test_an_english_question_naming_a_company_by_its_latin_name_is_answered_from_the_sentence_saying_it(
        companies, question, sentence):
    """The Latin name says which passage is about the company, not which of its sentences answers."""
    answer = companies.ask(question)
    assert answer.answered, answer.text
    assert sentence in answer.citations[0].quote


def test_an_english_question_the_documents_do_not_answer_is_refused(districts):
    assert not districts.ask("How old is the head of Donghu District?").answered


def test_which_is_more_is_answered_with_the_name_and_each_side_labelled(districts):
    answer = districts.ask("东湖区和南山区，哪个区今年建设的停车场更多？")
    assert answer.answered
    first, labelled, *_ = answer.text.split("\n\n")
    assert first == "东湖区（12个）"
    assert "东湖区：12个" in labelled and "南山区：9个" in labelled
    assert {c.title for c in answer.citations} == {"东湖区", "南山区"}


def test_a_total_over_two_places_shows_each_part(districts):
    answer = districts.ask("东湖区和南山区今年建设的停车场加起来一共多少个？")
    assert answer.answered
    assert answer.text.splitlines()[0] == "合计21个（东湖区 12个 + 南山区 9个）"


def test_parts_about_one_place_are_labelled_by_what_each_asks(districts):
    answer = districts.ask("东湖区的停车场和街心公园各有多少个？")
    assert answer.answered
    lead = answer.text.split("\n\n")[0]
    assert "停车场：12个" in lead and "公园：3个" in lead


def test_an_amount_per_unit_divides_the_amount_by_the_count(districts):
    answer = districts.ask("南山区的物流企业平均每家要实现多少营业收入？")
    assert answer.answered
    assert answer.text.splitlines()[0] == "平均每家约1.5亿元（12亿元 ÷ 8家）"


def test_a_phrase_with_many_translations_is_searched_by_the_words_that_say_just_it():
    assert "果实" in closest_words("fruit") and "坐果" not in closest_words("fruit")  # "to bear fruit"
    keywords = analyse("How long is the fruit of the tree?").keywords
    assert "果实" in keywords and "坐果" not in keywords


def test_only_names_and_words_the_dictionary_lacks_are_kept_as_written():
    names = latin_names("Where is the terminal of the Saudi Landbridge project, and what is cycloheximide?")
    assert {"saudi", "landbridge", "cycloheximide"} <= names
    assert not names & {"where", "terminal", "project", "what"}


def test_an_english_question_word_in_another_articles_english_title_does_not_answer_it(railway):
    """"Where" is in the album's English title; the question is answered from the railway's sentence."""
    answer = railway.ask("Where is the eastern terminal of the sea-crossing railway project?")
    assert answer.answered, answer.text
    assert "东段终点是达湾港" in answer.citations[0].quote


def test_a_scene_setting_clause_does_not_decide_what_an_english_question_asks_for():
    assert analyse("What was the registered capital of the bank when it was founded?").answer_type != "date"
    assert analyse("After he retired, when did he make his comeback?").answer_type == "date"


def test_a_two_word_phrase_also_counts_the_words_of_its_last_word():
    """"land area" is 地积 in the dictionary, but text says 区域 or 面积 far more often."""
    found = dict(chinese_words("What is the land area of the district?"))
    assert "地积" in found["land area"] and "区域" in found["land area"]
