"""The extractive answerer on documents written here: which sentence it quotes, and with what around it."""

from __future__ import annotations

import pytest
from conftest import engine_over

from qa.answer import calibration
from qa.answer.extractive import (
    _SAME_MEANING,
    TOPIC_PENALTY,
    _says_nothing,
    clauses_holding,
    context_of,
    sentences_of,
)
from qa.question import analyse

DOCUMENTS = {
    "青石镇.md": "# 青石镇\n\n"
                 "青石镇是一座位于山谷中的小镇，以石板路闻名。"
                 "镇上的泉水常年不冻，冬季也有大量游客。因此青石镇又被人们称为暖泉镇。"
                 "镇北有一座古桥，建于清代。\n\n"
                 "1998年，镇上举办了第一届石雕节，吸引了三万名游客。此次活动让青石镇成为省级文化名镇。"
                 "镇政府随后修建了一座石雕博物馆。\n",
    "蓝斑鱼.md": "# 蓝斑鱼\n\n"
                 "蓝斑鱼（学名：），又名蓝点鱼、海蓝仔，是鲈形目的一种鱼。"
                 "本鱼分布于南海的珊瑚礁区，水深10至40米。"
                 "体呈淡蓝色，背部有黑色斑点，尾鳍金黄。"
                 "蓝斑鱼以小型甲壳类为食。\n",
    "灰鹭.md": "# 灰鹭\n\n"
               "灰鹭是一种涉禽，别名“长脚鹭”，分布于河口湿地。"
               "灰鹭以鱼类为食，繁殖季在春季。\n",
    "唱片.md": "# 星河唱片\n\n"
               "星河唱片成立于2001年，总部设在海港市。"
               "乐队在节目《夜空！星光》中第一次于公开场合演唱。"
               "该唱片公司在2010年停止营业。\n",
}


@pytest.fixture(scope="module")
def own_engine(tmp_path_factory):
    return engine_over(tmp_path_factory, "own-data", DOCUMENTS)


def quote_of(answer) -> str:
    return "".join(c.quote for c in answer.citations)


def test_a_why_question_answered_by_a_consequence_quotes_the_cause_before_it(own_engine):
    answer = own_engine.ask("为什么青石镇被称为暖泉镇？")
    assert answer.answered
    assert "因此青石镇又被人们称为暖泉镇" in answer.text
    assert "泉水常年不冻" in answer.text  # the cause, said by the sentence before
    assert "泉水常年不冻" in quote_of(answer)


def test_a_sentence_that_points_back_is_quoted_with_the_one_it_points_to(own_engine):
    answer = own_engine.ask("是什么活动让青石镇成为省级文化名镇？")
    assert answer.answered
    assert "第一届石雕节" in answer.text  # "此次活动" is only named by the sentence before
    assert "修建了一座石雕博物馆" not in answer.text  # not the sentence after


def test_a_sentence_that_stands_alone_is_quoted_alone(own_engine):
    answer = own_engine.ask("蓝斑鱼分布在哪里？")
    assert answer.answered
    assert "南海的珊瑚礁区" in answer.text
    assert "又名" not in answer.text


def test_an_alias_question_finds_the_sentence_that_says_it_with_another_word(own_engine):
    answer = own_engine.ask("蓝斑鱼的别名是什么？")
    assert answer.answered
    assert "蓝点鱼" in answer.text  # said with 又名, asked with 别名
    assert "长脚鹭" not in answer.text  # another article's 别名


def test_a_word_shared_in_part_picks_the_sentence(own_engine):
    # Which sentence is chosen, whatever the refusal threshold: sharing part of a word orders sentences and
    # adds nothing to the confidence.
    with calibration.overridden(0.0):
        answer = own_engine.ask("蓝斑鱼的身体是什么颜色？")
    assert answer.answered
    assert "淡蓝色" in answer.text  # 体呈…色 shares characters of 身体 and 颜色


