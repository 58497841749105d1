"""Citation markers and fact checks on text alone: parsing each style, renumbering, sentences, facts."""

from __future__ import annotations

import pytest

from qa.answer.citations import (
    check_reply,
    cited_numbers,
    clean_reply,
    facts_in,
    plain_sentence,
    preview,
    renumber,
    split_answer,
    supporting_sentences,
    unsupported_sentences,
)

XINCHENG = (
    "殷树刚表示，为落实好全市两会精神，新城区委将重点做好5个方面工作。产业发展方面，以科技城为主阵地，"
    "让科技创新赋能产业发展，聚焦总部基地和数字经济、智能制造、生物科技“1+3”布局，高标准谋划科技城的未来发展。"
    "全年实施128个区级重点项目建设，力争完成年度投资200亿元以上。"
)
HUIMIN = "立足“一区一带”，围绕“四大产业集群”发展思路，回民区确定了72个2024年度实施的重点项目。"
YUQUAN = (
    "南男说，一产方面，玉泉区将主动融入自治区100平方公里现代农牧业发展示范区规划，建设2.7万亩高标准农田。"
)


# ------------------------------------------------------------------------------------------ markers


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("实施128个重点项目[1]。", [1]),
        ("实施128个重点项目[1][2]。", [1, 2]),
        ("实施128个重点项目[1, 2]。", [1, 2]),
        ("实施128个重点项目[1，3]。", [1, 3]),
        ("实施128个重点项目【1】。", [1]),
        ("实施128个重点项目【1】【2】。", [1, 2]),
        ("实施128个重点项目[^1]。", [1]),
        ("实施128个重点项目(来源1)。", [1]),
        ("实施128个重点项目（来源：1、2）。", [1, 2]),
        ("实施128个重点项目[来源2]。", [2]),
        ("It plans 128 projects [Source 3].", [3]),
        ("实施128个重点项目[2-4]。", [2, 3, 4]),
        ("实施128个重点项目（1）。", []),  # an enumeration, not a citation
        ("实施[2024]年的项目。", []),
    ],
)
def test_every_marker_style_models_write_is_read(text, numbers):
    assert cited_numbers(text) == numbers


def test_renumber_in_order_of_first_use_and_drop_out_of_range():
    text, sources = renumber("甲[3]。乙[1][3]。丙[7]。丁【2】。戊[0]。", ["a", "b", "c"])
    assert text == "甲[1]。乙[2][1]。丙。丁[3]。戊。"
    assert sources == [3, 1, 2]


def test_renumber_merges_passages_of_one_paragraph():
    text, sources = renumber("甲[1][3]。乙[3]。丙[2]。", ["p1", "p2", "p1"])
    assert text == "甲[1]。乙[1]。丙[2]。"
    assert sources == [1, 2]


def test_renumber_writes_every_style_the_same_way():
    text, _ = renumber("甲【2】，乙(来源1)，丙[^2]，丁[1, 2]。", ["a", "b"])
    assert text == "甲[1]，乙[2]，丙[1]，丁[2][1]。"


def test_clean_reply_drops_thinking_footnotes_and_source_lists():
    reply = "<think>先找数字……</think>\n新城区全年实施128个区级重点项目[^1]。\n\n[^1]: 新城区访谈第2段"
    assert clean_reply(reply) == "新城区全年实施128个区级重点项目[^1]。"
    reply = (
        "新城区全年实施128个区级重点项目[1]。\n\n**来源：**\n[1] 《牢固树立“有解思维”》第2段\n- [2] 回民区"
    )
    assert clean_reply(reply) == "新城区全年实施128个区级重点项目[1]。"
    assert (
        clean_reply("新城区全年实施128个区级重点项目。\n[1][2]") == "新城区全年实施128个区级重点项目。[1][2]"
    )


def test_preview_of_a_reply_still_arriving():
    assert preview("<think>想一想", ["a"]) == ""
    assert (
        preview("<think>想</think>新城区实施128个项目【2】，力争【", ["a", "b"])
        == "新城区实施128个项目[1]，力争"
    )


# ---------------------------------------------------------------------------------------- sentences


def test_sentences_keep_closing_quotes_and_the_markers_after_a_full_stop():
    text = "“新的一年，要实干。”殷树刚说。[1] 全年实施128个项目[2]。\n1. 建设2.7万亩高标准农田[3]\n2. 第二项"
    assert split_answer(text) == [
        "“新的一年，要实干。”",
        "殷树刚说。[1]",
        "全年实施128个项目[2]。",
        "1. 建设2.7万亩高标准农田[3]",
        "2. 第二项",
    ]


def test_english_sentences_end_at_a_full_stop_but_not_inside_a_number():
    text = "Yuquan will build 2.7 thousand mu [1]. Xincheng plans 128 projects [2]! Why? Because."
    assert split_answer(text) == [
        "Yuquan will build 2.7 thousand mu [1].",
        "Xincheng plans 128 projects [2]!",
        "Why?",
        "Because.",
    ]


