"""The answerer that needs no LLM: scores the sentences of the retrieved passages against the analysed question,
leads with the shortest span that answers (a quantity with its unit, a date, a name, a list), quotes the
supporting sentence once, and refuses, saying why, when its confidence is under the calibrated threshold."""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from dataclasses import dataclass, field, replace
from functools import lru_cache

import jieba
import jieba.posseg as posseg
import numpy as np

from .. import numbers
from ..bilingual import latin_names
from ..layouts.base import stated_unit, table_row_cells
from ..names import NameIndex, names_of, pinyin_spellings
from ..passage_features import tags as passage_tags
from ..question import (
    DATE,
    DEFINITION,
    DURATION,
    LIST,
    NUMBER,
    ORGANISATION,
    PERSON,
    PLACE,
    REASON,
    SPAN_TYPES,
    Question,
    analyse,
)
from ..retrieval import chunk_similarities
from ..store import LoadedIndex
from ..text import STOPWORDS, lazy_pinyin, normalise
from ..types import Answer, Citation, Passage
from . import calibration
from .prompts import refusal_for

MAX_PASSAGES = 4  # candidate sentences come from this many top passages
# Weights of the sentence score; the refusal threshold on the resulting confidence is calibrated per model.
TERM_WEIGHT, BIGRAM_WEIGHT, PASSAGE_WEIGHT, TYPE_WEIGHT, DENSE_WEIGHT = 0.55, 0.35, 0.2, 0.04, 0.15
# A number, date or duration question whose sentence holds none is less likely answered by it.
UNTYPED_PENALTY = 0.15
# More when the question names the unit it wants (an age in 岁, "多少家") and the sentence's amounts are in others.
UNIT_MISSING_FACTOR = 3
ENTITY_PENALTY = 0.3
# An English question over Chinese text: the share of its phrases a sentence says by a dictionary's translations,
# in place of the character pairs a Chinese question shares with it (so both languages score on one scale).
TRANSLATION_WEIGHT = BIGRAM_WEIGHT
# A term said by the article's title or metadata counts for each of its sentences, a little less than when
# the sentence says it; a single character (花, 根) carries little on its own.
CONTEXT_WEIGHT = 1.0
SINGLE_CHARACTER_WEIGHT = 0.4
# A question about a year: less likely answered by a sentence dated by other years, not at all by a text that
# never names the asked year (the documents cannot say what happened in it).
YEAR_PENALTY, ABSENT_YEAR_PENALTY = 0.5, 1.0
# A when-question ("哪一年开始担任…") asks when something happened: a date in a sentence that says none of the
# question's verbs (only its title or context names who or what) dates something else.
EVENT_PENALTY = 0.15
# Chinese puts what a question is about first: passages none of which says the noun it opens with are about
# something else, however well they match its other words.
TOPIC_PENALTY = 0.3
# Orders sentences that share the question's words alike: the one with what the question asks for comes first.
TELLING_WEIGHT = 0.05
# Items an enumeration names at least ("甲、乙、丙"): a single 、 often joins a pair mentioned in passing.
MIN_LISTED = 3
# Characters a sentence must say beyond the question's words to answer it at all.
MIN_SAID_BEYOND_QUESTION = 3
# Sentences that share only some characters of a question word (担任/任, 颜色/色) are preferred among equals;
# this orders candidates and adds nothing to the confidence, or a question about something unsaid would pass.
PARTIAL_WEIGHT = 0.3
# How well retrieval matched at all (the best passage's fused score, capped at 1), added to every sentence's
# score: a question whose document is not indexed finds passages that match it less well.
RETRIEVAL_WEIGHT = 0.2

# A sentence: up to 。！？ (a semicolon does not end what one sentence says), closing quotes kept with it.
# "Yes! We! Can": a Latin ! or ? followed by more Latin words is part of a name, not a sentence's end.
_LATIN_MARK_END = re.compile(r"[A-Za-z][!?]$")
_LATIN_START = re.compile(r"\s*[A-Za-z]")
MAX_QUOTED_CHARS = 120
_SENTENCE = re.compile(r"[^。！？!?\n]+(?:[。！？!?]+[”’」』\"')）]*|$)")
_DATE = re.compile(
    r"(?:公元前?)?\d{1,4}\s*年(?:代|初|末|底)?(?:\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*[日号])?)?|\d{1,2}\s*月\s*\d{1,2}\s*[日号]"
    r"|[一二三四五六七八九十]+世纪(?:[一二三四五六七八九十]+年代|初|末|中叶)?|\d{1,2}世纪"
    r"|(?:19|20)\d\d(?:-\d\d){0,2}|(?:January|February|March|April|May|June|July|August|September|October"
    r"|November|December)\s+\d{1,2},?\s+\d{4}"
)
# A result stated after its cause; words that open a sentence and point back at the one before.
_CONSEQUENCE = re.compile(r"因此|所以|于是|因而|故而|从而|以致|故此")
# Words that open a sentence carrying on the one before (此外, 其次, 但, 并且): a description, reason or list
# answered by that one goes on in this one.
# Single characters and prefixes that also open new points (如果, 如今, 即使, 主要城市) are not among them.
_CONTINUES = re.compile(r"(?:其次|此外|并且|而且|但(?!愿)|相反|以及|其中|包括|例如|比如|因此|所以|于是)")
# A sentence that announces what the next ones say: "以下三点：", "有多种原因。", "特征如下：". A colon or 多种
# makes it an announcement: "零度以下。", "有几座寺庙。" state a fact and stop.
_ANNOUNCES = re.compile(r"(?:以下|如下|下列)(?P<count>[一二两三四五六七八九十\d]*)[^。；]{0,8}[：:]"
                        r"|有多种[^，。；]{0,12}[。：:]$|有(?:多|几|数)(?:种|个|点|项|方面|类)[^，。；]{0,12}[：:]$"
                        r"|有(?P<counted>[一二两三四五六七八九十\d]+)(?:种|个|点|项|方面|类)[^，。；]{0,12}[：:]$")
MAX_ANNOUNCED = 4
# Characters of following sentences quoted because they go on describing what the chosen one is about.
MAX_FOLLOWING_CHARS = 100
# "两款有几处不同。", "本种有以下特征。": it says there are differences or features, and the next sentences say them.
_SUMMARY = re.compile(r"有(?:些|一些|很多|不少|许多|若干|数个|几个|多个|多种|以下)?[^，。；：]{0,6}"
                      r"(?:分别|区别|不同|差异|特征|特点|特色)[。：:]$")
# Words that point back at what the sentence before named, anywhere in a sentence ("这些山涧冲下泥沙").
_POINTS_BACK = re.compile(r"这些|上述|前述|以上(?:[的这几各]|所述)")  # not 以上 of "十万人以上" (more than)
# A sentence longer than this, quoted under a lead that says its span, is cut to the clauses that answer.
MIN_CUT_SENTENCE = 50
_CLAUSE_MARKS = "，；：,;:"
MAX_OPENING_CLAUSE = 7  # characters with its mark: a time, a place or a connective that opens the next clause
# jieba's tags of what only sets a clause (time, place, direction, conjunction, preposition, adverb, pronoun, mark).
_SETTING_TAGS = ("t", "s", "f", "c", "p", "d", "r", "x", "u")
_OPENING, _CLOSING = "《（(「『“‘〈【[", "》）)」』”’〉】]"
# "分布在哪些地区": a lead names one of several things the sentence names.
_SEVERAL = re.compile(r"哪些|哪几|有什么|which ones", re.I)
_LEANS_BACK = re.compile(r"(?:此|这|该|后来|之后|随后|赛后|战后)")
# Words that say the same thing in general Chinese: a sentence saying one answers a question asking the other.
_PARAPHRASES = (
    ("别名", "别称", "又名", "又称", "亦称", "也称", "俗称", "俗名", "也叫", "又叫"),
    ("位于", "坐落", "地处", "位处"),
    ("出生", "生于", "出生于", "诞生"),
    ("去世", "逝世", "病逝", "死于", "过世", "辞世"),
    ("成立", "创立", "创建", "建立", "创办", "设立"),
    ("著作", "作品", "著有"),
    ("特点", "特征", "特色"),
    ("由来", "得名", "起源", "命名", "名称来源"),
    ("美誉", "誉为", "美称", "称誉"),
    ("危害", "伤害"),
    ("孩子", "子女", "儿女"),
    ("女儿", "之女"),
    ("儿子", "之子"),
    ("妻子", "为妻", "夫人", "嫁给"),
    ("广告语", "口号", "标语"),
    ("作用", "功效", "用途", "功能"),
)
_SAME_MEANING = {word: tuple(other for other in group if other != word) for group in _PARAPHRASES for word in group}
_PRONOUN_START = re.compile(r"(?:他|她|它|牠|祂|其)(?!他|它|余|中|实|次)")
_REASON = re.compile(r"因为|由于|因此|所以|为了|导致|造成|原因|因而|以致|because|due to|since", re.I)
# "至少/最少/最多多少" (at least, at most) bound an amount; they do not ask for a difference.
_COMPARE = re.compile(r"(?<![至最])多几|(?<![至最])少几|相差|差多少|多出|差距|(?<![至最])多多少|(?<![至最])少多少"
                      r"|more than|fewer than|difference", re.I)
_TOTAL = re.compile(r"一共|合计|加起来|总共|之和|总计|in total|combined|altogether", re.I)
_WHICH_MORE = re.compile(r"哪[^，。？,?]{0,12}(更多|最多|更大|最大|更高|最高)"
                         r"|which .*(more|most|larger|largest|higher)", re.I)
_WHICH_LESS = re.compile(r"哪[^，。？,?]{0,12}(更少|最少|更小|最小|更低|最低)"
                         r"|which .*(fewer|fewest|smaller|smallest|least)", re.I)