def test_an_end_mark_inside_a_title_does_not_cut_the_sentence(own_engine):
    assert sentences_of("乐队在节目《夜空！星光》中第一次于公开场合演唱。该公司停业。") == [
        "乐队在节目《夜空！星光》中第一次于公开场合演唱。", "该公司停业。"]
    answer = own_engine.ask("乐队第一次在公开场合演唱是在什么节目？")
    assert answer.answered
    assert "《夜空！星光》" in answer.text


# Documents where the answer is not one whole sentence, or where several sentences share the question's words.
SPREAD_DOCUMENTS = {
    "银杏湖.md": "# 银杏湖\n\n"
                 "银杏湖是一座位于丘陵地带的人工湖。湖区以秋季的银杏林闻名。此外，湖区还是候鸟迁徙的重要停歇地。"
                 "湖的北岸有一座灯塔。\n\n"
                 "银杏湖的水质管理有以下两点：第一，禁止机动船只入湖。第二，每年春季清理湖底淤泥。"
                 "湖区管理处设在南岸。\n",
    "石英钟.md": "# 石英钟\n\n许多家庭的客厅里都挂着石英钟。石英钟是利用石英晶体振荡来计时的钟。\n",
    "长尾龙.md": "# 长尾龙\n\n长尾龙的化石发现于当时的河谷地层。一位农民在1952年发现了长尾龙的化石。\n",
    "白桦王后.md": "# 白桦王后\n\n白桦王后出身湖国贵族，是湖国国君石川的王后。她喜爱园艺。\n",
    "星野乐队.md": "# 星野乐队\n\n星野乐队为歌曲《Yes! We! Go》录制了现场版。乐队的成员都来自海港市。\n",
    "寒湖.md": "# 寒湖\n\n寒湖冬季的湖面气温常降到零度以下。湖的北岸有一座木制灯塔。\n",
    "山茶岛.md": "# 山茶岛\n\n岛上有许多种鸟类，吸引了各地的观鸟者。常见的鸟类有白鹭、翠鸟、夜鹭和鸬鹚。\n",
}


@pytest.fixture(scope="module")
def spread_engine(tmp_path_factory):
    return engine_over(tmp_path_factory, "spread-data", SPREAD_DOCUMENTS)


def test_a_description_that_goes_on_in_the_next_sentence_is_quoted_whole(spread_engine):
    with calibration.overridden(0.0):
        answer = spread_engine.ask("银杏湖湖区以什么闻名？")
    assert "秋季的银杏林" in answer.text
    assert "候鸟迁徙的重要停歇地" in answer.text  # "此外，…" carries the chosen sentence on
    assert "灯塔" not in answer.text  # the sentence after that says something else


def test_a_sentence_announcing_its_points_is_quoted_with_them(spread_engine):
    with calibration.overridden(0.0):
        answer = spread_engine.ask("银杏湖的水质管理有哪些做法？")
    assert "禁止机动船只入湖" in answer.text
    assert "清理湖底淤泥" in answer.text  # the second of the two points it announces
    assert "管理处设在南岸" not in answer.text


def test_what_is_x_picks_the_sentence_that_says_what_it_is(spread_engine):
    with calibration.overridden(0.0):
        answer = spread_engine.ask("什么是石英钟？")
    assert "利用石英晶体振荡来计时" in answer.text
    assert "客厅" not in answer.text  # a sentence that only mentions it


def test_a_when_question_picks_the_sentence_with_a_date(spread_engine):
    with calibration.overridden(0.0):
        answer = spread_engine.ask("长尾龙的化石是什么时候发现的？")
    assert "1952年" in answer.text  # not the sentence that only says "当时"


def test_a_well_known_name_the_documents_lack_is_called_missing(spread_engine):
    answer = spread_engine.ask("腾讯是哪一年成立的？")
    assert not answer.answered
    assert "没有提到 腾讯" in answer.text  # jieba knows the name well; the documents do not say it


