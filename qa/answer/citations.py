"""Citation markers in an answer: parse every style models write, renumber, and check each sentence's facts.

Pure functions over strings. A "fact" is something a reader can check against a paragraph: a number
(万/亿 and English scale words resolved to a value), a percentage, a month or day, a term in quotes, a
Latin-script name, or a known name (district, interviewee) from the passages' metadata.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from qa.text import CLOSING_QUOTES, TERMINAL_PUNCTUATION, content_tokens, is_chinese, normalise, split_sentences

# ------------------------------------------------------------------------------------------ markers

_NUMBER_LIST = r"\d{1,3}(?:\s*(?:[,，、;；]|and|和|[-–~])\s*\d{1,3})*"
_SOURCE_WORD = r"(?:来源|出处|段落|材料|文档|参考|passages?|sources?|refs?)"
# [1]  [1][2]  [1, 2]  [^1]  [来源1]  【1】  【1，2】  (来源1)  （来源：1、2）  (Source 1)
MARKER = re.compile(
    rf"(?P<space>[ \t]*)(?:"
    rf"\[\^?\s*(?:{_SOURCE_WORD}\s*[:：]?\s*)?(?P<square>{_NUMBER_LIST})\s*\]"
    rf"|【\s*(?:{_SOURCE_WORD}\s*[:：]?\s*)?(?P<lenticular>{_NUMBER_LIST})\s*】"
    rf"|[(（]\s*{_SOURCE_WORD}\s*[:：]?\s*(?P<round>{_NUMBER_LIST})\s*[)）]"
    rf")",
    re.IGNORECASE,
)
# What a reply still streaming may end with: the start of a marker whose end has not arrived yet.
_UNFINISHED_MARKER = re.compile(r"(?:[\[【(（][^\]】)）\n]{0,12})$")
_MARKER_SEPARATOR = re.compile(r"\s*(?:[,，、;；]|and|和)\s*", re.IGNORECASE)
_MARKER_RANGE = re.compile(r"(\d+)\s*[-–~]\s*(\d+)")
_LONGEST_RANGE = 10

_THINKING = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)
_FOOTNOTE_DEFINITION = re.compile(r"^\s*\[\^\d+\]\s*[:：]")
_LIST_OF_SOURCES = re.compile(r"^\s*(?:[-*•·]\s*)?(?:\[\^?\d+\]|【\d+】)")
_SOURCES_HEADING = re.compile(
    r"^\s*(?:#+\s*)?[*_]*(?:来源|出处|参考|引用|参考资料|参考来源|引用来源|references?|sources?|citations?)"
    r"[*_]*\s*[:：]?[*_]*\s*$",
    re.IGNORECASE,
)


def marker_numbers(marker: re.Match) -> list[int]:
    """The passage numbers one marker names, in the order written: [1, 2] → [1, 2], [2-4] → [2, 3, 4]."""
    body = marker.group("square") or marker.group("lenticular") or marker.group("round")
    numbers: list[int] = []
    for part in _MARKER_SEPARATOR.split(body):
        span = _MARKER_RANGE.fullmatch(part)
        if span:
            low, high = int(span.group(1)), int(span.group(2))
            numbers.extend(range(low, high + 1) if 0 <= high - low < _LONGEST_RANGE else (low, high))
        elif part.strip().isdigit():
            numbers.append(int(part))
    return numbers


def cited_numbers(text: str) -> list[int]:
    """Every passage number the text cites, in order of first use, each once."""
    seen: dict[int, None] = {}
    for marker in MARKER.finditer(text):
        for n in marker_numbers(marker):
            seen.setdefault(n, None)
    return list(seen)


def strip_markers(text: str) -> str:
    return MARKER.sub("", text)


def renumber(text: str, keys: Sequence[str]) -> tuple[str, list[int]]:
    """Markers rewritten as [1], [2] … in order of first use, as the passage numbers of `keys` allow.

    keys[i] names what passage i+1 shows (its paragraph id): passages with the same key share one number,
    so two citations never show the same paragraph. Numbers outside 1..len(keys) are dropped.
    Returns the new text and, for each new number, the (1-based) passage number it stands for.
    """
    numbering = Numbering(keys)
    return numbering.rewrite(text), numbering.sources


class Numbering:
    """The numbers of renumber(), kept across the parts of a text that arrives in parts."""

    def __init__(self, keys: Sequence[str]):
        self.keys = keys
        self.sources: list[int] = []  # new number i+1 → the passage number it stands for
        self._number_of_key: dict[str, int] = {}

    def rewrite(self, text: str) -> str:
        def rewrite(marker: re.Match) -> str:
            written: list[int] = []
            for n in marker_numbers(marker):
                if not 1 <= n <= len(self.keys):
                    continue
                key = self.keys[n - 1]
                if key not in self._number_of_key:
                    self._number_of_key[key] = len(self.sources) + 1
                    self.sources.append(n)
                if self._number_of_key[key] not in written:
                    written.append(self._number_of_key[key])
            if not written:
                return ""
            return marker.group("space") + "".join(f"[{n}]" for n in written)

        return _merge_repeated_markers(MARKER.sub(rewrite, text))


def _merge_repeated_markers(text: str) -> str:
    """[1][1] → [1]: what is left when two passages of one paragraph were cited side by side."""
    return re.sub(
        r"((?:\[\d+\])+)", lambda m: "".join(dict.fromkeys(re.findall(r"\[\d+\]", m.group(1)))), text
    )


def clean_reply(reply: str) -> str:
    """The answer part of a model's reply: no <think> block, no list of sources or footnotes at the end."""
    text = visible_reply(reply).strip()
    return without_source_list(text) or text