_MORE_OR_LESS = r"更多|最多|更大|最大|更高|最高|更少|最少|更小|最小|更低|最低"
# An amount per unit: "平均每家", "人均"; the counter says what the amount is divided by.
_PER = re.compile(r"平均每一?(个|家|人|户|名|位|所|项|座|亩|台|辆|年)|(?:人均)")
_EACH = re.compile(r"各有|各自|各是|各为|分别|各")
_OPERATION = re.compile("|".join([*(p.pattern for p in (_COMPARE, _TOTAL, _EACH)), _MORE_OR_LESS]), re.I)
_PART_BREAK = re.compile(r"和|与|及|以及|、|，|,|还有|并且|还要|\band\b|\bvs\.?\b", re.I)
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,9}\b|\b\d+G\b")
_QUESTION_CHARACTERS = set("哪谁何几多少啥么吗呢吧啊什怎样为被把从向给让比较更最很还又再就才"
                            "也都已曾将要会能可该应得地着过"
                            "所之其此彼各每某")
_DURATION_UNITS = ("年", "月", "天", "小时", "分钟", "秒", "周")
_ASKED_NOUN = re.compile(r"(?:什么|哪个|哪一?|何)(时候|时间|地方|样子|东西|事情|意思)")
_NOT_IN_BIGRAM = re.compile(r"[，。？！、,.?!：:；;（）()]")
_ASKING_WORDS = {"名字", "姓名", "名称", "叫什么", "叫", "称呼", "name"}
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")
MIN_PART_COVERAGE = 0.5
# Metadata questions: who reported, who was interviewed, in what role, under what headline.
_REPORTER = re.compile(r"记者|谁采访|采访者|采访的是|采访了谁|采访了哪|interview|reporter|journalist|byline", re.I)
_ROLE = re.compile(r"职务|职位|担任|身份|什么官|position|\brole\b|\bjob\b|title of", re.I)
_HEADLINE = re.compile(r"标题|题目|headline", re.I)
_INTERVIEWEE = re.compile(r"受访者|受访|interviewee", re.I)
# Share of a question's terms a passage must say to be the one a "which interviewee said …" question quotes.
QUOTED_COVERAGE = 0.7
_HEAD = re.compile(r"受访者|负责人|interviewee|\bhead\b|leader", re.I)
# What a sentence that defines the asked term says right after it: a gloss in brackets, another name
# ("，也称…，"), or the copula ("是", "指", "即").
_DEFINES = (r"(?:[（(][^）)]*[）)]|(?:[，,]?(?:也|又|亦|或|俗|简)(?:称|叫|名|译)[^。；]{0,30}?[，,])"
            r"|[，,]?(?:就是|是|指|即|乃|为|係|系))")
_DEFINITION_ASKED = re.compile(r"^(?:什么是|何谓|什么叫做?)(?P<a>[^，。？?]+)"
                               r"|^(?P<b>[^，。？?]+?)(?:是什么|指什么|是指什么|是啥)[？?。]?$")
# The last word of a sentence whose value is missing ("X的面积为。").
_COPULAS = {"为", "是", "位于", "于", "在"}
_COPULA_ENDS = {word[-1] for word in _COPULAS}
# Characters jieba leaves stuck to a question's word ("青木是", "叶子有") when the pair is no word of the documents.
_GLUED = "是有在的了和与由被把来去呢吗"
_ASKED_SLOT = re.compile(r"什么|谁|哪[一两二三四五六七八九十几]?[个位种些里儿年家所座张部条支国]?"
                         r"|多少|几[个位种年项名次]?|何(?:时|地|处|人)|怎样|怎么|如何")
# Words beside a question word that any sentence has ("是谁的", "叫什么呢"): no part of the slot around it.
_SLOT_FILLERS = {"的", "了", "是", "呢", "吗", "啊", "呀", "来", "去"}
_NUMERALS = "零一二三四五六七八九"
# How far into a sentence a time the question names still opens it ("在…", "于…年，").
OPENING_CHARS = 5
_ENTITY_TAGS = {"nr": PERSON, "nrfg": PERSON, "nrt": PERSON, "ns": PLACE, "nt": ORGANISATION}
_TYPE_TAGS = {PERSON: ("nr", "nrfg", "nrt"), PLACE: ("ns",), ORGANISATION: ("nt",)}
# A question word inside a word ("哪些地方"): such a word asks; it does not name what the question is about.
_QUESTION_WORD = re.compile(r"哪|什么|谁|几|多少|怎|何|啥")
# Characters that end a name jieba cut into single characters: a copula, particle, preposition or adverb.
# Words that open a request rather than name its topic ("请问…", "列出…", "文档中…").
_REQUESTS = {"请问", "请", "问", "告诉", "介绍", "列出", "列举", "总结", "概括", "说说", "讲讲", "谈谈", "说明",
             "解释", "文档", "文中", "文章", "资料", "根据", "按照", "想", "知道", "想知道", "能否", "能不能", "可以",
             "帮", "帮忙"}
_FUNCTION_CHARACTERS = set("是的在有为于被把将对从与和及又也都就才吗呢了")
_NAME_FLAGS = ("nr", "ns", "nt", "nz", "nrt", "nrfg", "eng")
# A question word and the noun it governs: "哪位诗人", "哪一种乐器", "什么动物", "何种方法".
_ASKED_KIND = re.compile(r"(?:哪[一两几]?[位个种家所座支部本条只名些类首]?|什么|何种)$")


@dataclass
class Candidate:
    sentence: str
    passage: Passage
    rank: int  # of its passage
    score: float = 0.0
    coverage: float = 0.0
    typed: bool = False
    covered: set[str] = field(default_factory=set)
    label: str = ""  # the entity this part of a question is about
    # What orders sentences beyond the score without adding to the confidence (morphemes shared in part).
    preference: float = 0.0


@dataclass
class Decision:
    """What the answerer found before the refusal threshold is applied."""

    chosen: list[Candidate]
    confidence: float
    reason: str = ""  # why it cannot answer, for the user
    terms: dict[str, float] = field(default_factory=dict)


def sentences_of(text: str) -> list[str]:
    """The sentences of a text; an end mark inside a title (《…！》) does not end one."""
    sentences: list[str] = []
    for match in _SENTENCE.finditer(text):
        piece = match.group()
        if sentences and (sentences[-1].count("《") > sentences[-1].count("》")
                          or _quote_goes_on(sentences[-1], text, match.start())
                          or _LATIN_MARK_END.search(sentences[-1]) and _LATIN_START.match(piece)):
            sentences[-1] += piece
        else:
            sentences.append(piece)
    return [s.strip() for s in sentences if s.strip()]


def _quote_goes_on(sentence: str, text: str, at: int) -> bool:
    """The sentence opened a quotation (“) that closes within a short quote's length after `at`: every piece
    up to the close belongs to it (a long speech quoted over many sentences is not one)."""
    opened = sentence.rfind("“")
    if opened <= sentence.rfind("”"):
        return False
    closing = text.find("”", at)
    return closing >= 0 and len(sentence) - opened + closing - at < MAX_QUOTED_CHARS


def context_of(question: Question, sentence: str, passage_text: str) -> str:
    """The chosen sentence with the sentence before it when it leans on that one: a why-question answered by
    a consequence (因此…, or a sentence that gives no cause), a sentence that opens with a word pointing back
    (此战…, 这次…, 赛后…), or, for a description or list, says 这些/上述; and, for a question not answered by a
    short span (a description, a reason, a list), with the sentences after it that carry it on (此外…, 其次…,
    但…, see _going_on). As written in the passage, so the quote stays verbatim."""
    sentences = sentences_of(passage_text)
    if sentence not in sentences:
        return sentence
    position = sentences.index(sentence)
    describes = question.language == "zh" and question.answer_type not in SPAN_TYPES
    leans_back = position > 0 and bool(_LEANS_BACK.match(sentence) or describes and _POINTS_BACK.search(sentence)
                                       or question.answer_type == REASON
                                       and (_CONSEQUENCE.search(sentence) or not _REASON.search(sentence)))
    quoted = sentence
    if describes:
        following = sentences[position + 1:position + 1 + _announced(sentence)]
        if not following and position + 1 < len(sentences) and _CONTINUES.match(sentences[position + 1]):
            following = [sentences[position + 1]]
        following += _going_on(sentence, sentences[position + 1 + len(following):], following)
        for part in following:
            quoted = _joined(passage_text, quoted, part) or quoted
    if not leans_back:
        return quoted
    return _joined(passage_text, sentences[position - 1], quoted) or quoted


def clauses_holding(sentence: str, span: str, terms: dict[str, float]) -> str:
    """A long sentence cut to the clauses (split at ，；：, never inside 《》（）「」“”) around the one that says the
    span, as written: from it, on both sides, as far as the clauses go on saying the question's words (or, when a
    clause further off says a word of the question the run does not, from the first clause saying one to the
    last). The whole sentence when it is short, or when the span is not said in a clause that says most of the
    question's words: the span may then not be what is asked, and the rest may hold what is."""
    if not span or len(sentence) <= MIN_CUT_SENTENCE:
        return sentence
    clauses = _clauses(sentence)
    # A single character (明 of a name) is said by clauses about anything.
    weights = {normalise(t): w for t, w in terms.items() if len(normalise(t)) > 1}
    said = [sum(w for t, w in weights.items() if t in normalise(clause)) for clause in clauses]
    holding = [i for i, clause in enumerate(clauses) if normalise(span) in normalise(clause)]
    if len(clauses) < 2 or not holding or not max(said) or max(said[i] for i in holding) < max(said):
        return sentence
    first, last = min(holding), max(holding)
    while first > 0 and said[first - 1]:
        first -= 1
    while last + 1 < len(clauses) and said[last + 1]:
        last += 1
    if any(t in normalise(sentence) and t not in normalise("".join(clauses[first:last + 1])) for t in weights):
        # a question's word said only in a clause further off: from the first clause that says one to the last
        spoken = [i for i, weight in enumerate(said) if weight]
        first, last = min(holding + spoken), max(holding + spoken)
    kept = "".join(clauses[first:last + 1]).strip().rstrip(_CLAUSE_MARKS)
    return kept if kept and len(kept) < len(sentence.rstrip("。！？!?")) else sentence


def _clauses(sentence: str) -> list[str]:
    """A sentence's clauses, each with the mark that ends it; a mark inside a bracket or quotation pair does not
    end one, and a short clause ("1990年，", "此外，") opens the one after it."""
    clauses, current, depth = [], "", 0
    for char in sentence:
        current += char
        if char in _OPENING:
            depth += 1
        elif char in _CLOSING:
            depth = max(depth - 1, 0)
        elif char in _CLAUSE_MARKS and depth == 0 and not _opens_next(current):
            clauses.append(current)
            current = ""
    if current:
        clauses.append(current)
    return clauses