def test_a_latin_exclamation_inside_a_name_and_a_quotation_do_not_end_sentences():
    assert sentences_of("乐队为歌曲《Yes! We! Go》录制了现场版。成员有Yes! We! Can的两人。下一句。") == [
        "乐队为歌曲《Yes! We! Go》录制了现场版。", "成员有Yes! We! Can的两人。", "下一句。"]
    assert sentences_of("说明书上写着：“先拧紧底座。再接通电源。”另一句。") == [
        "说明书上写着：“先拧紧底座。再接通电源。”", "另一句。"]


def test_a_quotation_over_several_sentences_stays_one_sentence():
    assert sentences_of("他说：“甲。乙。丙。”丁。") == ["他说：“甲。乙。丙。”", "丁。"]


def test_a_title_with_latin_exclamations_is_quoted_whole(spread_engine):
    with calibration.overridden(0.0):
        answer = spread_engine.ask("星野乐队为哪首歌曲录制了现场版？")
    assert "《Yes! We! Go》" in answer.text


def test_a_sentence_that_states_a_fact_is_not_quoted_with_the_next_as_if_it_announced_it(spread_engine):
    with calibration.overridden(0.0):
        answer = spread_engine.ask("寒湖冬季的湖面气温怎么样？")
    assert "零度以下" in answer.text
    assert "灯塔" not in answer.text  # "…以下。" ends a statement; it announces nothing


def test_a_which_ones_question_picks_the_sentence_that_names_them(spread_engine):
    with calibration.overridden(0.0):
        answer = spread_engine.ask("山茶岛有哪些鸟类？")
    assert "白鹭、翠鸟、夜鹭" in answer.text  # not the sentence that only says there are many



# --- what counts as a name the documents lack, and what makes an answer less likely -----------------------------
NAMING_DOCUMENTS = {
    "白沙寺.md": "# 白沙寺\n\n白沙寺位于河谷之中，由慧明法师于唐代创建。寺内有一口古井，井水清甜。\n",
    "渡口酒馆.md": "# 渡口酒馆\n\n渡口酒馆2021年开在老码头边，只卖自家酿的酒。"
                   "馆里的威士基在橡木桶中存放五年，带着浓重的烟熏味。"
                   "店门上方挂着一块标语牌，写着「喝一口，再上路」。\n",
    "青岭镇.md": "# 青岭镇\n\n青岭镇在防火方面严格落实三项规定：禁止野外用火、设立巡查队、建设蓄水池。\n",
    "青柳足球俱乐部.md": "# 青柳足球俱乐部\n\n青柳足球俱乐部的主场设在江边。2019年联赛中，青柳队一共打进41个球。"
                         "2019年也是青柳队第一次闯进联赛前三名。2021年，俱乐部换上了新的队徽。\n",
}


@pytest.fixture(scope="module")
def naming_engine(tmp_path_factory):
    return engine_over(tmp_path_factory, "naming-data", NAMING_DOCUMENTS)


@pytest.mark.parametrize(("question", "expected"), [
    ("白沙寺是哪位高僧创建的？", "慧明法师"),  # the kind a question word governs: the text names the answer
    ("渡口酒馆的威士忌有什么味道？", "烟熏味"),  # the text writes the word with a homophone (士基)
    ("渡口酒馆的广告语是什么？", "喝一口，再上路"),  # the text says it in other words (标语)
    ("青岭镇在防火方面严格执行什么规定？", "禁止野外用火"),  # two ordinary words jieba tags as a person
])
def test_an_ordinary_word_jieba_tags_as_a_name_is_not_called_missing(naming_engine, question, expected):
    with calibration.overridden(0.0):
        answer = naming_engine.ask(question)
    assert "没有提到" not in answer.text
    assert answer.answered and expected in answer.text


def test_a_name_the_documents_lack_is_still_called_missing(naming_engine):
    answer = naming_engine.ask("翟琮是哪一年出生的？")
    assert not answer.answered and "没有提到 翟琮" in answer.text
    assert "没有提到 腾讯" in naming_engine.ask("腾讯的总部在哪里？").text


