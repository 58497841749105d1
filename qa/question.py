"""Question analysis, once per question: language, expected answer type, focus terms, named entities and the
standalone form of a follow-up. Everything below (retrieval, the answerers) reads this; nothing climbs back up."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import jieba
import jieba.posseg as posseg

from .bilingual import chinese_words, closest_words
from .text import STOPWORDS, is_chinese, normalise

# Answer types, from the question word and the noun it governs.
NUMBER, DATE, DURATION, PERSON, PLACE, ORGANISATION = "number", "date", "duration", "person", "place", "organisation"
LIST, YES_NO, REASON, DEFINITION, OTHER = "list", "yes/no", "reason", "definition", "other"
# Types whose answer is a short span (a quantity, a date, a name) that can lead the answer.
SPAN_TYPES = (NUMBER, DATE, DURATION, PERSON, PLACE, ORGANISATION)

# Head nouns after 哪/什么 that say what kind of thing is asked ("哪一年" a date, "哪个国家" a place).
_TIME_NOUNS = "年|年份|年代|月|月份|日|天|时候|时间|时期|日期|朝代|世纪|季节|时刻|阶段"
_PLACE_NOUNS = ("国家|地方|地区|城市|省|省份|州|县|市|区|镇|村|岛|洲|国|地点|位置|山|河|湖|海|港|城|街|路"
                "|大陆|半岛|流域|首都|地|地域|处")
_ORG_NOUNS = ("公司|组织|机构|大学|学校|学院|球队|队|政党|党|企业|集团|银行|部门|协会|医院|电视台|媒体|品牌|乐队"
              "|厂商|出版社|俱乐部")
_PERSON_NOUNS = ("人|位|人物|演员|歌手|作者|导演|球员|国王|皇帝|总统|主席|首相|创始人|选手|教练|角色|科学家|作家"
                 "|画家|运动员")
_COUNTERS = ("个|家|项|所|条|种|位|名|座|处|类|次|年|岁|只|件|场|部|本|张|台|辆|米|公里|千米|平方公里|亩|元|万|亿"
             "|倍|层|届")

_PATTERNS: list[tuple[str, re.Pattern]] = [
    (REASON, re.compile(r"(?<![称叫名成作认视列改更之])为什么|为何|何以|原因|为啥|怎么会|\bwhy\b", re.I)),
    (DURATION, re.compile(r"多久|多长时间|多少年|多少天|多少个月|几年|几天|几个月|how long", re.I)),
    (DATE, re.compile(rf"何时|什么时候|哪一?(?:{_TIME_NOUNS})|几月|几号|几点|什么(?:{_TIME_NOUNS})|\bwhen\b"
                      r"|what (?:year|date|time|month|day|century)|which (?:year|date|month|century)", re.I)),
    (PERSON, re.compile(rf"谁|哪[一两二三四几]?(?:{_PERSON_NOUNS})|什么人|叫什么名字|姓名"
                        r"|\bwho\b|\bwhom\b|\bwhose\b", re.I)),
    (NUMBER, re.compile(rf"多少|(?<!哪)几(?:{_COUNTERS})?|多大|多高|多长|多重|多远|多深|多宽|多快|比例|百分之|人口|面积"
                        r"|什么(?:规模|产能|容量|水平)|规模(?:是|有)?多大"
                        r"|what (?:capacity|scale|size|total)"
                        r"|how (?:many|much|big|large|tall|high|long|far|old|deep|wide|fast)|what (?:number|percentage)"
                        r"|number of", re.I)),
    (PLACE, re.compile(rf"哪里|哪儿|何处|何地|在哪|哪一?(?:个|座)?(?:{_PLACE_NOUNS})|什么(?:{_PLACE_NOUNS})"
                       r"|\bwhere\b|which (?:country|city|place|province|region|district)", re.I)),
    (ORGANISATION, re.compile(rf"哪一?(?:个|家|所|支)?(?:{_ORG_NOUNS})|什么(?:{_ORG_NOUNS})"
                              r"|which (?:compan(?:y|ies)|organi[sz]ations?|teams?|universit(?:y|ies)|schools?"
                              r"|part(?:y|ies)|firms?|enterprises?|banks?)", re.I)),
    (LIST, re.compile(r"哪些|有什么|哪几|包括什么|包含什么|\bwhat are\b|\blist\b", re.I)),
    (DEFINITION, re.compile(r"是什么|什么是|指什么|是指|是啥|\bwhat is\b|\bwhat's\b|\bdefine\b", re.I)),
    (YES_NO, re.compile(r"是否|能否|可否|是不是|有没有|能不能|会不会|吗[？?]?$"
                        r"|^(?:is|are|does|do|did|can|was|were|has|have)\b", re.I)),
]


def answer_type(question: str) -> str:
    """The kind of answer the question expects, from its question word and the noun after it."""
    text = unicodedata.normalize("NFKC", question)
    # The first pattern that matches wins: their order puts the narrower question words first
    # ("多少年" is a duration, "哪一年" a date, "哪些人" a person before a list).
    for kind, pattern in _PATTERNS:
        if pattern.search(text):
            return kind
    return OTHER


@dataclass
class Question:
    """What a question asks, worked out once."""

    text: str  # as the user typed it
    standalone: str  # a follow-up completed from the conversation; else the text
    language: str  # "zh" or "en"
    answer_type: str
    focus: list[str] = field(default_factory=list)  # content terms, most telling first
    units: tuple[str, ...] = ()  # for a number question, the units an answer may have (empty: any)
    entities: list = field(default_factory=list)  # names.Mention of the standalone question
    notice: str = ""  # why a follow-up could not be completed, when it could not
    from_history: bool = False  # the standalone text was completed from the conversation's earlier turns
    # For an English question: its content phrases with the Chinese words a dictionary gives for them.
    translations: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    # Chinese words to search for an English question: its names as written and its telling phrases' translations.
    keywords: list[str] = field(default_factory=list)
    # the standalone text's query vector, set by retrieval so that the answerer does not embed it again
    query_embedding: list[float] | None = None


# What kind of amount a number question asks for, from the counter after 多少/几 or the noun it asks about;
# the units are numbers.py's canonical ones.
_CURRENCIES = ("元", "美元", "欧元", "英镑", "日元", "港元")
_UNIT_CLASSES: list[tuple[re.Pattern, tuple[str, ...]]] = [
    (re.compile(r"多大年纪|多大岁数|几岁|多少岁|年龄|岁数|年纪|how old|\bage\b", re.I), ("岁",)),
    (re.compile(r"投资|金额|资金|收入|营业额|营收|预算|成本|价格|造价|花费|多少钱|税收|产值|销售额|how much money"
                r"|\bcost\b|\bprice\b|investment|revenue|income", re.I), _CURRENCIES),
    # "area" asks for a size only when asked as one ("how large an area", "the area of"), not in "New Area".
    (re.compile(r"面积|占地|(?:what|how (?:large|big)(?: an?)?) area\b|\barea of\b|\bcovers?\b", re.I),
     ("亩", "平方米", "平方公里", "公顷")),
    (re.compile(r"多长|多高|多远|多深|多宽|身高|长度|高度|距离|how (?:long|tall|high|far|deep|wide)", re.I),
     ("米", "公里", "厘米", "毫米")),
    (re.compile(r"多重|重量|体重|how heavy|weight", re.I), ("千克", "吨", "克")),
    (re.compile(r"百分之|比例|比重|占比|增速|增长率|percentage|what share", re.I), ("%", "个百分点")),
]
_COUNTER_AFTER = re.compile(r"(?:多少|(?<!哪)几)\s*(亿|万)?\s*(" + "|".join(sorted(
    ["个", "家", "项", "所", "条", "种", "座", "处", "次", "人次", "名", "人", "位", "户", "只", "件", "场", "部",
     "本", "张", "台", "辆", "架", "艘", "倍", "层", "届", "套", "间", "栋", "亩", "平方米", "平方公里", "公里", "米",
     "元", "美元", "吨", "千克", "公斤", "天", "年", "小时", "分钟", "岁"], key=len, reverse=True)) + ")")


def expected_units(question: str, kind: str) -> tuple[str, ...]:
    """The units a number question's answer may carry: the counter it names ("多少家" → 家), else the class
    of the noun it asks about (投资 → currencies, 年纪 → 岁); empty when it does not say."""
    if kind not in (NUMBER, DURATION):
        return ()
    from .numbers import parse_quantity

    if match := _COUNTER_AFTER.search(question):
        parsed = parse_quantity("1" + match.group(2))
        counter = parsed.unit if parsed else match.group(2)
        return _CURRENCIES if counter in _CURRENCIES else (counter,)
    for pattern, units in _UNIT_CLASSES:
        if pattern.search(question):
            return units
    return ()


def language_of(text: str) -> str:
    return "zh" if is_chinese(text) else "en"


def content_terms(text: str) -> list[str]:
    """The question's content words: no stopwords, no question words, no lone Chinese characters."""
    terms = []
    for word in jieba.lcut_for_search(unicodedata.normalize("NFKC", text).lower()):
        word = word.strip()
        if not word or word in STOPWORDS or not re.search(r"\w", word):
            continue
        if len(word) == 1 and not word.isascii():
            continue
        if normalise(word) not in terms:
            terms.append(normalise(word))
    return terms