def _bare_title(title: str) -> str:
    """A title without its "(disambiguation)", as matched in a question."""
    return normalise(re.sub(r"[（(][^）)]*[）)]", "", title or ""))


def _opens_next(clause: str) -> bool:
    """A short clause that only sets the time, the place or the link of the one after it ("1990年，", "在城北，",
    "此外，"); one that says something of its own ("塔高三十米，") is a clause of its own, however short."""
    if len(clause) > MAX_OPENING_CLAUSE:
        return False
    if _DATE.fullmatch(re.sub(r"^在|[，；：,;:\s]+$", "", clause)):
        return True
    return all(pair.flag[:1] in _SETTING_TAGS or _DATE.fullmatch(pair.word) for pair in passage_tags(clause))


def _going_on(sentence: str, after: list[str], following: list[str]) -> list[str]:
    """The sentences after the quoted ones that go on describing what they are about, within MAX_FOLLOWING_CHARS:
    after a sentence that only says there are differences or features ("新旧两款有几处不同。"), those that describe
    them with a pronoun for its subject ("它的叶片…"); after a sentence quoted alone, the next one when it has no
    subject of its own (it opens with a verb, an adverb or a word such as 主要: "逐渐变慢…", "主要分布于…") or
    opens with a conjunction that ties it to the one before ("由于…", "不过…", "另一方面…")."""
    if following or not after:
        return []
    if _SUMMARY.search(sentence):
        added: list[str] = []
        for part in after:
            if not _PRONOUN_START.match(part) or sum(map(len, added)) + len(part) > MAX_FOLLOWING_CHARS:
                break
            added.append(part)
        if added:
            return added
    following_one = after[0]
    if len(following_one) > MAX_FOLLOWING_CHARS:
        return []
    first = next(iter(passage_tags(following_one)), None)
    subjectless = first is not None and first.flag[:1] in ("v", "d", "b", "c") and not _LEANS_BACK.match(following_one)
    return [following_one] if subjectless else []


def _announced(sentence: str) -> int:
    """How many sentences after this one say what it announces: "有以下三点：…", "有多种原因。", "特征如下：";
    none when it announces nothing."""
    if not (match := _ANNOUNCES.search(sentence)):
        return 0
    said = match.group("count") or match.group("counted") or ""
    counted = int(said) if said.isdigit() else numbers.chinese_to_number(said)
    if not counted:
        return 1
    # "有以下两点：第一，…。第二，…。": the first is said by the announcing sentence itself.
    first_said_here = bool(re.search(r"\w", sentence[match.end():]))
    return max(min(int(counted) - first_said_here, MAX_ANNOUNCED), 1)


def _joined(passage_text: str, first: str, second: str) -> str:
    """Two neighbouring pieces of the passage as written there (what lies between them kept); empty when
    they are not found in that order."""
    start = passage_text.find(first)
    end = passage_text.find(second, start + len(first)) if start >= 0 else -1
    return passage_text[start:end + len(second)].strip() if end >= 0 else ""