def test_a_sentence_dated_by_another_year_answers_a_question_about_a_year_less_surely(naming_engine):
    with calibration.overridden(0.0):
        said = naming_engine.ask("青柳队在2019年的联赛中打进了多少个球？")
        other = naming_engine.ask("青柳队在2021年的联赛中打进了多少个球？")  # 2021 is named, by another sentence
        never = naming_engine.ask("青柳队在2030年的联赛中打进了多少个球？")  # no document names 2030
    assert said.answered and "41个" in said.text
    assert other.confidence <= said.confidence - 0.4
    assert never.confidence <= other.confidence - 0.4


def test_a_date_in_a_sentence_saying_neither_the_event_nor_its_subject_dates_something_else():
    from qa.answer.extractive import _event_unsaid
    from qa.names import Mention
    from qa.question import DATE, Question

    text = "望川桥是哪一年开工建造的？"
    question = Question(text, text, "zh", DATE, entities=[Mention("望川桥", "望川桥", "place", ("a",), 0, 3, True)])
    terms = {"望川桥": 5.0, "开工": 2.0, "建造": 2.0}
    assert _event_unsaid(question, terms, "1931年，县里拨款加固了河堤，石匠们搬进了新搭的工棚。")
    assert not _event_unsaid(question, terms, "它在1931年破土。")  # a pronoun: about what the text named
    assert not _event_unsaid(question, terms, "1931年，望川桥铺下第一块基石。")  # names the subject, words it otherwise
    assert not _event_unsaid(question, terms, "1931年春天开工。")


def test_a_question_opens_with_its_topic():
    from qa.answer.extractive import _opening_noun

    assert _opening_noun("蓝晶矿石有毒吗？") == "蓝晶"
    assert _opening_noun("桐侬坞什么时候开放？") == "桐侬坞"  # a name jieba cuts into characters
    assert _opening_noun("哪些地方能看到舞龙队游行？") == ""  # a question word opens no topic
    assert _opening_noun("他是谁？") == ""


def test_passages_that_never_say_a_question_s_topic_answer_it_less_surely(naming_engine):
    with calibration.overridden(0.0):
        known = naming_engine.ask("青岭镇在防火方面有哪些规定？")
        unknown = naming_engine.ask("茶园镇在防火方面有哪些规定？")
    assert known.answered and "禁止野外用火" in known.text
    assert unknown.confidence <= known.confidence - 0.3


# Answers whose lead says the span, and answers that go on over several sentences.
LENGTH_DOCUMENTS = {
    "白沙港.md": "# 白沙港\n\n"
                 "白沙港是东岸的一座渔港。白沙港的新码头长八百米，可同时停靠六艘货轮，"
                 "港区北侧还建有一座灯塔和一座渔民博物馆，每年都有许多游客前来参观。\n",
    "青竹水车.md": "# 青竹水车\n\n青竹水车是山区农户用来提水的工具。新式青竹水车和旧式的有几处不同。"
                 "它的叶片改用铁皮制成。它的转轴装上了滚珠，转起来更省力。每到春耕，村民就把水车架到溪边。\n",
    "鹤鸣座钟.md": "# 鹤鸣座钟\n\n鹤鸣座钟的发条用久了会松弛。逐渐越走越慢，一个月下来能差出三个钟头。"
                 "钟面背后刻着制钟匠的名字。\n",
    "石桥村.md": "# 石桥村\n\n石桥村近年来人口不断减少。由于年轻人外出打工，留在村里的大多是老人。"
                 "村口有一座古老的石桥。\n",
    "青溪河.md": "# 青溪河\n\n青溪河的上游汇入了三条山涧：石涧、松沟和鹿溪。每逢汛期，这些山涧都把大量泥沙冲进主河道。"
               "下游的渡口旁建有一座水文站。\n",
}