def visible_reply(reply: str) -> str:
    """A reply, whole or still arriving, without its thinking (a block still open hides the rest)."""
    return _THINKING.sub("", reply).rpartition("</think>")[2].lstrip()  # a template may open the block itself


def is_source_line(line: str) -> bool:
    """A line of the list of sources or footnotes models put after an answer: "[^1]: …", "来源：", "[1] 标题"."""
    line = line.strip()
    bare = strip_markers(line).strip(" -*•·:：,，、.。")
    return bool(_FOOTNOTE_DEFINITION.match(line) or (_LIST_OF_SOURCES.match(line) and bare)
                or _SOURCES_HEADING.match(bare))


def without_source_list(text: str) -> str:
    """The text without the list of sources at its end (empty if it is nothing else), markers alone on
    the last line joined to the text before them, which they cite."""
    lines = text.split("\n")
    while lines:
        last = lines[-1].strip()
        if not last or is_source_line(last):
            lines.pop()
        elif not strip_markers(last).strip(" -*•·:：,，、.。") and len(lines) > 1:
            lines.pop()
            lines[-1] = lines[-1].rstrip() + last
        else:
            break
    return "\n".join(lines).strip()


def preview(partial_reply: str, keys: Sequence[str]) -> str:
    """What a reply still arriving should show: thinking hidden, markers renumbered, no half marker."""
    text = _UNFINISHED_MARKER.sub("", visible_reply(partial_reply))
    return renumber(text, keys)[0]


def checkable_end(partial: str) -> int:
    """How much of a reply still arriving (thinking hidden) is whole sentences, safe to check and show.

    A sentence is whole once a later one has begun: its markers ("…建设。[1]", "…建设。\n[1]") may follow
    its full stop. A line of a source list is held back too, until ordinary text follows it: at the end
    of the reply it is dropped (clean_reply).
    """
    text = _UNFINISHED_MARKER.sub("", partial)
    spans = sentence_spans(text)
    for i in range(len(spans) - 1, 0, -1):
        start, end = spans[i]
        line_end = text.find("\n", end)
        line = text[text.rfind("\n", 0, start) + 1 : len(text) if line_end < 0 else line_end]
        if plain_sentence(text[start:end]) and not is_source_line(line):
            return spans[i - 1][1]
    return 0


# ---------------------------------------------------------------------------------------- sentences