class ExtractiveAnswerer:
    mode = "extractive"

    def __init__(self, index: LoadedIndex, embed_model=None, names: NameIndex | None = None):
        self.index = index
        self.embed_model = embed_model
        self.names = names or names_of(index)
        self.model_name = index.manifest.get("embed_model", "") if isinstance(index.manifest, dict) else ""
        self._document_frequency = index.document_frequencies()
        self._documents = max(len(index.chunk_ids), 1)
        self._years: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- the interface --------------------------------------------------------------------------------
    def analyse(self, question: str, history: list[dict] | None = None) -> Question:
        return analyse(question, history, self.names)

    def answer(self, question: Question | str, passages: list[Passage]) -> Answer:
        analysed = question if isinstance(question, Question) else self.analyse(question)
        if passages and (meta := self.metadata_answer(analysed, passages)):
            return meta
        decision = self.decide(analysed, passages)
        threshold = calibration.threshold(self.model_name)
        if decision.chosen and decision.confidence >= threshold and not decision.reason:
            answer = self.compose(analysed, decision, passages)
        else:
            answer = self.refuse(analysed, passages, decision.reason)
        return replace(answer, confidence=round(decision.confidence, 4))

    def refuse(self, question: Question, passages: list[Passage], reason: str = "") -> Answer:
        text = reason or refusal_for(question.standalone)
        notice = question.notice
        return Answer(question.text, text, False, passages=passages, notice=notice)

    # --- scoring ----------------------------------------------------------------------------------------
    def idf(self, term: str) -> float:
        frequency = self._document_frequency.get(term, 0)
        return math.log(1 + (self._documents - frequency + 0.5) / (frequency + 0.5))

    def question_terms(self, text: str, entities: list) -> dict[str, float]:
        """Content terms with their idf; jieba's finer pieces only when the whole word is unknown here."""
        terms: dict[str, float] = {}
        # "什么时候", "什么地方": the noun completes the question word; the sentence that answers says a date, a
        # place, not the noun.
        asking = {match.group(1) for match in _ASKED_NOUN.finditer(unicodedata.normalize("NFKC", text))}
        # A request that opens the question ("告诉我…", "总结…") is how it asks, not what it asks about.
        opening = posseg.lcut(unicodedata.normalize("NFKC", text))
        asking |= {pair.word for pair in opening[:len(opening) - len(_request_stripped(opening))]
                   if pair.word in _REQUESTS}
        for word in jieba.lcut_for_search(unicodedata.normalize("NFKC", text).lower()):
            word = word.strip()
            if not word or word in STOPWORDS or word in asking or not re.search(r"\w", word):
                continue
            if word.isascii() and self._document_frequency.get(word, 0) == 0:
                continue  # an English word: Chinese text does not contain it (its names come by pinyin)
            if len(word) > 1 and self._document_frequency.get(word, 0) == 0:
                # jieba glued a function character to a word ("青木是谁", "叶子有什么"): no document says the pair,
                # so it would weigh against every sentence; the word itself is what is asked.
                word = word.strip(_GLUED) or word
                if word in STOPWORDS or word in _QUESTION_CHARACTERS:
                    continue
            single = len(word) == 1 and not word.isascii()
            if single and (not SINGLE_CHARACTER_WEIGHT or word in _QUESTION_CHARACTERS):
                continue
            terms[normalise(word)] = self.idf(word) * (SINGLE_CHARACTER_WEIGHT if single else 1.0)
        for term in list(terms):
            if term in terms and (self._document_frequency.get(term, 0) > 0 or len(term) > 1):
                for part in [t for t in terms if t != term and t in term
                             and (self._document_frequency.get(term, 0) > 0 or len(t) == 1)]:
                    terms.pop(part, None)
        for mention in entities:  # a name matched by its pinyin or short form counts in its written form
            if mention.canonical and not mention.canonical.isascii():
                terms.setdefault(normalise(mention.canonical), max(self.idf(mention.canonical), 3.0))
        return terms

    def unknown_name(self, question: Question, passages: list[Passage]) -> str:
        """A name or acronym the question asks about that no document contains ("GDP", "腾讯")."""
        text = question.standalone
        retrieved = normalise(" ".join(p.text + p.title for p in passages))
        known = {normalise(m.text) for m in question.entities}
        for acronym in _ACRONYM.findall(text):
            if acronym.lower() not in self._document_frequency and normalise(acronym) not in known:
                return acronym
        if question.language != "zh":
            return ""
        # The noun a question word governs ("哪位诗人", "什么乐器") is the kind of thing asked for: the text
        # names the answer, not the kind.
        said = ""
        for pair in posseg.lcut(text):
            word, kind = pair.word, bool(_ASKED_KIND.search(said))
            said += word
            if (pair.flag in _NAME_FLAGS and len(word) >= 2 and not kind
                    and normalise(word) not in known and self._document_frequency.get(word.lower(), 0) == 0
                    and normalise(word) not in retrieved and not self._ordinary_word(word, pair.flag, retrieved)):
                return word
        return ""

    def _ordinary_word(self, word: str, flag: str = "", retrieved: str = "") -> bool:
        """A word jieba tags as a name that is not one the documents lack: made of words the documents use
        (标语牌 of 标语, 东部地区 of 东部 and 地区); said by the retrieved text in other words (标语 for 口号) or
        written with a homophone (a transliteration's variant characters); or, tagged a person, made wholly of
        ordinary dictionary words (a four-character phrase of two nouns), which no person's name is.
        jieba's own dictionary counts and tags are no guide on their own: it lists well-known names (腾讯, 北京)
        as often as common words, and tags many common nouns and idioms as person names."""
        parts = [part for part in jieba.lcut_for_search(word) if part != word and len(part) >= 2]
        if parts and all(self._document_frequency.get(part.lower(), 0) > 0 for part in parts):
            return True
        if any(other in retrieved for other in _SAME_MEANING.get(word, ())):
            return True
        if len(word) >= 3 and _homophone_variant(word, retrieved):
            return True
        return flag in _TYPE_TAGS[PERSON] and _ordinary_compound(word)

    def decide(self, question: Question, passages: list[Passage]) -> Decision:
        if not passages:
            return Decision([], 0.0)
        if unknown := self.unknown_name(question, passages):
            why = (f"文档中没有提到 {unknown}。" if question.language == "zh"
                   else f"The documents do not mention {unknown}.")
            return Decision([], 0.0, why)
        terms = self.question_terms(question.standalone, question.entities)
        if question.language != "zh":
            terms = _english_terms(question, terms)
        if question.language == "zh" and not terms:
            return Decision([], 0.0)
        if question.language == "zh" and self._names_only(question, terms):
            why = ("问题只说了关于谁或哪里，没有说想知道什么。" if question.language == "zh"
                   else "The question names only whom or what it is about: say what you want to know.")
            return Decision([], 0.0, question.notice and refusal_for(question.standalone) or why)
        parts = self._parts(question, terms, passages) if _asks_amounts(question) else []
        if parts:
            return Decision(parts, min(c.score for c in parts), terms=terms)
        candidates = self.candidates(question, terms, passages)
        if not candidates:
            return Decision([], 0.0, terms=terms)
        best = candidates[0]
        if stranger := self._other_entity(question, best):
            why = (f"文档中关于{stranger}的部分没有提到这一点。" if question.language == "zh"
                   else f"What the documents say about {stranger} does not include this.")
            return Decision([best], best.score, why, terms=terms)
        confidence = best.score - self._year_mismatch(question, best)
        if question.answer_type == DATE and _event_unsaid(question, terms, best.sentence):
            confidence -= EVENT_PENALTY
        if question.language == "zh" and self._topic_unsaid(question, passages):
            confidence -= TOPIC_PENALTY
        if question.answer_type in (NUMBER, DATE, DURATION) and not best.typed:
            # Asked for an amount in a unit ("多少家", an investment) that the sentence does not give.
            confidence -= UNTYPED_PENALTY * (UNIT_MISSING_FACTOR if self._other_units_only(question, best) else 1)
        return Decision([best], confidence, terms=terms)

    def _topic_unsaid(self, question: Question, passages: list[Passage]) -> bool:
        """Whether the noun a Chinese question opens with, its topic ("蓝晶矿石有毒吗" is about 蓝晶), is said
        by none of the retrieved passages, their titles or metadata: they are about something else."""
        topic = _opening_noun(normalise(question.standalone))
        return bool(topic) and not any(topic in normalise(p.text + " " + self._context(p)) for p in passages)

    @staticmethod
    def _other_units_only(question: Question, candidate: Candidate) -> bool:
        """Asked for an amount in a unit (an age in 岁, "多少家") and every amount the sentence gives is in
        another unit it names: it answers something else. A bare number may carry a unit we cannot read."""
        if not question.units:
            return False
        return all(q.unit for q in numbers.parse_quantities(candidate.sentence) if q.unit != "年份")

    def _names_only(self, question: Question, terms: dict[str, float]) -> bool:
        names = {normalise(m.text) for m in question.entities} | {normalise(m.canonical) for m in question.entities}
        return bool(terms) and all(t in names for t in terms) and question.answer_type == "other"

    def candidates(self, question: Question, terms: dict[str, float], passages: list[Passage],
                   named: set[str] | None = None) -> list[Candidate]:
        """Every sentence of the top passages, scored, best first."""
        total = sum(terms.values()) or 1.0
        subjects = _subjects(question.entities)
        if named is None:
            named = {i for m in subjects for i in m.article_ids}
        entity_forms = [normalise(m.canonical) for m in subjects] + [m.text for m in subjects]
        unrequested = _without_request(question.standalone)
        asked, own = _bigrams(unrequested), _question_bigrams(unrequested)
        top = max(p.score for p in passages) or 1.0
        # A question in another language than the text matches its keywords only through translation: its
        # fused score does not say whether its document is indexed, so it counts in full.
        retrieved = min(max(top, 0.0), 1.0) if question.language == "zh" else 1.0
        if question.language != "zh":  # its Latin letters match only names, which say the passage, not the sentence
            asked = set()
        found: list[Candidate] = []
        asked_text = normalise(question.standalone)
        times, slot = _times(question), _slot(question)
        # Of the titles the question says, the longest: "白花X" is said by a question about 白花X, and so is X.
        said_titles = [title for title in (_bare_title(p.title) for p in passages[:MAX_PASSAGES])
                       if len(title) >= 2 and title in asked_text]
        longest_title = max(said_titles, key=len, default="")
        numerals = {t: form for t in terms if (form := _chinese_numeral(t))}  # 第15天 as 第十五天
        for rank, passage in enumerate(passages[:MAX_PASSAGES]):
            context = normalise(self._context(passage))
            # What the article is about is said by its title for every sentence: it cannot tell them apart.
            said_by_context = _bigrams(context)
            bigrams, own_bigrams = asked - said_by_context, own - said_by_context
            previous = ""
            # An article whose title the question says is about what is asked; one whose title only contains
            # the asked name ("青木镇" for "木镇") or is another's is about something else.
            about = bool(longest_title) and _bare_title(passage.title) == longest_title
            for sentence in sentences_of(passage.text):
                text = normalise(sentence)
                covered = {t for t in terms if t in text or any(other in text for other in _SAME_MEANING.get(t, ()))}
                covered |= {t for t, form in numerals.items() if form in text}
                # A sentence opening with a pronoun is about what the sentence before it named.
                said_before = previous if _PRONOUN_START.match(text) else ""
                previous = text
                if _says_nothing(text):
                    continue  # "甲的主会场是。": its value was lost; it would win on the question's words alone
                in_context = {t for t in terms if t not in covered and (t in context or t in said_before)}
                in_context_weight = CONTEXT_WEIGHT * sum(terms[t] for t in in_context)
                coverage = (sum(terms[t] for t in covered) + in_context_weight) / total
                pairs = _bigrams(sentence)
                overlap = len(bigrams & pairs) / max(len(bigrams), 1)
                # Pairs across a function word ("是石" of 什么是石英钟) match sentences that only use the term:
                # the question's own pairs order the sentences; the confidence keeps every pair, as calibrated.
                # A word said in other words of the same meaning (别名 as 又名) counts with its pairs.
                own_pairs = pairs | {pair for t in covered if t not in text for pair in _bigrams(t)}
                own_overlap = len(own_bigrams & own_pairs) / max(len(own_bigrams), 1)
                # A word the sentence does not say whole may still share its morphemes (担任/任, 颜色/色).
                partial = sum(terms[t] * sum(ch in text for ch in t) / len(t) for t in terms
                              if t not in covered and t not in in_context and len(t) > 1 and not t.isascii())
                typed = self.has_type(question.answer_type, sentence, text, question.units)
                score = TERM_WEIGHT * coverage + BIGRAM_WEIGHT * overlap
                score += PASSAGE_WEIGHT * max(passage.score, 0) / top
                score += RETRIEVAL_WEIGHT * retrieved
                if typed and question.answer_type in (NUMBER, DATE, DURATION):
                    score += TYPE_WEIGHT
                # An English question's sentences are ordered by its translations and its meaning instead.
                preference = 0.0
                if question.language == "zh":
                    preference = BIGRAM_WEIGHT * (own_overlap - overlap)
                    preference += self._telling(question, terms, sentence, text, typed)
                    if len(re.findall(r"\w", text)) - sum(len(t) for t in covered) < MIN_SAID_BEYOND_QUESTION:
                        preference -= TELLING_WEIGHT  # it only repeats the question ("X的主会场是。")
                    if about:
                        preference += TELLING_WEIGHT
                    # "1972年电站有什么进展": "1972年，电站装好了机组" tells it; "…直到1972年调走" names the year.
                    if _opens_with_time(times, text):
                        preference += TELLING_WEIGHT
                    # "工厂被谁收购": "被商人甲收购" puts a name where the question word stands.
                    if _fills_slot(question, slot, text):
                        preference += TELLING_WEIGHT
                if named and passage.article_id not in named and not any(f and f in text for f in entity_forms):
                    score -= ENTITY_PENALTY  # about something else than the question names
                found.append(Candidate(sentence, passage, rank, score, coverage, typed, covered | in_context,
                                       preference=PARTIAL_WEIGHT * TERM_WEIGHT * partial / total + preference))
        if found and question.language != "zh":
            self._add_english_meaning(question, terms, found)
        # Sums over sets of terms differ in their last bits from run to run: a tie is a tie, and goes to the
        # earlier sentence (of the better passage), where an article states what it is about.
        found.sort(key=lambda c: round(c.score + c.preference, 9), reverse=True)
        return found

    def _add_english_meaning(self, question: Question, terms: dict[str, float], found: list[Candidate]) -> None:
        """For an English question over Chinese text: the dictionary's translations say which sentence says the
        question's words, and the stored vector of the chunk holding a sentence says how close it is in meaning
        (the question's own vector is retrieval's): nothing is embedded per sentence, so an English question
        costs what a Chinese one does."""
        self._names_in_passage(terms, found)
        for candidate, coverage in zip(found, self._translated_coverage(question, found), strict=True):
            candidate.score += TRANSLATION_WEIGHT * coverage
        if question.query_embedding is None and self.embed_model is None:
            return
        similarities = self._chunk_similarities(question, found)
        known = [s for s in similarities if s is not None]
        if not known:
            return
        low, high = min(known), max(known)
        # Similarities of one question's chunks differ in their second decimal: what tells them apart is
        # where each lies between the least and the most similar, not the shared level of all.
        for candidate, similarity in zip(found, similarities, strict=True):
            if similarity is not None and high > low:
                candidate.score += DENSE_WEIGHT * (similarity - low) / (high - low)

    @staticmethod
    def _names_in_passage(terms: dict[str, float], found: list[Candidate]) -> None:
        """The question's words in Latin letters that its passage says anywhere count for each of its sentences:
        Chinese text gives a foreign name in Latin letters once, beside its first mention, and names it in
        Chinese after that, so the name tells which passage is about it, not which of its sentences answers."""
        latin = {t: w for t, w in terms.items() if t.isascii() and re.search("[a-z]", t)}  # a year is no name
        if not latin:
            return
        total = sum(terms.values()) or 1.0
        said: dict[str, set[str]] = {}
        for candidate in found:
            passage = candidate.passage
            if passage.paragraph_id not in said:
                text = normalise(passage.text)
                said[passage.paragraph_id] = {t for t in latin if t in text}
            missing = said[passage.paragraph_id] - candidate.covered
            if missing:
                gained = CONTEXT_WEIGHT * sum(latin[t] for t in missing) / total
                candidate.coverage += gained
                candidate.score += TERM_WEIGHT * gained
                candidate.covered |= missing

    def _chunk_similarities(self, question: Question, found: list[Candidate]) -> list[float | None]:
        """Each candidate's similarity to the question: that of the stored chunk its sentence lies in."""
        query = self._query_vector(question)
        chunks = chunk_similarities(self.index, query, list(dict.fromkeys(c.passage.paragraph_id for c in found)))
        spans: dict[str, list[tuple[int, int, float]]] = {}
        for candidate in found:
            passage = candidate.passage
            if passage.paragraph_id not in spans:
                spans[passage.paragraph_id] = [
                    (start, start + len(text), similarity) for text, similarity in chunks.get(passage.paragraph_id, [])
                    if (start := passage.text.find(text)) >= 0
                ]
        similarities: list[float | None] = []
        for candidate in found:
            passage, parts = candidate.passage, spans[candidate.passage.paragraph_id]
            start = passage.text.find(candidate.sentence)
            middle = start + len(candidate.sentence) // 2
            holding = [s for begin, end, s in parts if start >= 0 and begin <= middle < end]
            # A sentence not found as written gets its paragraph's best chunk; a paragraph whose text is stored
            # once under another paragraph's id (the same text is one vector) has none here, and gets nothing.
            similarities.append(max(holding) if holding else max((s for *_, s in parts), default=None))
        return similarities

    def _query_vector(self, question: Question) -> np.ndarray:
        """Retrieval's vector of the question when it has one: the question is embedded once."""
        if question.query_embedding is None:
            question.query_embedding = self.embed_model.get_query_embedding(question.standalone)
        return np.asarray(question.query_embedding)

    def _translated_coverage(self, question: Question, found: list[Candidate]) -> list[float]:
        """For an English question over Chinese text: the idf-weighted share of its phrases a sentence says in
        Chinese (by the dictionary's translations); a phrase counts by the rarest of its words the sentence has,
        and less when the dictionary gives it many translations (a general verb such as "build")."""
        texts = [normalise(c.sentence) for c in found]
        # As for a Chinese question, what the article's title says counts for each of its sentences.
        contexts: dict[str, str] = {}
        for candidate in found:
            if candidate.passage.paragraph_id not in contexts:
                contexts[candidate.passage.paragraph_id] = normalise(self._context(candidate.passage))
        titles = [contexts[c.passage.paragraph_id] for c in found]
        weights = [[0.0] * len(found) for _ in question.translations]
        for row, (_, options) in zip(weights, question.translations, strict=True):
            specificity = 1 / math.log2(2 + len(options))
            for option in options:
                # a word the dictionary gives counts when the sentence says it in other words of the same meaning
                forms = (option, *_SAME_MEANING.get(option, ()))
                hits = [i for i, (text, title) in enumerate(zip(texts, titles, strict=True))
                        if any(form in text or form in title for form in forms)]
                if not hits:
                    continue
                idf = self.idf(option) * specificity
                for i in hits:
                    row[i] = max(row[i], idf)
        total = sum(max(row) for row in weights)
        if not total:
            return [0.0] * len(found)
        return [sum(row[i] for row in weights) / total for i in range(len(found))]

    def _context(self, passage: Passage) -> str:
        """What a sentence of the passage is about without saying so: its article's title and metadata."""
        article = self.index.articles.get(passage.article_id)
        if not article:
            return passage.title
        metadata = getattr(article, "metadata", None) or {}
        values = [v for v in metadata.values() if isinstance(v, str)]
        values += [getattr(article, key, "") for key in ("district", "interviewee", "role")]
        return " ".join([article.title, *values, getattr(passage, "section", "") or ""])

    @staticmethod
    def _telling(question: Question, terms: dict[str, float], sentence: str, text: str, typed: bool) -> float:
        """What makes one of several sentences the answering one, beyond the words it shares: a date written
        out (1937年, not 当时 or 晚期) for a date question, a name of the asked kind for a who/where question,
        an enumeration for a "哪些" question, and for "什么是X" the sentence that says what X is (X是…, X指…)."""
        kind = question.answer_type
        if kind == DATE and _DATE.search(sentence):
            return TELLING_WEIGHT
        if kind in _TYPE_TAGS and typed:
            return TELLING_WEIGHT
        if kind == LIST and sentence.count("、") >= MIN_LISTED - 1:
            return TELLING_WEIGHT  # it names the items ("甲、乙、丙"), not only what they are items of
        if kind == DEFINITION:
            # "什么是X": the sentence that opens with X and says what it is ("X指…的一种工艺"), not one that
            # names X in passing ("某词典解释X为…"). For "X的Y是什么", any sentence saying "term 是/指…".
            if (defined := _defined(question.standalone)) is not None:
                for term in terms:
                    if term in defined and re.match(r"(?:所谓)?" + re.escape(term) + _DEFINES, text):
                        return TELLING_WEIGHT
                return 0.0
            for term in terms:
                if re.search(re.escape(term) + r"(?:[（(][^）)]*[）)])?(?:，[^，。]{0,20}，)?(?:是|指|即|乃|为)", text):
                    return TELLING_WEIGHT
        return 0.0

    @staticmethod
    def has_type(kind: str, sentence: str, text: str, units: tuple[str, ...] = ()) -> bool:
        """Whether the sentence holds a token of the expected answer type (in the asked unit, if any)."""
        if kind == NUMBER:
            return any(q.unit != "年份" and (not units or q.unit in units) for q in numbers.parse_quantities(sentence))
        if kind == DURATION:
            return any(q.unit in _DURATION_UNITS for q in numbers.parse_quantities(sentence))
        if kind == DATE:
            return bool(_DATE.search(sentence)) or any(p.flag == "t" for p in passage_tags(sentence))
        if kind in _TYPE_TAGS:
            return any(p.flag in _TYPE_TAGS[kind] for p in passage_tags(sentence))
        if kind == LIST:
            return "、" in sentence or "，" in sentence
        if kind == REASON:
            return bool(_REASON.search(sentence))
        return True

    # --- questions in parts: "X和Y各有多少", "X比Y多几个" -------------------------------------------------
    def _parts(self, question: Question, terms: dict[str, float], passages: list[Passage]) -> list[Candidate]:
        """"X和Y各有多少", "X比Y多几个": each part looked up on its own. A part that only names an entity takes
        what is asked from the part that says it."""
        text = question.standalone
        if not _PART_BREAK.search(text) and not _COMPARE.search(text):
            return []
        pieces, current = [], ""
        for word in jieba.lcut(text):
            if _PART_BREAK.fullmatch(word) or word == "比":
                pieces.append(current)
                current = ""
            else:
                current += word
        pieces = [p for p in [*pieces, current] if p.strip()]
        if len(pieces) < 2:
            return []
        mentions = [self.names.find(piece) for piece in pieces]
        names = {normalise(m.canonical) for found in mentions for m in found} | {
            m.text for found in mentions for m in found}
        def naming(term: str) -> bool:  # a name, or a piece of one ("东湖" of 东湖新区)
            return term in names or any(term in name for name in names if not name.isascii())

        # "各有", "加起来", "相差": how the parts are to be combined, not what each part is about.
        asked = [normalise(_OPERATION.sub(" ", piece)) for piece in pieces]
        # A word of the question that no passage uses ("学校数" for 学校) cannot tell one part's sentence from another.
        retrieved = normalise(" ".join(p.text + " " + self._context(p) for p in passages[:MAX_PASSAGES]))
        own_terms = [{t: w for t, w in terms.items() if t in piece and t in retrieved and not _COUNTED.fullmatch(t)}
                     for piece in asked]
        # "…，哪个产量更大": the piece that asks which is more names what is compared, for every part.
        compared = [not found and _asks_which(piece)
                    for piece, found in zip(pieces, mentions, strict=True)]
        attribute = {t: w for own, asks in zip(own_terms, compared, strict=True) if asks for t, w in own.items()}
        shared: dict[str, float] = {}
        for own, piece in zip(reversed(own_terms), reversed(asked), strict=True):
            # "X、Y和Z的学校数": what follows the last 的 is asked of every part, what precedes it is Z.
            tail = piece.rsplit("的", 1)[-1]
            if shared := {t: w for t, w in own.items() if not naming(t) and t in tail}:
                break
        each = bool(_EACH.search(text) or _TOTAL.search(text) or _COMPARE.search(text))
        chosen: list[Candidate] = []
        piece_labels: list[str] = []
        for piece, own, found_names, bare, asks in zip(pieces, own_terms, mentions, asked, compared, strict=True):
            if not own or (asks and len(pieces) > 2) or all(_YEAR.fullmatch(t) or _DATE.fullmatch(t) for t in own):
                continue  # "在某年，…" ("in 1990, …"): a clause that sets the time is not a part
            only_names = all(naming(t) for t in own)
            if len(chosen) >= 2 and _asks_which(piece) and only_names:
                continue
            weighted = {**{t: w for t, w in shared.items()}, **own} if only_names else {**attribute, **own}
            part = Question(question.text, piece, question.language, _amount_type(question), entities=found_names,
                            units=question.units)
            named = {i for m in found_names for i in m.article_ids}
            if named:  # what the named article's passages never say cannot be asked of it (a verb it words otherwise)
                said = normalise(" ".join(p.text + " " + self._context(p) for p in passages if p.article_id in named))
                kept = {t: w for t, w in weighted.items() if t in own or t in said}
                if any(t not in own for t in kept):  # it still asks something of the article
                    weighted = kept
            candidates = self.candidates(part, weighted, passages, named=named)
            if named:
                candidates = [c for c in candidates if c.passage.article_id in named] or candidates
            if not candidates:
                return []
            best = candidates[0]
            share = sum(w for t, w in own.items() if t in best.covered) / sum(own.values())
            if share < MIN_PART_COVERAGE:
                return []
            best.label = found_names[0].canonical if found_names else ""
            # Two parts asked for each ("…和…各有多少") may be answered by one sentence ("12个停车场，并改造3个
            # 街心公园"), each by its own amount: what one part asks and the other does not.
            asked_here = {t for t in best.covered if t in own and not naming(t)}
            if all(best.sentence != c.sentence or (each and asked_here - c.covered and c.covered - asked_here)
                   for c in chosen):
                # What every part asks ("学生数" in "甲校和乙校的学生数") does not tell their amounts apart.
                best.covered = asked_here - set(shared) or asked_here
                chosen.append(best)
                piece_labels.append(_piece_words(bare, names))
        if question.language != "zh" and not all(c.label for c in chosen):
            return []  # English parts are told apart by the names they mention ("… Science and Technology Park …")
        if len({c.label for c in chosen}) < len(chosen) or not all(c.label for c in chosen):
            # The parts are about one thing (or name none): each is told apart by what it asks about, less
            # what all of them ask about.
            common = set.intersection(*(set(words) for words in piece_labels)) if piece_labels else set()
            for candidate, words in zip(chosen, piece_labels, strict=True):
                candidate.label = "".join(w for w in words if w not in common) or "".join(words) or candidate.label
        return chosen if len(chosen) >= 2 else []

    def _other_entity(self, question: Question, best: Candidate) -> str:
        """The name the question is about when the best sentence is about something else: from another
        article than the ones the name points at, and not naming it either."""
        named = _subjects(question.entities)
        if not named:
            return ""
        text = normalise(best.sentence)
        for mention in named:
            if best.passage.article_id in mention.article_ids or normalise(mention.canonical) in text:
                return ""
        return named[0].canonical

    def _year_mismatch(self, question: Question, candidate: Candidate) -> float:
        """How much less likely the chosen sentence answers a question about a year: not at all when its
        passage never names the year (and the article is not about it: "今年"), less when the sentence itself
        is dated by other years only."""
        years = _YEAR.findall(question.standalone)
        if not years:
            return 0.0
        current = self._current_year(candidate.passage.article_id)
        text = candidate.sentence + candidate.passage.text + candidate.passage.title
        if not all(year in text or year == current for year in years):
            return ABSENT_YEAR_PENALTY
        # A sentence dated by other years only speaks of them, whatever the rest of its passage names: "in 2023,
        # 90 projects" does not say how many there are in 2025. A sentence without a year may be about any.
        said = set(_YEAR.findall(candidate.sentence))
        return YEAR_PENALTY if said and not said & set(years) and current not in years else 0.0

    def _current_year(self, article_id: str) -> str:
        """The year an article is about ("今年"): its stated date, else the year its paragraphs name most."""
        with self._lock:
            if article_id in self._years:
                return self._years[article_id]
        article = self.index.articles.get(article_id)
        stated = str(getattr(article, "date", "") or "")[:4]
        if not stated:
            named = [y for p in self.index.paragraphs_of_article(article_id) for y in _YEAR.findall(p.text)]
            stated = max(set(named), key=named.count) if named else ""
        with self._lock:
            self._years[article_id] = stated
        return stated

    def _asked_of_header(self, question: Question) -> bool:
        """"X的管委会主任是谁", "Y是哪个区的区长": the question names an article by a metadata value and
        every other term it uses stands in that article's header (title, subtitle, byline)."""
        for mention in question.entities:
            if mention.kind not in (PERSON, PLACE) or len(mention.article_ids) != 1:
                continue
            article = self.index.articles.get(mention.article_ids[0])
            header = normalise(getattr(article, "header", "") or "") if article else ""
            if not header or normalise(article.title) == normalise(mention.canonical):
                continue
            names = {normalise(m.canonical) for m in question.entities} | {m.text for m in question.entities}
            rest = [t for t in self.question_terms(question.standalone, []) if t not in names
                    and not any(t in n for n in names) and t not in _ASKING_WORDS]
            if rest and all(t in header for t in rest):
                return True
        return False

    # --- questions about the documents themselves: who wrote, whom it is about, its title ---------------
    def metadata_answer(self, question: Question, passages: list[Passage]) -> Answer | None:
        """Who reported, who was interviewed and in what role, a headline: answered from an article's
        metadata and header when the question names the article by a metadata value, citing the header."""
        text = normalise(question.standalone)
        asks_role = bool(_ROLE.search(text))
        # "有什么身份" reads as a list question, but asks for a role.
        if question.answer_type in (NUMBER, DATE, DURATION, REASON) or (question.answer_type == LIST and not asks_role):
            return None
        asks_reporter = bool(_REPORTER.search(text))
        asks_headline = bool(_HEADLINE.search(text))
        asks_person = question.answer_type == PERSON and bool(_HEAD.search(text) or asks_reporter)
        asks_header = question.answer_type in (PERSON, PLACE) and self._asked_of_header(question)
        if not (asks_reporter or asks_role or asks_headline or asks_person or asks_header):
            return None
        if asks_header and not (asks_reporter or asks_role or asks_headline):
            asks_role, asks_person = question.answer_type == PLACE, question.answer_type == PERSON
        ids = []
        for mention in question.entities:
            for article_id in mention.article_ids:
                if article_id not in ids and article_id in self.index.articles:
                    ids.append(article_id)
        if not ids and asks_person and _INTERVIEWEE.search(text):
            ids = self._articles_saying(question, passages)
        if not ids or len(ids) > 3:
            return None
        zh = question.language == "zh"
        facts, citations = [], []
        for n, article_id in enumerate(ids, start=1):
            article = self.index.articles[article_id]
            fact, quote = _metadata_fact(article, text, zh, asks_reporter, asks_role, asks_headline, asks_person)
            if not fact:
                return None
            facts.append(f"{fact}[{n}]")
            header = getattr(article, "header", "") or article.title
            citations.append(Citation(n=n, title=article.title, district=getattr(article, "district", ""),
                                      paragraph=0, paragraph_id=f"{article.id}-header", text=header,
                                      quote=quote if quote in header else header, score=1.0,
                                      interviewee=getattr(article, "interviewee", ""),
                                      **_citation_extras(article)))
        text = ("；" if zh else "; ").join(facts)
        return Answer(question.text, text, True, citations=citations, passages=passages, notice=question.notice,
                      lead=text, quotes=[c.quote for c in citations], confidence=1.0)

    def _articles_saying(self, question: Question, passages: list[Passage]) -> list[str]:
        """"哪位受访者说过…", "哪两位受访者都说…": the articles (of interviews) whose passages say what the
        question quotes, as many as it asks for (one unless it counts them)."""
        terms = {t: w for t, w in self.question_terms(question.standalone, []).items()
                 if not _INTERVIEWEE.search(t) and t not in _ASKING_WORDS and not _COUNTED.fullmatch(t)}
        total = sum(terms.values())
        if not total:
            return []
        wanted = 1
        if match := re.search(r"哪([两二三四几])[位个名]", question.standalone):
            wanted = 3 if match.group(1) == "几" else int(numbers.chinese_to_number(match.group(1)))
        ids: list[str] = []
        for passage in passages:
            article = self.index.articles.get(passage.article_id)
            said = normalise(passage.text + " " + passage.title)
            coverage = sum(w for t, w in terms.items() if t in said) / total
            if (article and getattr(article, "interviewee", "") and passage.article_id not in ids
                    and coverage >= QUOTED_COVERAGE):
                ids.append(passage.article_id)
        return ids[:wanted] if len(ids) >= wanted else []

    # --- writing the answer ----------------------------------------------------------------------------
    def compose(self, question: Question, decision: Decision, passages: list[Passage]) -> Answer:
        citations: list[Citation] = []
        marker_of: dict[str, int] = {}
        # One sentence answering alone is quoted with the one before it when it leans on that one.
        quoted = {id(choice): context_of(question, choice.sentence, choice.passage.text)
                  if len(decision.chosen) == 1 else choice.sentence for choice in decision.chosen}
        if len(decision.chosen) == 1 and question.language == "zh" and question.answer_type in SPAN_TYPES \
                and not _SEVERAL.search(question.standalone):
            # The lead says the span: a long sentence is quoted by the clauses that say it and the question's
            # words, as written (the rest of it says something else).
            [choice] = decision.chosen
            if quoted[id(choice)] == choice.sentence:
                span = self.lead_span(question, decision.terms, choice.sentence)
                quoted[id(choice)] = clauses_holding(choice.sentence, span, decision.terms)
        for choice in decision.chosen:
            paragraph_id = choice.passage.paragraph_id
            if paragraph_id not in marker_of:
                marker_of[paragraph_id] = len(citations) + 1
                citations.append(Citation.of(choice.passage, marker_of[paragraph_id], quoted[id(choice)]))
            elif quoted[id(choice)] not in citations[marker_of[paragraph_id] - 1].quote:
                citations[marker_of[paragraph_id] - 1].quote += quoted[id(choice)]
        leads = []
        spans = []
        asked = question
        if len(decision.chosen) > 1 and question.answer_type != _amount_type(question):
            # "Which is more" is answered by a name, but each part by its amount.
            asked = replace(question, answer_type=_amount_type(question))
        for choice in decision.chosen:
            # Each part's amount is the one nearest to what that part asks about.
            others = set().union(*(c.covered for c in decision.chosen
                                   if c is not choice and c.sentence == choice.sentence))
            anchors = {t: 1.0 for t in choice.covered - others} if len(decision.chosen) > 1 else {}
            span = self.lead_span(asked, anchors or decision.terms, choice.sentence)
            spans.append(span)
            if span and len(decision.chosen) == 1 and question.language == "zh" \
                    and question.answer_type not in SPAN_TYPES and len(span) * 2 >= len(choice.sentence):
                span = ""  # a list that is most of its sentence would show the sentence twice
            if span:
                label = choice.label
                shown = f"{label}：{span}" if label and len(decision.chosen) > 1 else span
                leads.append(f"{shown}[{marker_of[choice.passage.paragraph_id]}]")
        lines = []
        if computed := self.reasoned(question, decision.chosen, spans, decision.terms):
            lines.append(computed)
        if leads:
            lines.append("；".join(leads) if question.language == "zh" else "; ".join(leads))
        lead = "\n\n".join(lines)
        shown = dict.fromkeys((quoted[id(c)], marker_of[c.passage.paragraph_id]) for c in decision.chosen)
        lines.append("".join(f"{sentence}[{marker}]" for sentence, marker in shown))
        return Answer(question.text, "\n\n".join(lines), True, citations=citations, passages=passages,
                      notice=question.notice, lead=lead, quotes=[sentence for sentence, _ in shown])

    def lead_span(self, question: Question, terms: dict[str, float], sentence: str) -> str:
        """The shortest span of the sentence that answers: a quantity with its unit, a date, a name, a list."""
        kind = question.answer_type
        asked = normalise(question.standalone)
        anchors = [m.start() for t in terms for m in re.finditer(re.escape(t), normalise(sentence))] or [0]

        def nearest(spans: list[tuple[int, str]]) -> str:
            spans = [(start, text) for start, text in spans if normalise(text) not in asked]
            if not spans:
                return ""
            return min(spans, key=lambda s: min(abs(s[0] - a) for a in anchors))[1]

        if kind == NUMBER and (cell := _table_cell(question, sentence)):
            return cell
        if kind in (NUMBER, DURATION):
            wanted = _DURATION_UNITS if kind == DURATION else None
            quantities = [q for q in numbers.parse_quantities(sentence) if q.unit != "年份"
                          and (wanted is None or q.unit in wanted)]
            quantities = [q for q in quantities if q.unit in question.units] or quantities
            quantities = [q for q in quantities if normalise(q.text) not in asked]
            if not quantities:
                return ""
            return min(quantities, key=lambda q: (quantity_order(question, terms, sentence, q),
                                                  min(abs(q.start - a) for a in anchors))).text
        if kind == DATE:
            return nearest([(m.start(), m.group()) for m in _DATE.finditer(sentence)])
        if kind in _TYPE_TAGS:
            spans, position = [], 0
            for pair in passage_tags(sentence):
                if pair.flag in _TYPE_TAGS[kind] and len(pair.word) >= 2:
                    spans.append((position, pair.word))
                position += len(pair.word)
            return nearest(spans)
        if kind == LIST:
            clauses = [c for c in re.split(r"[，,；;：:。]", sentence) if "、" in c]
            if clauses:
                return max(clauses, key=lambda c: c.count("、")).strip()
        return ""

    def reasoned(self, question: Question, chosen: list[Candidate], spans: list[str],
                 terms: dict[str, float] | None = None) -> str:
        """A difference, a total or which is more, over the parsed quantities of each part, each labelled; an
        amount per unit ("平均每家") from one sentence's amount and count."""
        if len(chosen) == 1 and (per := _PER.search(question.standalone)):
            return _per_unit(question, chosen[0].sentence, per.group(1) or "人", terms or {})
        if len(chosen) < 2:
            return ""
        compare, add = _COMPARE.search(question.standalone), _TOTAL.search(question.standalone)
        more, less = _WHICH_MORE.search(question.standalone), _WHICH_LESS.search(question.standalone)
        if not (compare or add or more or less):
            return ""
        values = [numbers.parse_quantity(span) for span in spans]
        if any(v is None for v in values):
            return ""
        labels = [c.label or c.passage.title for c in chosen]
        zh = question.language == "zh"
        try:
            if compare and len(values) == 2:
                result = numbers.difference(values[0], values[1])
                return (f"相差{result.text}（{labels[0]} {values[0].text}，{labels[1]} {values[1].text}）" if zh
                        else f"A difference of {result.text} ({labels[0]} {values[0].text}, "
                             f"{labels[1]} {values[1].text})")
            if add:
                result = numbers.total(values)
                parts = " + ".join(f"{label} {value.text}" for label, value in zip(labels, values, strict=True))
                return f"合计{result.text}（{parts}）" if zh else f"{result.text} in total ({parts})"
            numbers.total(values)  # only to refuse comparing incompatible units
        except numbers.IncompatibleUnits as error:
            return f"单位不同，无法计算：{error}" if zh else f"Not computed: {error}"
        pick = max if more and not less else min
        index = values.index(pick(values, key=lambda v: v.value))
        return f"{labels[index]}（{values[index].text}）" if zh else f"{labels[index]} ({values[index].text})"


