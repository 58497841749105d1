"""Chinese text helpers: normalisation (scripts included), sentence splitting, jieba tokens for BM25 and overlap
scoring."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from functools import lru_cache

import jieba
import opencc

jieba.setLogLevel(logging.WARNING)

TERMINAL_PUNCTUATION = "。！？；…!?;"
CLOSING_QUOTES = "”’」』\"')）"
_QUOTE_MARKS = "“”‘’\"'「」『』"
_SENTENCE = re.compile(rf"[^{TERMINAL_PUNCTUATION}]+(?:[{TERMINAL_PUNCTUATION}]+[{CLOSING_QUOTES}]*|$)")
_WORD = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)
_SPACES_AND_QUOTES = re.compile(rf"[\s{re.escape(_QUOTE_MARKS)}]+")  # \s is str.isspace() for str patterns
# Official long forms and the short forms people say (a rule on the form of a name, not a list of names): a
# development zone's, which a place is called by on its own, then an organisation's.
ZONE_ABBREVIATIONS = (("经济技术开发区", "经开区"), ("高新技术产业开发区", "高新区"), ("高新技术开发区", "高新区"))
NAME_ABBREVIATIONS = (*ZONE_ABBREVIATIONS, ("人民政府", "政府"), ("有限责任公司", "公司"), ("股份有限公司", "公司"),
                      ("有限公司", "公司"))

# Function words and question words: they match everywhere (or nowhere) and only add noise to
# keyword scores and to the "does the text say this" check.
STOPWORDS = frozenset(
    """的 了 和 与 及 是 在 将 把 被 对 为 以 于 从 向 等 也 都 而 并 或 其 之 这 那 这个 那个 这些 那些 有 个
    吗 呢 吧 啊 么 什么 多少 几 几个 哪 哪些 哪个 哪里 哪儿 谁 怎么 怎样 如何 为何 为什么 是否 有没有 是不是
    请问 请 一下 我 我们 你 你们 他 她 它 他们 今年 今年度 明年 该 此 本 各 区 方面 问题 计划 打算 准备 要 会 能
    主要 具体 分别 一共 总共 共 多 哪一 告诉 介绍 说 提到 提出 表示 文中 文章 报道 采访 中 里 上 下 吗？
    the a an of to in on for and or is are was were be been what which who whom how many much does do did
    will would this that these those it its their there with by at from as about tell me please""".split()
)



class _CharacterTable(dict):
    """A str.translate table filled at each character's first use: its OpenCC conversion when that is one
    character, else the character itself, so a converted text keeps every offset of the original."""

    def __init__(self, config: str):
        super().__init__()
        self._converter = opencc.OpenCC(config)
        self._lock = threading.Lock()  # one converter, shared by the threads of the page and the API

    def __missing__(self, code: int) -> str:
        character = chr(code)
        if code < 0x2E80:  # below the CJK blocks nothing changes script
            converted = character
        else:
            with self._lock:
                converted = self._converter.convert(character)
        value = converted if len(converted) == 1 else character
        self[code] = value
        return value


_TO_SIMPLIFIED = _CharacterTable("t2s")
_TO_TRADITIONAL = _CharacterTable("s2t")
# Whole messages (no offsets to keep) read as Traditional readers write them: 文档 is 文件, 软件 is 軟體.
_MESSAGES_TO_TRADITIONAL = opencc.OpenCC("s2twp")
_MESSAGE_LOCK = threading.Lock()


def simplified(text: str) -> str:
    """The text in Simplified characters, converted character by character: the same length, and an offset in
    it is the same offset in the original (slice the original to show the document's own characters). What
    tokens, tags, names and question patterns read, whichever script a document or question is written in."""
    return text.translate(_TO_SIMPLIFIED)


def is_traditional(text: str) -> bool:
    """Written in Traditional characters: more of its characters change when made Simplified than when made
    Traditional (a Simplified text may hold a character both scripts share a form with, such as 乾)."""
    to_simplified = sum(1 for a, b in zip(text, simplified(text), strict=True) if a != b)
    to_traditional = sum(1 for a, b in zip(text, text.translate(_TO_TRADITIONAL), strict=True) if a != b)
    return to_simplified > to_traditional


def in_script(message: str, traditional: bool) -> str:
    """A message written in Simplified characters, in Traditional ones (and Taiwan's usage) when asked."""
    if not traditional:
        return message
    with _MESSAGE_LOCK:
        return _MESSAGES_TO_TRADITIONAL.convert(message)


_UNPRINTABLE = frozenset(("Cc", "Cf", "Zl", "Zp"))


def printable(text: str, keep: str = "") -> str:
    """Text fit for a terminal or a log line: control and format characters (an ESC that starts a terminal
    sequence, a BEL, a right-to-left override, a line break inside a file name) written as escapes, "\\x1b",
    except those in `keep`."""
    if text.isprintable() and not any(c in text for c in "\u2028\u2029"):
        return text
    return "".join(c.encode("unicode_escape").decode("ascii")
                   if c not in keep and unicodedata.category(c) in _UNPRINTABLE else c for c in text)


def load_dictionary() -> None:
    """jieba's dictionary, read at the first cut otherwise (most of a second): a server reads it before the
    first question comes."""
    jieba.initialize()


def lazy_pinyin(text: str) -> list[str]:
    """pypinyin's reading of each character, pypinyin imported at the first call: its tables take half a
    second to import, which most questions never need."""
    from pypinyin import lazy_pinyin as read

    return read(text)


def normalise(text: str) -> str:
    """NFKC, no whitespace, no quote marks, lowercase: the form used to compare texts."""
    # One regex pass, not a Python loop over characters: ids of a 20 MB file hash every character.
    return _SPACES_AND_QUOTES.sub("", unicodedata.normalize("NFKC", text)).lower()


def stable_id(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def split_sentences(text: str) -> list[str]:
    """Split on 。！？；… keeping closing quotes with their sentence (”。 and 。” both stay whole)."""
    sentences = []
    for match in _SENTENCE.finditer(text):
        sentence = match.group().strip()
        if not sentence:
            continue
        # A lone closing quote or bracket belongs to the sentence before it.
        if sentences and all(ch in CLOSING_QUOTES for ch in sentence):
            sentences[-1] += sentence
        else:
            sentences.append(sentence)
    return sentences


def ends_a_paragraph(text: str) -> bool:
    stripped = text.rstrip()
    while stripped and stripped[-1] in CLOSING_QUOTES:
        stripped = stripped[:-1]
    return bool(stripped) and stripped[-1] in TERMINAL_PUNCTUATION


@lru_cache(maxsize=4096)
def _tokens_cached(text: str) -> tuple[str, ...]:
    text = simplified(unicodedata.normalize("NFKC", text).lower())
    return tuple(token for token in jieba.lcut_for_search(text) if _WORD.search(token))


def tokens(text: str) -> list[str]:
    """jieba search-mode tokens (words and their sub-words), lowercased, in Simplified characters, punctuation
    dropped."""
    return list(_tokens_cached(text))


def content_tokens(text: str) -> list[str]:
    """Tokens that carry meaning: no stopwords; single characters only when they are digits or Latin."""
    return [t for t in tokens(text) if t not in STOPWORDS]


def is_chinese(text: str) -> bool:
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return han >= latin / 4 if latin else True


# Where a sentence may end, for cutting: end punctuation (with closing quotes) or a line break.
_SENTENCE_END = re.compile(rf"[{TERMINAL_PUNCTUATION}]+[{CLOSING_QUOTES}]*|\n")
# Where an over-long sentence is best cut when it must be: after a comma or a space.
_SOFT_BREAKS = "，,、：:）) "


def split_bounded(text: str, max_chars: int) -> list[str]:
    """Cut text into pieces of at most max_chars: whole sentences grouped while they fit, a longer sentence
    cut after a comma or space near the cap, else at the cap. Linear in the length of the text; joined
    back the pieces give the text again (only whitespace at the cuts is lost)."""
    max_chars = max(max_chars, 1)
    if len(text) <= max_chars:
        return [text]
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    if not ends or ends[-1] != len(text):
        ends.append(len(text))
    pieces: list[str] = []
    start = 0  # start of the piece being grouped
    last_end = 0  # last sentence end inside it
    for end in ends:
        if end - start <= max_chars:
            last_end = end
            continue
        if last_end > start:  # close the group before this sentence
            pieces.append(text[start:last_end])
            start = last_end
        while end - start > max_chars:  # one sentence longer than the cap
            window = text[start : start + max_chars]
            cut = max(window.rfind(mark) for mark in _SOFT_BREAKS) + 1
            if cut < max_chars * 0.8:
                cut = max_chars
            pieces.append(text[start : start + cut])
            start += cut
        last_end = end
    if start < len(text):
        pieces.append(text[start:])
    return [piece.strip() for piece in pieces if piece.strip()]


_DATE = re.compile(
    r"(?P<year>(?:19|20)\d{2})\s*(?:年\s*(?P<cn_month>\d{1,2})\s*月(?:\s*(?P<cn_day>\d{1,2})\s*日)?"
    r"|[-/.](?P<month>\d{1,2})(?:[-/.](?P<day>\d{1,2}))?)"
)


def find_date(text: str) -> str:
    """The first date the text states, ISO-like: "2024年3月5日" → "2024-03-05", "2024/3" → "2024-03"."""
    match = _DATE.search(text)
    if not match:
        return ""
    month = match.group("cn_month") or match.group("month")
    day = match.group("cn_day") or match.group("day")
    if not 1 <= int(month) <= 12 or (day and not 1 <= int(day) <= 31):
        return ""
    return "-".join([match.group("year"), f"{int(month):02d}", *([f"{int(day):02d}"] if day else [])])