_ENDING = re.compile(
    rf"(?:[{re.escape(TERMINAL_PUNCTUATION)}]+|\.(?=\s|$))[{re.escape(CLOSING_QUOTES)}]*|\n+"
)
_LIST_NUMBER_BEFORE = re.compile(r"(?:^|\n)[ \t]*(?:\d{1,2}|[A-Za-z])$")
_LIST_PREFIX = re.compile(r"^\s*(?:\d{1,2}[.、)）]|[-*•·]|#+)\s*")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of an answer, markers after a full stop kept with its sentence.

    Chinese 。！？；… and English .?! (a full stop only before a space, so 2.7万 stays whole), and line
    breaks. A list number such as "1." at the start of a line does not end a sentence.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for ending in _ENDING.finditer(text):
        if ending.group().startswith(".") and _LIST_NUMBER_BEFORE.search(text, 0, ending.start()):
            continue
        end = ending.end()
        while True:  # "…建设。[1][2]" and "…建设。 [1]": the markers belong to this sentence
            marker = MARKER.match(text, end)
            if not marker:
                break
            end = marker.end()
        if text[start:end].strip():
            spans.append(_trimmed(text, start, end))
        start = end
    if text[start:].strip():
        spans.append(_trimmed(text, start, len(text)))
    return spans


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_answer(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


def plain_sentence(sentence: str) -> str:
    """A sentence as a reader states it: no markers, no list number or bullet in front."""
    return _LIST_PREFIX.sub("", strip_markers(sentence)).strip()


# -------------------------------------------------------------------------------------------- facts

_SCALES = {
    "万亿": 10**12,
    "千亿": 10**11,
    "百亿": 10**10,
    "十亿": 10**9,
    "亿": 10**8,
    "千万": 10**7,
    "百万": 10**6,
    "十万": 10**5,
    "万": 10**4,
    "千": 10**3,
    "trillion": 10**12,
    "billion": 10**9,
    "million": 10**6,
    "thousand": 10**3,
}
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH_NAME = r"(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_CHINESE_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CHINESE_UNITS = {"十": 10, "百": 100, "千": 1000}
_CHINESE_NUMERAL = "零〇一二两三四五六七八九十百千万亿"
# A Chinese numeral counts as a fact only before a measure word: 五个方面, 三项工作, 十三届; not in
# 一是, 一方面, 统一, 两区一园, where it is part of a word.
_MEASURE_WORDS = "个项所家座条届次年月日号位名人户亩元倍种类栋套台吨周天期支处间张辆件场轮季"

_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|percent\b|per cent\b)", re.IGNORECASE)
_CHINESE_PERCENT = re.compile(rf"百分之([{_CHINESE_NUMERAL}点]+)")
_CHINESE_MONTH_DAY = re.compile(r"(\d{1,2})\s*月份?\s*(\d{1,2})\s*[日号]")
_CHINESE_MONTH = re.compile(r"(\d{1,2})\s*月份?")
_CHINESE_DAY = re.compile(r"(\d{1,2})\s*日")
_ENGLISH_DATE = re.compile(
    rf"\b{_MONTH_NAME}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b|\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_NAME}"
    rf"|\b{_MONTH_NAME}(?=\s|$|[,.])",
    re.IGNORECASE,
)
_ARABIC_NUMBER = re.compile(
    r"(\d+(?:\.\d+)?)\s*(万亿|千亿|百亿|十亿|亿|千万|百万|十万|万|千|trillion\b|billion\b|million\b|thousand\b)?",
    re.IGNORECASE,
)
_CHINESE_COUNT = re.compile(rf"[{_CHINESE_NUMERAL}]+(?=[{_MEASURE_WORDS}])")
_THOUSANDS_SEPARATOR = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_QUOTED = re.compile(r"[“‘「『《\"]([^“”‘’「」『』《》\"\n]{1,20})[”’」』》\"]")
_LATIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-+&][A-Za-z0-9]+)*")
_NUMERIC_FACT = re.compile(r"\d+(?:\.\d+)?(?:%|月|日)?")
_BIGRAM_CHARACTER = re.compile(r"[\w\u4e00-\u9fff]")


def _canonical(value: Decimal) -> str:
    value = value.normalize()
    return str(int(value)) if value == value.to_integral_value() else format(value, "f")


def chinese_numeral_value(numeral: str) -> int | None:
    """一百二十八 → 128, 两百亿 → 20000000000, 二〇二四 → 2024; None for what is not a numeral."""
    if numeral and all(ch in _CHINESE_DIGITS for ch in numeral):
        if len(numeral) == 1:
            return _CHINESE_DIGITS[numeral]
        return int("".join(str(_CHINESE_DIGITS[ch]) for ch in numeral))  # a year read digit by digit
    total = section = digit = 0
    for ch in numeral:
        if ch in _CHINESE_DIGITS:
            digit = _CHINESE_DIGITS[ch]
        elif ch in _CHINESE_UNITS:
            section += (digit or 1) * _CHINESE_UNITS[ch]
            digit = 0
        elif ch == "万":
            total += (section + digit) * 10**4
            section = digit = 0
        elif ch == "亿":
            total = (total + section + digit) * 10**8
            section = digit = 0
        else:
            return None
    return total + section + digit