def _citation_extras(article) -> dict:
    """Source and metadata for a citation of an article's header, where the record has those fields."""
    fields = getattr(Citation, "__dataclass_fields__", {})
    extras = {"source": article.source, "metadata": dict(getattr(article, "metadata", None) or {})}
    return {key: value for key, value in extras.items() if key in fields}


def _metadata_fact(article, text: str, zh: bool, asks_reporter: bool, asks_role: bool, asks_headline: bool,
                   asks_person: bool) -> tuple[str, str]:
    """One fact from the article's metadata, and the header line that states it (as written)."""
    reporter = getattr(article, "reporter", "")
    interviewee = getattr(article, "interviewee", "")
    role = getattr(article, "role", "")
    subtitle = getattr(article, "subtitle", "")
    header = getattr(article, "header", "") or ""
    byline = next((line for line in header.splitlines() if reporter and reporter in line), reporter)
    who = interviewee or getattr(article, "district", "") or article.title
    reporter_named = reporter and normalise(reporter) in text
    if asks_reporter and reporter and not reporter_named:
        if zh:
            return f"采访{role}{who}的是{byline.lstrip('●• ')}", byline
        return f"{who} ({role}) was interviewed by {reporter}", byline
    if asks_reporter and reporter_named and interviewee:
        if zh:
            return f"{reporter}采访的是{role}{interviewee}", subtitle
        return f"{reporter} interviewed {interviewee} ({role})", subtitle
    if asks_headline and normalise(article.title) not in text:
        return (f"《{article.title}》" if zh else f"“{article.title}”"), article.title
    if (asks_role or asks_person) and interviewee:
        if zh:
            return f"{interviewee}，{role}", subtitle
        spelled = (pinyin_spellings(interviewee, "person") or ("",))[0].title()
        return f"{interviewee} ({spelled}), {role}" if spelled else f"{interviewee}, {role}", subtitle
    return "", ""