_FOLLOW_UP_START = re.compile(r"^(?:那么|那|还有|另外|and|what about|how about)\s*", re.I)
_FOLLOW_UP_END = re.compile(r"\s*(?:呢|的呢|怎么样|如何|又如何)?\s*[？?。.!！]*$")
_FOLLOW_UP = re.compile(r"^(?:那么|那|还有|and\b|what about|how about)|呢[？?]?$", re.I)
MAX_FOLLOW_UP_CHARS = 24  # longer text is a question of its own, even when it opens with 那
_ENTITY_TAGS = ("nr", "ns", "nt", "nz", "eng", "nrt", "nrfg")


def is_follow_up(text: str) -> bool:
    return bool(_FOLLOW_UP.search(text.strip())) and len(text.strip()) <= MAX_FOLLOW_UP_CHARS


def follow_up_subject(text: str) -> str:
    """"那东城区呢？" → "东城区", "What about Acme?" → "Acme"."""
    return _FOLLOW_UP_END.sub("", _FOLLOW_UP_START.sub("", text.strip())).strip()


def resolve_follow_up(question: str, previous: str, names=None) -> str:
    """The previous question with what the follow-up names put in place of what it named: an entity of the
    name index first (the same kind if there is one), else its first name-like word; else the subject is
    put in front of the previous question."""
    subject = follow_up_subject(question)
    if not previous or not subject:
        return question
    new = names.find(subject) if names else []
    old = names.find(previous) if names else []
    replacement = new[0].canonical if new and len(new[0].text) >= len(subject) - 1 else subject
    if old:
        same_kind = [m for m in old if new and m.kind == new[0].kind]
        target = (same_kind or old)[0]
        pattern = re.compile(re.escape(target.text), re.I)
        if pattern.search(previous):
            return pattern.sub(replacement, previous, count=1)
        if target.canonical in previous:
            return previous.replace(target.canonical, replacement, 1)
    for pair in posseg.lcut(previous):
        if pair.flag in _ENTITY_TAGS and len(pair.word) >= 2 and pair.word != subject:
            return previous.replace(pair.word, replacement, 1)
    return f"{replacement} {previous}"