def facts_in(text: str) -> set[str]:
    """The checkable facts a text states, in canonical form.

    Numbers as values ("200亿元", "两百亿元" and "20 billion yuan" all give "20000000000"), percentages
    ("15%"), months and days ("1月", "20日"; years are numbers: "2024"), and, in Chinese text, terms in
    quotes and Latin-script names ("有解思维", "GW"). Citation markers and list numbers are not facts.
    """
    text = unicodedata.normalize("NFKC", strip_markers(text))
    text = "\n".join(_LIST_PREFIX.sub("", line) for line in text.split("\n"))
    text = _THOUSANDS_SEPARATOR.sub("", text)
    facts: set[str] = set()
    chinese = is_chinese(text)
    if chinese:
        for quoted in _QUOTED.finditer(text):
            term = normalise(quoted.group(1)).strip(",，、。.；;:：")
            if term:
                facts.add(term)

    def consume(pattern: re.Pattern, read) -> None:
        nonlocal text
        text = pattern.sub(lambda match: read(match) or " ", text)

    def percent(match: re.Match) -> str:
        facts.add(_canonical(Decimal(match.group(1))) + "%")
        return " "

    def chinese_percent(match: re.Match) -> str:
        whole, _, fraction = match.group(1).partition("点")
        value = chinese_numeral_value(whole)
        if value is not None:
            digits = "".join(str(_CHINESE_DIGITS.get(ch, "")) for ch in fraction)
            facts.add(_canonical(Decimal(f"{value}.{digits}" if digits else value)) + "%")
        return " "

    def chinese_date(match: re.Match) -> str:
        kinds = {_CHINESE_MONTH_DAY: ("月", "日"), _CHINESE_MONTH: ("月",), _CHINESE_DAY: ("日",)}[match.re]
        for number, kind in zip(match.groups(), kinds, strict=True):
            facts.add(f"{int(number)}{kind}")
        return " "

    def english_date(match: re.Match) -> str:
        words = re.findall(r"[A-Za-z]+", match.group())
        month = next((_MONTHS[w.lower()] for w in words if w.lower() in _MONTHS), None)
        day = match.group(1) or match.group(2)
        if month:
            facts.add(f"{month}月")
        if day:
            facts.add(f"{int(day)}日")
        return " "

    def arabic_number(match: re.Match) -> str:
        try:
            value = Decimal(match.group(1))
        except InvalidOperation:
            return " "
        scale = (match.group(2) or "").lower()
        facts.add(_canonical(value * _SCALES.get(scale, 1)))
        return " "

    def chinese_count(match: re.Match) -> str:
        value = chinese_numeral_value(match.group())
        # A lone 一 is an article more than a count (打造一个…); 千家万户 has units but no count.
        numeral = match.group()
        if value and numeral != "一" and any(ch in _CHINESE_DIGITS or ch == "十" for ch in numeral):
            facts.add(str(value))
        return " "

    consume(_PERCENT, percent)
    consume(_CHINESE_PERCENT, chinese_percent)
    for date in (_CHINESE_MONTH_DAY, _CHINESE_MONTH, _CHINESE_DAY):
        consume(date, chinese_date)
    if not chinese:
        consume(_ENGLISH_DATE, english_date)
    consume(_ARABIC_NUMBER, arabic_number)
    consume(_CHINESE_COUNT, chinese_count)
    if chinese:
        facts.update(name.lower() for name in _LATIN_NAME.findall(text) if len(name) > 1)
    return facts


def is_numeric_fact(fact: str) -> bool:
    return bool(_NUMERIC_FACT.fullmatch(fact))


def entities_in(text: str, entities: Iterable[str]) -> set[str]:
    """Which of the known names occur in the text (case and spaces aside: "Zhang San", "zhang san"),
    a longer name hiding the shorter ones inside it."""
    found: set[str] = set()
    remaining = normalise(text)
    for entity in sorted(
        {e for e in entities if e and normalise(e)}, key=lambda e: len(normalise(e)), reverse=True
    ):
        if normalise(entity) in remaining:
            found.add(entity)
            remaining = remaining.replace(normalise(entity), "\x00")
    return found