# What a number is said to count: the whole, what was added, a part of a whole, a change, or each of several.
_QUALIFIERS = {"累计": "total", "共": "total", "总计": "total", "合计": "total", "总共": "total", "一共": "total",
               "总数": "total", "新增": "new", "新建": "new", "新开": "new", "其中": "part", "同比": "change",
               "增长": "change", "下降": "change", "增幅": "change", "分别": "each"}
_QUALIFIER = re.compile("|".join(sorted(_QUALIFIERS, key=len, reverse=True)))
_CLAUSE_BREAK = re.compile(r"[，。；！？,;!?]")
# What a question that names no qualifier asks: the whole (said plainly or with 共), not what was added or a part.
_PLAIN = (None, "total")


def qualifier_of(text: str, before: int | None = None) -> str | None:
    """The qualifier a number is said with: the last one in its clause before it (for a question, before=None,
    the first one it says); None when it is said plainly."""
    if before is None:
        found = _QUALIFIER.findall(text)
        return _QUALIFIERS[found[0]] if found else None
    clause_start = max((m.end() for m in _CLAUSE_BREAK.finditer(text, 0, before)), default=0)
    found = _QUALIFIER.findall(text, clause_start, before)
    return _QUALIFIERS[found[-1]] if found else None


def clause_around(text: str, at: int) -> str:
    """The clause of the text that holds position `at`."""
    start = max((m.end() for m in _CLAUSE_BREAK.finditer(text, 0, at)), default=0)
    end = next((m.start() for m in _CLAUSE_BREAK.finditer(text, at)), len(text))
    return text[start:end]