# Documents where several sentences share the question's words and one says what is asked (all invented).
ORDER_DOCUMENTS = {
    "冷锻纹.md": "# 冷锻纹\n\n老匠人常说，学会冷锻纹至少要花十年工夫。"
                 "冷锻纹指在常温下反复敲打铜片、使表面生出细密波纹的一种工艺。做成的多是茶盘和香炉。\n",
    "芦笙灯会.md": "# 芦笙灯会\n\n芦笙灯会的主会场是。每年正月十五，灯会在江心的沙洲上举行，四周挂满竹编灯笼。\n",
    "飞梭纺织厂.md": "# 飞梭纺织厂\n\n飞梭纺织厂的老对手青禾布庄被当地合作社收购，厂长吴恒接手了布庄的染坊。"
                     "1987年工厂资金断裂，最终被商人邹铭收购。\n",
    "松灯节.md": "# 松灯节\n\n松灯节持续一个月，每天傍晚都有猜灯谜活动。第十五天，各村的舞龙队沿着河岸游行。\n",
    "石门水电站.md": "# 石门水电站\n\n总工程师陆川主持了电站的设计，直到1972年调往北方。电站的大坝高15米。"
                     "1972年，电站装好了第二台发电机组并开始向县城送电。\n",
    "韦川.md": "# 韦川\n\n韦川是白鹭湾的老船长。出海的日子里，他的妻子总坐在码头边补网。"
              "韦川二十岁那年娶了邻村渔家的苏禾为妻。\n",
    "纺车.md": "# 纺车\n\n纺车是把棉花纺成线的工具。纺车的锭子用枣木做成。\n",
    "脚踏纺车.md": "# 脚踏纺车\n\n脚踏纺车是纺车的一种，用脚踩踏板带动轮子。脚踏纺车的锭子用竹料做成，更轻。\n",
}


@pytest.fixture(scope="module")
def length_engine(tmp_path_factory):
    return engine_over(tmp_path_factory, "length-data", LENGTH_DOCUMENTS)


def test_a_long_sentence_under_a_lead_is_quoted_by_the_clauses_that_answer(length_engine):
    with calibration.overridden(0.0):
        answer = length_engine.ask("白沙港的新码头有多长？")
    assert answer.text.startswith("八百米[1]")
    [citation] = answer.citations
    assert "新码头长八百米" in citation.quote and citation.quote in citation.text  # verbatim, from the paragraph
    assert citation.quote in answer.text
    assert "灯塔" not in answer.text and "渔民博物馆" not in answer.text  # the clauses that say something else


def test_clauses_are_cut_only_between_pairs_and_only_when_the_span_is_beside_the_question_words():
    sentence = ("该乐队于1999年成立，首张专辑《海风，山雨》在2001年发行，销量超过十万张，"
                "其后乐队成员多次更换并移居海外。")
    terms = {"专辑": 3.0, "发行": 2.0}
    assert clauses_holding(sentence, "2001年", terms) == "首张专辑《海风，山雨》在2001年发行"  # 《》 kept whole
    # A span away from the question's words may not be what is asked: the sentence stays whole.
    assert clauses_holding(sentence, "1999年", terms) == sentence
    assert clauses_holding("首张专辑在2001年发行，销量超过十万张。", "2001年", terms) == \
        "首张专辑在2001年发行，销量超过十万张。"  # short: quoted whole


def test_a_short_opening_clause_stays_with_the_clause_it_opens():
    sentence = ("乐队成立于海港市，成员都来自当地的音乐学院，2005年，乐队在首都举办了第一场大型演唱会，"
                "门票在一小时内售罄，场面十分热烈。")
    kept = clauses_holding(sentence, "2005年", {"演唱会": 3.0, "首都": 2.0})
    assert kept == "2005年，乐队在首都举办了第一场大型演唱会"


def test_a_sentence_saying_there_are_differences_is_quoted_with_those_that_describe_them(length_engine):
    with calibration.overridden(0.0):
        answer = length_engine.ask("新式青竹水车和旧式的有什么不同？")
    assert "铁皮制成" in answer.text and "装上了滚珠" in answer.text  # the sentences opening with 它
    assert "春耕" not in answer.text