def fact_holds(fact: str, source: str, source_facts: set[str] | None = None) -> bool:
    """Whether the source text states the fact: numbers by value, terms and names as written."""
    if is_numeric_fact(fact):
        return fact in (source_facts if source_facts is not None else facts_in(source))
    return normalise(fact) in normalise(source)


def missing_facts(sentence: str, sources: Iterable[str], entities: Iterable[str] = ()) -> set[str]:
    """The facts (and known names) of the sentence that none of the sources states.

    Wherever a number came from, the question included, a sentence shown with a citation must find it in
    what it cites: a reader takes a cited number for the source's, and a question can state a wrong one
    ("…150个区级重点项目吗？" of a paragraph that says 128).
    """
    sources = [source for source in sources if source]
    wanted = facts_in(sentence) | entities_in(strip_markers(sentence), entities)
    source_facts = [facts_in(source) for source in sources]
    return {
        fact
        for fact in wanted
        if not any(fact_holds(fact, source, facts) for source, facts in zip(sources, source_facts, strict=False))
    }


def words_found(sentence: str, sources: Iterable[str]) -> float:
    """Share of a Chinese sentence's content words (jieba tokens of two characters or more, no stopwords,
    no numbers: facts_in checks those by value) that the sources hold; 1.0 when it has none."""
    words = {word for word in content_tokens(strip_markers(sentence))
             if len(word) > 1 and not any(ch.isdigit() or ch in _CHINESE_NUMERAL for ch in word)}
    if not words:
        return 1.0
    held = normalise("\n".join(sources))
    return sum(1 for word in words if normalise(word) in held) / len(words)


def overlap(sentence: str, source: str) -> float:
    """Share of the sentence's character pairs (letters, digits, 汉字) that the source also has."""
    wanted = _bigrams(strip_markers(sentence))
    if not wanted:
        return 0.0
    return len(wanted & _bigrams(source)) / len(wanted)


def _bigrams(text: str) -> set[str]:
    characters = "".join(_BIGRAM_CHARACTER.findall(normalise(text)))
    return {characters[i : i + 2] for i in range(len(characters) - 1)}


def unsupported_sentences(
    answer_text: str, cited_texts_by_marker: Mapping[int, str], entities: Iterable[str] = ()
) -> list[str]:
    """The sentences (without markers) with a fact that none of the paragraphs they cite states.

    Only sentences with markers are checked; `cited_texts_by_marker` maps a marker number to the text
    of what it cites (paragraph, with its article's title and names). A marker with no text supports
    nothing.
    """
    unsupported = []
    for sentence in split_answer(answer_text):
        numbers = cited_numbers(sentence)
        if not numbers:
            continue
        sources = [cited_texts_by_marker.get(n, "") for n in numbers]
        if missing_facts(sentence, sources, entities) or not any(sources):
            unsupported.append(plain_sentence(sentence))
    return unsupported


def supporting_sentences(claims: Sequence[str], paragraph: str) -> str:
    """The sentence(s) of the paragraph that back the claims: those sharing their facts, else the closest.

    For each claim the paragraph sentence with the most shared facts (then the most shared characters) is
    taken, plus any other sentence that holds a fact of the claim not yet covered. In paragraph order.
    """
    sentences = split_sentences(paragraph) or [paragraph]
    sentence_facts = [facts_in(s) for s in sentences]
    chosen: set[int] = set()
    for claim in claims:
        wanted = facts_in(claim)
        scores = [
            (sum(1 for fact in wanted if fact_holds(fact, sentence, facts)), overlap(claim, sentence))
            for sentence, facts in zip(sentences, sentence_facts, strict=False)
        ]
        best = max(range(len(sentences)), key=scores.__getitem__)
        chosen.add(best)
        uncovered = {fact for fact in wanted if not fact_holds(fact, sentences[best], sentence_facts[best])}
        for i, sentence in enumerate(sentences):
            held = {fact for fact in uncovered if fact_holds(fact, sentence, sentence_facts[i])}
            if held:
                chosen.add(i)
                uncovered -= held
    return "".join(sentences[i] for i in sorted(chosen))


# ------------------------------------------------------------------------------------ checked reply