def quantity_order(question: Question, terms: dict[str, float], sentence: str, quantity: numbers.Quantity) -> tuple:
    """How surely an amount of the sentence is the asked one, surest least. A question that says a qualifier
    (累计, 新增, 其中…) wants the amount said with it first; one that says none wants the amount whose clause
    says more of its words (the counted noun: "多少座换乘站" is the 5 of "其中换乘站5座", "多少座车站" the 17
    of "共设车站17座"), then one said plainly or with 共 rather than as a part or what was added; then the unit."""
    asked, said = qualifier_of(question.standalone), qualifier_of(sentence, quantity.start)
    agrees = said == asked or (asked is None and said in _PLAIN)
    clause = normalise(clause_around(sentence, quantity.start))
    weight = sum(w for t, w in terms.items() if t in clause)
    other_unit = bool(question.units) and quantity.unit not in question.units
    if asked is None:
        return (-weight, not agrees, other_unit)
    return (not agrees, -weight, other_unit)


def _per_unit(question: Question, sentence: str, counter: str, terms: dict[str, float]) -> str:
    """"平均每家工厂的产值是多少" over "全区8家工厂，产值12亿元": 12亿元 ÷ 8家, the count
    being the one nearest the question's words; nothing when the sentence lacks either."""
    quantities = [q for q in numbers.parse_quantities(sentence) if q.unit != "年份"]
    counts = [q for q in quantities if q.unit == counter and q.value]
    amounts = [q for q in quantities if q.unit != counter and (not question.units or q.unit in question.units)]
    if not counts or not amounts:
        return ""
    text = normalise(sentence)
    anchors = [m.start() for t in terms for m in re.finditer(re.escape(t), text)] or [0]

    def nearest(found: list[numbers.Quantity]) -> numbers.Quantity:
        return min(found, key=lambda q: min(abs(q.start - a) for a in anchors))

    amount, count = nearest(amounts), nearest(counts)
    value = numbers.format_value(amount.value / count.value, amount.unit)
    if question.language == "zh":
        return f"平均每{counter}约{value}（{amount.text} ÷ {count.text}）"
    return f"About {value} per {counter} ({amount.text} ÷ {count.text})"


def _asks_amounts(question: Question) -> bool:
    """Amounts to be found part by part: a number question, or "which is more" between named things."""
    return question.answer_type in (NUMBER, DURATION) or _asks_which(question.standalone)


def _asks_which(text: str) -> bool:
    """"哪个…更多/最少", "which … more": the question asks which of some things is more or less."""
    return bool(_WHICH_MORE.search(text) or _WHICH_LESS.search(text))


def _amount_type(question: Question) -> str:
    return question.answer_type if question.answer_type in (NUMBER, DURATION) else NUMBER


_COUNTED = re.compile(r"[\d一二两三四五六七八九十几]+[个者项位种家所条类]|[一二两三四五六七八九十几]+")


def _piece_words(piece: str, names: set[str]) -> list[str]:
    """What one part of a question asks about, in its own words: "东湖区今年新建的中学" → 新建 中学
    (no names, question words, "which is more" or counts such as 两个/三者)."""
    piece = _WHICH_LESS.sub(" ", _WHICH_MORE.sub(" ", piece))
    return [w for w in jieba.lcut(piece) if re.search(r"\w", w) and normalise(w) not in names
            and normalise(w) not in STOPWORDS and not set(w) <= _QUESTION_CHARACTERS and not _COUNTED.fullmatch(w)]


def _subjects(entities: list) -> list:
    """The names that say which articles a question is about: those that articles are about (by title, heading
    or metadata) when the question has any, since a word jieba tagged as a name in body text (a verb read as a
    person) would otherwise vouch for any article that happens to use it."""
    named = [m for m in entities if m.article_ids]
    return [m for m in named if getattr(m, "about", False)] or named