def analyse(question: str, history: list[dict] | None = None, names=None) -> Question:
    """The question analysed once; a follow-up ("东城区呢？") is completed from the user's earlier turns."""
    standalone, notice, from_history = question, "", False
    earlier = [m["content"] for m in history or [] if m.get("role") == "user" and isinstance(m.get("content"), str)]
    if is_follow_up(question):
        resolved = ""
        for turn in earlier:
            resolved = resolve_follow_up(turn, resolved, names) if resolved and is_follow_up(turn) else turn
        if resolved:
            standalone = resolve_follow_up(question, resolved, names)
            from_history = True
        else:
            subject = follow_up_subject(question)
            notice = (f"“{question}”像是追问，但之前没有问题：请把问题问完整。" if is_chinese(question) else
                      f"“{question}” reads as a follow-up, but there is no earlier question: ask it in full.")
            standalone = subject or question
    entities = names.find(standalone) if names else []
    language = language_of(standalone)
    kind = answer_type(main_clause(standalone) if language == "en" else standalone)
    translations = _translations(standalone, entities) if language == "en" else []
    keywords = []
    if language == "en":
        keywords = [m.canonical for m in entities if not m.canonical.isascii()]
        keywords += [word for phrase, options in translations for word in search_words(phrase, options)]
    return Question(text=question, standalone=standalone, language=language, answer_type=kind,
                    focus=content_terms(standalone), units=expected_units(standalone, kind), entities=entities,
                    notice=notice, from_history=from_history, translations=translations,
                    keywords=list(dict.fromkeys(keywords)))


# A phrase the dictionary translates more ways than this (a general verb, "new") is too vague to search for by
# all of them: it is searched by the words whose whole gloss it is ("fruit" → 果实, 水果), when they are this few.
MAX_SEARCH_TRANSLATIONS = 8


def search_words(phrase: str, options: tuple[str, ...]) -> tuple[str, ...]:
    """The Chinese words an English phrase is searched by."""
    if len(options) <= MAX_SEARCH_TRANSLATIONS:
        return options
    closest = closest_words(phrase)
    return closest if len(closest) <= MAX_SEARCH_TRANSLATIONS else ()


_WH_WORD = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how)\b", re.I)
_SUBORDINATE = re.compile(r"\s*,?\s*\b(?:when|while|after|before|since|because|although|if|whereas|until|once)\b",
                          re.I)


def main_clause(question: str) -> str:
    """An English question without the clause after its question word that only sets the scene: "What was the
    bank's capital when it was founded?" asks for an amount, not a date."""
    if not (wh := _WH_WORD.search(question)):
        return question
    cut = _SUBORDINATE.search(question, wh.end())
    return question[:cut.start()] if cut else question


def _translations(question: str, entities: list) -> list[tuple[str, tuple[str, ...]]]:
    """The dictionary's Chinese for the question's English phrases, leaving out the names the name index
    already matched (their written form is among the terms)."""
    text = question
    for mention in sorted(entities, key=lambda m: -m.start):
        if mention.end > mention.start:
            text = text[:mention.start] + " . " + text[mention.end:]
    return chinese_words(text)