def test_a_description_going_on_without_a_subject_is_quoted_whole(length_engine):
    with calibration.overridden(0.0):
        answer = length_engine.ask("鹤鸣座钟的发条用久了会怎样？")
    assert "会松弛" in answer.text
    assert "差出三个钟头" in answer.text  # "逐渐…" has no subject of its own: it goes on with the one before
    assert "制钟匠" not in answer.text


def test_a_description_going_on_with_a_conjunction_is_quoted_whole(length_engine):
    with calibration.overridden(0.0):
        answer = length_engine.ask("石桥村近年来有什么变化？")
    assert "不断减少" in answer.text
    assert "留在村里的大多是老人" in answer.text  # "由于…" opens with a conjunction: it goes on with the one before
    assert "古老的石桥" not in answer.text


def test_a_sentence_pointing_back_with_these_is_quoted_with_what_it_points_to(length_engine):
    with calibration.overridden(0.0):
        answer = length_engine.ask("汛期时哪些山涧把泥沙冲进青溪河？")
    assert "这些山涧都把大量泥沙冲进主河道" in answer.text
    assert "石涧、松沟和鹿溪" in answer.text  # named by the sentence before
    assert "水文站" not in answer.text


@pytest.fixture(scope="module")
def order_engine(tmp_path_factory):
    return engine_over(tmp_path_factory, "order-data", ORDER_DOCUMENTS)


def chosen(engine, question: str) -> str:
    """What the answer says, whatever the refusal threshold: these tests are about which sentence is chosen."""
    with calibration.overridden(0.0):
        return engine.ask(question).text


def test_what_is_x_picks_the_sentence_that_opens_with_x_and_defines_it(order_engine):
    text = chosen(order_engine, "什么是冷锻纹？")
    assert "反复敲打铜片" in text  # "X指…的一种工艺"
    assert "十年工夫" not in text  # names X in passing ("学会X要…")


def test_a_sentence_whose_value_is_missing_is_not_the_answer(order_engine):
    text = chosen(order_engine, "芦笙灯会的主会场在哪里？")
    assert "江心的沙洲" in text  # not "芦笙灯会的主会场是。"


def test_the_sentence_that_fills_the_question_slot_with_a_name_is_chosen(order_engine):
    text = chosen(order_engine, "飞梭纺织厂被谁收购？")
    assert "邹铭" in text  # "被商人邹铭收购", not "…被当地合作社收购"


def test_a_number_in_the_question_matches_the_same_number_written_in_words(order_engine):
    text = chosen(order_engine, "松灯节第15天有什么活动？")
    assert "舞龙队" in text  # 第十五天


def test_a_question_set_in_a_year_picks_the_sentence_that_opens_with_it(order_engine):
    text = chosen(order_engine, "1972年石门水电站有什么进展？")
    assert "第二台发电机组" in text  # not the sentence naming the year in passing


def test_the_article_the_question_names_by_its_title_is_preferred(order_engine):
    text = chosen(order_engine, "纺车的锭子用什么材料做成？")
    assert "枣木" in text
    assert "竹料" not in text  # another article, whose title only contains the name


def test_a_kinship_asked_in_one_word_is_found_in_its_written_form(order_engine):
    text = chosen(order_engine, "韦川的妻子是谁？")
    assert "苏禾为妻" in text  # 为妻 says 妻子
    assert "补网" not in text  # a sentence that uses the word 妻子 about him, without saying who