# How much of a sentence must come from a passage for it to count as taken from it: to give a sentence
# that cites nothing its source, and to tell a reply that used the passages from one that did not.
ATTRIBUTION_OVERLAP = 0.4
CONTENT_OVERLAP = 0.35
# A sentence with checkable facts may be worded more freely than one without.
ATTRIBUTION_OVERLAP_WITH_FACTS = 0.2
# A cited Chinese sentence must find at least this share of its content words in what it cites: a claim
# with no number or name ("系统已被攻破") is otherwise vouched for by any paragraph its marker names.
CONTENT_WORDS_FOUND = 0.5


@dataclass
class CheckedReply:
    """A model's reply after checking: text with markers [1].. and what each marker stands for."""

    text: str
    sources: list[int] = field(default_factory=list)  # new marker i+1 → the passage number it cites
    claims: dict[int, list[str]] = field(default_factory=dict)  # new marker → the sentences citing it
    unsupported: list[str] = field(default_factory=list)
    key_claim_unsupported: bool = False  # the first sentence that states something is unsupported
    uses_passages: bool = False  # some sentence is cited and holds, or plainly comes from a passage


def check_reply(
    reply: str,
    passage_texts: Sequence[str],
    keys: Sequence[str],
    entities: Iterable[str] = (),
) -> CheckedReply:
    """Check every sentence of a reply against the passages it cites, and renumber what holds.

    passage_texts[i] is what passage i+1 says (paragraph with title and names); keys[i] its paragraph id.
    A sentence that cites no passage in range is given the one passage that holds all its facts and
    most of its words, if there is one. A sentence with a fact that none of its passages states is
    unsupported: its markers are removed, so it is never shown as sourced. The markers left are
    renumbered in order of first use.
    """
    check = ReplyCheck(passage_texts, keys, entities)
    check.add(clean_reply(reply))
    return check.result()


class ReplyCheck:
    """check_reply() over a reply that arrives in parts of whole sentences: each part is checked (and its
    markers numbered) once, as it comes, and the parts joined are what check_reply gives for the whole."""

    def __init__(self, passage_texts: Sequence[str], keys: Sequence[str], entities: Iterable[str] = ()):
        self.passage_texts = passage_texts
        self.entities = list(entities)
        self.numbering = Numbering(keys)
        self.text = ""
        self.unsupported: list[str] = []
        self.key_claim_unsupported: bool | None = None  # None until a sentence states something
        self.uses_passages = False

    def _missing(self, sentence: str, passage_indexes: Iterable[int]) -> set[str]:
        return missing_facts(sentence, [self.passage_texts[i] for i in passage_indexes], self.entities)

    def _says_it(self, plain: str, cited: list[int]) -> bool:
        """Whether what a cited sentence says, beyond its facts, is in the passages it cites."""
        if not is_chinese(plain):
            return True  # an English answer over Chinese passages shares its facts with them, not its words
        return words_found(plain, [self.passage_texts[i] for i in cited]) >= CONTENT_WORDS_FOUND

    def add(self, part: str) -> str:
        """Check whole sentences that follow the text so far; returns them as they are to be shown."""
        passage_texts, entities, missing = self.passage_texts, self.entities, self._missing
        text = part
        edits: list[tuple[int, int, str]] = []  # (start, end, replacement) over `text`
        for start, end in sentence_spans(text):
            plain = plain_sentence(text[start:end])
            if not plain:
                continue
            cited = [n - 1 for n in cited_numbers(text[start:end]) if 1 <= n <= len(passage_texts)]
            facts = facts_in(plain) | entities_in(plain, entities)
            closeness = [overlap(plain, p) for p in passage_texts]
            if not cited:
                source = _source_of_uncited(plain, facts, closeness, missing)
                if source is not None:
                    cited = [source]
                    edits.append(_marker_insertion(text, start, end, source + 1))
                elif facts and missing(plain, range(len(passage_texts))) - set(entities):
                    supported = False  # a number or term that no passage states, and no marker
                else:
                    self.uses_passages = self.uses_passages or max(closeness, default=0.0) >= CONTENT_OVERLAP
                    continue  # connecting prose: nothing to check, nothing to cite
            if cited:
                supported = not missing(plain, cited) and self._says_it(plain, cited)
            if supported:
                vouching = {i + 1 for i in _vouching(facts, cited, closeness, passage_texts)}
                edits.extend(_bystanders_dropped(text, start, end, vouching, passage_texts, entities))
                self.uses_passages = self.uses_passages or bool(
                    facts
                    or max(closeness[i] for i in cited) >= ATTRIBUTION_OVERLAP_WITH_FACTS
                    or not is_chinese(plain)
                )
            else:
                self.unsupported.append(plain)
                # wrong, but about the passages: some of its facts or much of its wording is theirs
                self.uses_passages = (
                    self.uses_passages
                    or max(closeness, default=0.0) >= CONTENT_OVERLAP
                    or facts != missing(plain, range(len(passage_texts)))
                )
                edits.extend((m.start(), m.end(), "") for m in MARKER.finditer(text, start, end))
            if self.key_claim_unsupported is None:
                self.key_claim_unsupported = not supported

        for edit_start, edit_end, replacement in sorted(edits, reverse=True):
            text = text[:edit_start] + replacement + text[edit_end:]
        text = self.numbering.rewrite(text)
        self.text += text
        return text

    def result(self) -> CheckedReply:
        claims: dict[int, list[str]] = {}
        for sentence in split_answer(self.text):
            for n in dict.fromkeys(int(m) for m in re.findall(r"\[(\d+)\]", sentence)):
                claims.setdefault(n, []).append(plain_sentence(sentence))
        return CheckedReply(self.text.strip(), list(self.numbering.sources), claims, list(self.unsupported),
                            bool(self.key_claim_unsupported), self.uses_passages)