# -------------------------------------------------------------------------------------------- facts


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("全年实施128个区级重点项目建设，力争完成年度投资200亿元以上", {"128", "20000000000"}),
        ("打造两百亿元的产业", {"20000000000"}),
        ("an investment of 20 billion yuan in 2024", {"20000000000", "2024"}),
        ("建设2.7万亩高标准农田", {"27000"}),
        ("目标是25,000家市场主体", {"25000"}),
        ("1月20日，朱建国说", {"1月", "20日"}),
        ("on January 20th", {"1月", "20日"}),
        ("增长15%", {"15%"}),
        ("增长百分之十五点五", {"15.5%"}),
        ("重点做好五个方面工作", {"5"}),
        ("十三届七次全会", {"13", "7"}),
        ("牢固树立“有解思维”", {"有解思维"}),
        ("推动中环20GW叠瓦组件项目", {"20", "gw"}),
        # words with numerals in them are not counts
        ("一方面，要聚焦商贸产业，千家万户，统一部署", set()),
        # markers and list numbers are not facts
        ("1. 新城区实施128个项目[2]【3】", {"128"}),
    ],
)
def test_facts_in(text, facts):
    assert facts_in(text) == facts


def test_a_wrong_number_is_unsupported():
    answer = "新城区将重点做好5个方面工作[1]。新城区全年实施138个区级重点项目建设[1]。"
    assert unsupported_sentences(answer, {1: XINCHENG}) == ["新城区全年实施138个区级重点项目建设。"]


def test_a_fact_held_by_another_cited_paragraph_is_supported():
    answer = "新城区实施128个区级重点项目，回民区确定了72个[1][2]。"
    assert unsupported_sentences(answer, {1: XINCHENG, 2: HUIMIN}) == []
    assert unsupported_sentences(answer, {1: XINCHENG}) == ["新城区实施128个区级重点项目，回民区确定了72个。"]


def test_a_known_name_the_cited_paragraph_does_not_mention_is_unsupported():
    answer = "回民区全年实施128个区级重点项目建设[1]。"
    names = ["新城区", "回民区"]
    assert unsupported_sentences(answer, {1: XINCHENG}, entities=names) == [
        "回民区全年实施128个区级重点项目建设。"
    ]


def test_a_number_is_checked_against_the_cited_paragraph_wherever_it_came_from():
    # the question's "2023年" and a rewrite's "150个" are not the paragraph's: shown cited, they would
    # read as facts of the source
    for answer in ("2023年，新城区全年实施128个区级重点项目建设[1]。", "新城区全年实施150个区级重点项目建设[1]。"):
        assert unsupported_sentences(answer, {1: XINCHENG}) == [plain_sentence(answer)]
    checked = check_reply("是的，新城区全年实施150个区级重点项目建设[1]。", [XINCHENG], ["x"])
    assert checked.text == "是的，新城区全年实施150个区级重点项目建设。" and checked.sources == []


def test_the_quote_is_the_paragraph_sentence_that_says_it():
    claims = ["新城区全年实施128个区级重点项目。"]
    assert (
        supporting_sentences(claims, XINCHENG)
        == "全年实施128个区级重点项目建设，力争完成年度投资200亿元以上。"
    )
    claims = ["新城区要做好五个方面工作，实施128个重点项目。"]
    assert supporting_sentences(claims, XINCHENG) == (
        "殷树刚表示，为落实好全市两会精神，新城区委将重点做好5个方面工作。"
        "全年实施128个区级重点项目建设，力争完成年度投资200亿元以上。"
    )


# ------------------------------------------------------------------------------------ checked reply


def test_check_reply_gives_an_uncited_sentence_the_passage_it_comes_from():
    checked = check_reply("根据文档，玉泉区将建设2.7万亩高标准农田。", [XINCHENG, YUQUAN], ["x", "y"])
    assert checked.text == "根据文档，玉泉区将建设2.7万亩高标准农田[1]。"
    assert checked.sources == [2]
    assert checked.uses_passages and not checked.unsupported


def test_check_reply_drops_a_cited_bystander_and_keeps_the_source():
    checked = check_reply("回民区确定了72个重点项目[1][2]。", [XINCHENG, HUIMIN], ["x", "h"])
    assert checked.text == "回民区确定了72个重点项目[1]。"
    assert checked.sources == [2]


def test_check_reply_shows_an_unsupported_key_claim_without_a_source():
    checked = check_reply(
        "新城区全年实施138个区级重点项目建设[1]。新城区将重点做好5个方面工作[1]。", [XINCHENG], ["x"]
    )
    assert checked.text == "新城区全年实施138个区级重点项目建设。新城区将重点做好5个方面工作[1]。"
    assert checked.unsupported == ["新城区全年实施138个区级重点项目建设。"]
    assert checked.key_claim_unsupported
    assert checked.uses_passages


def test_check_reply_of_something_else_uses_no_passage():
    checked = check_reply("这是一个好问题，建议咨询当地政府部门。", [XINCHENG, HUIMIN], ["x", "h"])
    assert not checked.uses_passages and checked.sources == []


def test_a_claim_without_facts_that_the_cited_paragraph_does_not_say_is_unsupported():
    checked = check_reply("系统已被攻破[1]。新城区全年实施128个区级重点项目建设[1]。", [XINCHENG], ["x"])
    assert checked.unsupported == ["系统已被攻破。"] and checked.key_claim_unsupported
    assert checked.text.startswith("系统已被攻破。") and checked.text.endswith("重点项目建设[1]。")
    # a faithful paraphrase in other words keeps its source
    paraphrase = check_reply("新城区今年将推进128个区级重点项目[1]。", [XINCHENG], ["x"])
    assert paraphrase.unsupported == [] and paraphrase.sources == [1]