# Guards found by review: requests, Latin words, "more than", "所为", short clauses that say something, kin.
def test_a_request_before_the_topic_does_not_count_as_the_topic(naming_engine):
    with calibration.overridden(0.0):
        plain = naming_engine.ask("青岭镇在防火方面有哪些规定？")
        # Read as the topic, "请问"/"总结" is said by no passage: the confidence would drop by TOPIC_PENALTY.
        for question in ("请问青岭镇在防火方面有哪些规定？", "总结青岭镇在防火方面的规定"):
            answer = naming_engine.ask(question)
            assert "禁止野外用火" in answer.text
            assert answer.confidence > plain.confidence - TOPIC_PENALTY / 2, (question, answer.confidence)
    assert naming_engine.ask("告诉我青岭镇在防火方面有哪些规定").answered


def test_a_latin_word_in_a_chinese_question_is_checked_without_error(naming_engine):
    answer = naming_engine.ask("Zorblax是谁开发的？")
    assert not answer.answered and "Zorblax" in answer.text  # named nowhere, and said so


def test_more_than_is_not_a_pointer_to_the_sentence_before():
    question = analyse("青湖有什么特点？")
    text = "青湖的北岸有一座古塔。青湖每年接待游客十万人以上，是省内最大的淡水湖。"
    assert context_of(question, "青湖每年接待游客十万人以上，是省内最大的淡水湖。", text).startswith("青湖每年")


def test_a_sentence_saying_who_did_it_has_not_lost_its_value():
    assert not _says_nothing("这场火灾是邻居所为。")
    assert _says_nothing("该站的海拔为。")


def test_a_short_clause_that_says_something_is_a_clause_of_its_own():
    sentence = ("灯塔高三十米，每年都有许多游客前来参观，夏季的周末更是人山人海，"
                "附近的渔村也因此开起了十几家民宿和小餐馆。")
    assert clauses_holding(sentence, "三十米", {"灯塔": 3.0}) == "灯塔高三十米"  # not joined to the visitors'
    opened = ("1998年，灯塔高三十米的新塔在北岬建成，每年都有许多游客前来参观，"
              "附近的渔村也因此开起了十几家民宿和小餐馆。")
    assert clauses_holding(opened, "三十米", {"新塔": 3.0}).startswith("1998年，")  # a time opens the clause


def test_eldest_and_second_children_are_not_the_same_word():
    assert "次子" not in _SAME_MEANING.get("长子", ()) and "长子" not in _SAME_MEANING.get("次子", ())


def test_a_homophone_spelling_is_found_without_a_pattern_per_character(monkeypatch):
    import random
    import re._compiler

    from pypinyin import lazy_pinyin

    from qa.answer.extractive import _homophone_variant

    compiled = []
    real_compile = re._compiler.compile
    monkeypatch.setattr(re._compiler, "compile", lambda *args: compiled.append(args[0]) or real_compile(*args))
    assert _homophone_variant("威士忌", "酒馆的威士基有烟熏味。")
    assert _homophone_variant("威士忌", "酒馆的威士忌有烟熏味。")
    assert not _homophone_variant("威士忌", "酒馆的威士有烟熏味。")
    assert not _homophone_variant("威士忌", "酒馆的威士林有烟熏味。")  # 林 is not a sound of 忌
    assert not _homophone_variant("威士忌", "酒馆的微事忌有烟熏味。")  # two characters swapped

    # A word as long as the longest question, written in the text with one character of the same sound.
    chosen = random.Random(7)
    common = [chr(code) for code in range(0x4E00, 0x9FA5) if len(lazy_pinyin(chr(code))[0]) > 1]
    word = "".join(chosen.choice(common) for _ in range(2000))
    at = 1500
    same_sound = next(c for c in common if c != word[at] and lazy_pinyin(c) == lazy_pinyin(word[at]))
    variant = word[:at] + same_sound + word[at + 1:]
    other_sound = next(c for c in common if lazy_pinyin(c) != lazy_pinyin(word[at]))
    filler = "".join(chosen.choice(common) for _ in range(3000))
    compiled.clear()
    assert _homophone_variant(word, filler + variant + filler)
    assert not _homophone_variant(word, filler + word[:at] + other_sound + word[at + 1:] + filler)
    assert not _homophone_variant(word, filler)
    assert compiled == []