def _question_bigrams(text: str) -> set[str]:
    """The character pairs of a question's own words: none across a function or question word ("什么是石英钟"
    gives no 是石, which any sentence saying "…是石英钟…" would share without saying what it is)."""
    kept = [word if word.strip() and normalise(word) not in STOPWORDS and not set(word) <= _QUESTION_CHARACTERS
            else "，" for word in jieba.lcut(unicodedata.normalize("NFKC", text))]
    return _bigrams("".join(kept))


def _table_cell(question: Question, sentence: str) -> str:
    """A table row's value in the column the question names most closely ("2022年营业收入" → the 2022年
    cell; the first column when none is named), with the unit its column header ("月薪（元）") or else its
    label ("研发投入（亿元）") states when the cell has none."""
    row = table_row_cells(sentence)
    if row is None:
        return ""
    _, unit, cells = row
    asked = _bigrams(question.standalone)
    cells = [(header, value) for header, value in cells if numbers.parse_quantities(value)]
    if not cells:
        return ""
    # max keeps the first of equals: the leftmost column (the latest year, in most reports)
    header, value = max(cells, key=lambda cell: len(_bigrams(cell[0]) & asked))
    if any(q.unit for q in numbers.parse_quantities(value)):
        return value
    for stated in (stated_unit(header), unit):
        # only a unit read as one: "收入（含税）" states a condition, not a unit
        if stated and any(q.unit and q.text == value + stated for q in numbers.parse_quantities(value + stated)):
            return value + stated
    return value


def _bigrams(text: str) -> set[str]:
    text = normalise(text)
    return {text[i:i + 2] for i in range(len(text) - 1) if not _NOT_IN_BIGRAM.search(text[i:i + 2])}


def _english_terms(question: Question, terms: dict[str, float]) -> dict[str, float]:
    """An English question's terms that Chinese text can say as written: its names in Chinese writing, its
    numbers, and its Latin names; its other English words are matched through their translations."""
    names = latin_names(question.standalone)
    return {t: w for t, w in terms.items() if not t.isascii() or not re.search("[a-z]", t) or t in names}


_CHINESE_WORD = re.compile(r"[\u4e00-\u9fff]+")


def _homophone_variant(word: str, text: str) -> bool:
    """Whether the text writes the word with one character swapped for another of the same sound (冰激凌 and
    冰激淋): the same word in a variant spelling, as transliterations often are.

    A spelling that differs in one character matches the word exactly on one side of its middle, so only the
    places where the word's first or second half occurs (found by str.find) are compared: linear in the
    text and the word, with no pattern made per character (a 2,000-character question made ~2,000)."""
    sounds = lazy_pinyin(word)
    if len(sounds) != len(word) or not _CHINESE_WORD.fullmatch(word):
        return False  # pinyin reads Chinese characters one by one; a Latin word ("linux") is one sound
    length, half = len(word), len(word) // 2
    starts = set(_occurrences(text, word[:half])) if half else set()
    starts.update(at - half for at in _occurrences(text, word[half:]) if at >= half)
    for start in sorted(starts):
        window = text[start : start + length]
        if len(window) != length:
            continue
        differ = [i for i, (a, b) in enumerate(zip(window, word, strict=True)) if a != b][:2]
        if not differ:
            return True
        if len(differ) == 1 and _sound(window[differ[0]]) == sounds[differ[0]]:
            return True
    return False


def _occurrences(text: str, part: str):
    """Where part occurs in text, overlapping occurrences included."""
    at = text.find(part)
    while at >= 0:
        yield at
        at = text.find(part, at + 1)


@lru_cache(maxsize=8192)
def _sound(character: str) -> str:
    return "".join(lazy_pinyin(character))


def _ordinary_compound(word: str) -> bool:
    """Whether the word is two or more dictionary words end to end, none of them a name ("书法" + "精湛")."""
    tags = posseg.dt.word_tag_tab
    for cut in range(2, len(word) - 1):
        head, tail = word[:cut], word[cut:]
        if tags.get(head, "nr") not in _NAME_FLAGS and (
                tags.get(tail, "nr") not in _NAME_FLAGS or _ordinary_compound(tail)):
            return True
    return False


def _event_unsaid(question: Question, terms: dict[str, float], sentence: str) -> bool:
    """Whether the question says what happened by verbs (成立, 担任, 发现) and the sentence says none of them,
    in these or in same-meaning words, nor names whom or what the question asks about (its title or metadata
    may): it dates something else. A sentence naming the subject may word the event otherwise (卸任 for 离职)."""
    verbs = {normalise(p.word) for p in posseg.lcut(question.standalone)
             if p.flag.startswith("v") and len(p.word) > 1} & set(terms)
    text = normalise(sentence)
    if not verbs or any(verb in text or any(other in text for other in _SAME_MEANING.get(verb, ()))
                        for verb in verbs):
        return False
    if _PRONOUN_START.match(text):
        return False  # it goes on about what the sentence before named
    subjects = _subjects(question.entities)
    return any(normalise(m.canonical) not in text and normalise(m.text) not in text for m in subjects)


def _request_stripped(pairs: list) -> list:
    """A question's tagged words without the request that opens it and whom it is made to ("请问…", "总结一下…",
    "告诉我…", "根据文档，…"): they ask, they name nothing asked about."""
    at = 0
    while at < len(pairs) and pairs[at].word in _REQUESTS:
        at += 1
    # After a request, whom it is made to and its softeners ("告诉我", "总结一下", "根据文档，").
    while 0 < at < len(pairs) and (pairs[at].flag[:1] in ("r", "m", "u", "x") or pairs[at].word in _REQUESTS) \
            and not _QUESTION_WORD.search(pairs[at].word):
        at += 1
    return pairs[at:] if at < len(pairs) else pairs


def _without_request(text: str) -> str:
    """The question from where its request ends ("告诉我X有多高" → "X有多高")."""
    if not re.match(r"[\u4e00-\u9fff]", text):
        return text
    pairs = posseg.lcut(text)
    return "".join(pair.word for pair in _request_stripped(pairs))


def _opening_noun(text: str) -> str:
    """The word a question opens its topic with: a noun, or a verb modifying one ("导航卫星"), or a name jieba
    cannot read, which it cuts into single characters ("甲乙丙是谁" as 甲, 乙, 丙) up to the first word or
    function character. A question word ("哪些地方") opens no topic."""
    pairs = _request_stripped(posseg.lcut(text))
    if not pairs or not pairs[0].flag.startswith(("n", "v")) or _QUESTION_WORD.search(pairs[0].word):
        return ""
    if len(pairs[0].word) > 1:
        return "" if pairs[0].word.isascii() else pairs[0].word
    if not pairs[0].flag.startswith("n"):
        return ""
    characters = ""
    for pair in pairs:
        if len(pair.word) > 1 or not re.fullmatch(r"\w", pair.word) or pair.word in _FUNCTION_CHARACTERS:
            break
        characters += pair.word
    return characters if len(characters) > 1 else ""


def _defined(question: str) -> str | None:
    """What a "什么是X" / "X是什么" question asks to have defined; None for "X的Y是什么", which asks for a
    property of X, not what X is."""
    match = _DEFINITION_ASKED.search(normalise(question))
    if not match:
        return None
    defined = match.group("a") or match.group("b")
    return None if "的" in defined else defined


def _says_nothing(text: str) -> bool:
    """A sentence whose value was lost (a field left empty where the text was made): "X的主会场是。",
    "X位于。"; it repeats the question and answers nothing."""
    said = re.sub(r"[。！？!?\s]+$", "", text)
    if not said or said[-1] not in _COPULA_ENDS or said.endswith(("所为", "认为", "以为", "成为", "作为")):
        return False  # "此事乃其兄所为。" says who did it
    return jieba.lcut(said)[-1] in _COPULAS


def _slot(question: Question) -> re.Pattern | None:
    """The question's words on either side of its question word, as a pattern whose group is what a sentence
    says in between: "甲被谁收购" → 被(…)收购; "甲位于哪里" → 位于(…). None when they would match most sentences (a
    question that opens with its question word, or a single character before one that ends)."""
    asked = normalise(question.standalone)
    match = _ASKED_SLOT.search(asked)
    if not match or match.start() == 0:
        return None
    before = [w for w in jieba.lcut(asked[:match.start()]) if re.search(r"\w", w)]
    after = [w for w in jieba.lcut(asked[match.end():]) if re.search(r"\w", w) and w not in _SLOT_FILLERS]
    left = before[-1] if before and before[-1] not in _SLOT_FILLERS else ""
    right = after[0] if after else ""
    if left and right:
        return re.compile(re.escape(left) + r"([^，。；！？,;]{1,20}?)" + re.escape(right))
    if len(left) >= 2:
        return re.compile(re.escape(left) + r"([^，。；！？,;]{2,})")
    return None


def _fills_slot(question: Question, slot: re.Pattern | None, text: str) -> bool:
    """The sentence says the words around the question word with something of the asked kind between them:
    "甲被谁收购" is answered by "甲亏损，被商人乙收购" (乙, a name, fills the slot), not by "丙被合作社收购";
    "甲位于哪里" by "甲位于河谷北岸", not by "甲位于。"."""
    if slot is None:
        return False
    kind = question.answer_type
    return any(kind not in SPAN_TYPES or ExtractiveAnswerer.has_type(kind, gap, gap, question.units)
               for gap in slot.findall(text))


def _chinese_numeral(term: str) -> str:
    """A number of two digits as Chinese writes it in words (15 → 十五): the question's 第15天 is the text's
    第十五天. Smaller numbers in words (一, 四) are too common a character to tell anything."""
    if not term.isdigit() or not 11 <= int(term) <= 99:
        return ""
    tens, units = divmod(int(term), 10)
    return ("" if tens == 1 else _NUMERALS[tens]) + "十" + (_NUMERALS[units] if units else "")


def _times(question: Question) -> list[str]:
    """The times a question sets ("1990年", "康熙5年", "3月"), as normalised text; a bare short number is none."""
    found = [normalise(m.group()) for m in _DATE.finditer(question.standalone)]
    return [t for t in found if not t.isdigit() or len(t) == 4]


def _opens_with_time(times: list[str], text: str) -> bool:
    """The sentence opens with a time the question sets: a sentence that starts with a time tells what happened
    then; one that names it in passing ("…直到1972年调往北方") is about someone or something else."""
    return any(t in text[:len(t) + OPENING_CHARS] for t in times)