def _vouching(
    facts: set[str],
    cited: list[int],
    closeness: list[float],
    passage_texts: Sequence[str],
) -> list[int]:
    """The cited passages that say part of what the sentence says: one with none of its facts (or, for a
    sentence without facts, little of its wording) is dropped, so no citation shows a bystander."""
    if facts:
        return [i for i in cited if any(fact_holds(fact, passage_texts[i]) for fact in facts)]
    close = [i for i in cited if closeness[i] >= ATTRIBUTION_OVERLAP_WITH_FACTS]
    return close or cited


def _bystanders_dropped(
    text: str,
    start: int,
    end: int,
    vouching: set[int],
    passage_texts: Sequence[str],
    entities: list[str],
) -> list[tuple[int, int, str]]:
    """Edits that leave each marker of a sentence citing only passages that say part of it.

    A marker inside a sentence vouches for the clause before it: it keeps the passages that state a fact
    of that clause, or else those (`vouching`) that state one of the sentence's.
    """
    edits = []
    clause_start = start
    for marker in MARKER.finditer(text, start, end):
        clause = text[clause_start : marker.start()]
        clause_facts = facts_in(clause) | entities_in(clause, entities)
        holding = {
            n
            for n in marker_numbers(marker)
            if 1 <= n <= len(passage_texts) and any(fact_holds(f, passage_texts[n - 1]) for f in clause_facts)
        }
        kept = _marker_keeping(marker, holding or vouching)
        if kept != marker.group():
            edits.append((marker.start(), marker.end(), kept))
        clause_start = marker.end()
    return edits


def _marker_keeping(marker: re.Match, keep: set[int]) -> str:
    numbers = [n for n in marker_numbers(marker) if n in keep]
    return marker.group("space") + "".join(f"[{n}]" for n in numbers) if numbers else ""


def _source_of_uncited(plain: str, facts: set[str], closeness: list[float], missing) -> int | None:
    """The passage a sentence without markers comes from: it states all the sentence's facts and most of
    its words (for a sentence in another language than the passages, its facts must do)."""
    holding = [i for i in range(len(closeness)) if not missing(plain, [i])]
    best = max(holding, key=lambda i: closeness[i], default=None)
    if best is None:
        return None
    if closeness[best] >= ATTRIBUTION_OVERLAP:
        return best
    if facts and (closeness[best] >= ATTRIBUTION_OVERLAP_WITH_FACTS or not is_chinese(plain)):
        return best
    return None


def _marker_insertion(text: str, start: int, end: int, number: int) -> tuple[int, int, str]:
    """A marker for a sentence, placed before its full stop and closing quotes (…建设[1]。)."""
    position = end
    while position > start and text[position - 1] in TERMINAL_PUNCTUATION + CLOSING_QUOTES + ".":
        position -= 1
    space = " " if position and text[position - 1].isascii() and text[position - 1].isalnum() else ""
    return position, position, f"{space}[{number}]"
