"""The name index: people, places, organisations and titles found in the documents, with their aliases (pinyin,
common abbreviations), matched on token boundaries by one Aho-Corasick automaton, so a question costs the same
whatever the number of articles."""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ahocorasick
import jieba
import jieba.posseg as posseg
import orjson

from .text import NAME_ABBREVIATIONS, lazy_pinyin, simplified

NAMES_FILE = "names.json"
PERSON, PLACE, ORGANISATION, TITLE, METADATA = "person", "place", "organisation", "title", "metadata"
_TAG_KINDS = {"nr": PERSON, "nrfg": PERSON, "nrt": PERSON, "ns": PLACE, "nsf": PLACE, "nt": ORGANISATION}
# Metadata keys of a layout whose values are people or places.
_METADATA_KINDS = {"interviewee": PERSON, "reporter": PERSON, "author": PERSON, "person": PERSON,
                   "district": PLACE, "place": PLACE, "location": PLACE, "organisation": ORGANISATION,
                   "organization": ORGANISATION, "company": ORGANISATION}
_PLACE_SUFFIX = re.compile(r"(新区|开发区|自治区|自治州|自治县|特别行政区|区|旗|县|市|省|州|镇|乡|村)$")
_ENGLISH_SUFFIX = {"区": "district", "县": "county", "市": "city", "省": "province", "旗": "banner"}
# Metadata that says how a file was read, not what it is about.
_NOT_NAMES = {"layout", "header_lines", "format", "source", "encoding", "date", "language", "subtitle"}
# A name mentioned in more articles than this is not a sign of which article a question is about.
MAX_ARTICLES_PER_MENTION = 3


@dataclass(frozen=True)
class Mention:
    text: str  # as it stands in the searched text
    canonical: str  # the name as the documents write it
    kind: str  # person, place, organisation, title or metadata
    article_ids: tuple[str, ...]  # the articles the name is about (title, heading, metadata) or the few naming it
    start: int = 0
    end: int = 0
    about: bool = False  # the articles are ones it is about (title, heading, metadata), not ones naming it


def _key(text: str) -> str:
    """The form names are matched in: NFKC, lower case, Simplified characters, one space between words."""
    return re.sub(r"\s+", " ", simplified(unicodedata.normalize("NFKC", text).lower())).strip()


@lru_cache(maxsize=65536)
def pinyin_spellings(name: str, kind: str) -> tuple[str, ...]:
    """How English text spells a Chinese name: 张三丰 → "zhang sanfeng"; 东城区 → "dongcheng", "dongcheng district"."""
    if not re.fullmatch(r"[\u4e00-\u9fff]{2,8}", name):
        return ()
    if kind == PERSON and len(name) <= 4:
        syllables = lazy_pinyin(name)
        return (f"{syllables[0]} {''.join(syllables[1:])}", "".join(syllables))
    if kind == PLACE:
        suffix = _PLACE_SUFFIX.search(name)
        core = name[: suffix.start()] if suffix and len(name) > 2 else name
        if not 2 <= len(core) <= 4:
            return ()
        spelled = "".join(lazy_pinyin(core))
        english = _ENGLISH_SUFFIX.get(suffix.group() if suffix else "", "")
        return (spelled, f"{spelled} {english}") if english else (spelled,)
    return ()


def aliases(name: str, kind: str) -> list[str]:
    """The name itself, its usual short forms and its pinyin spellings."""
    found = [name]
    bare = re.sub(r"[（(][^）)]*[）)]$", "", name).strip()  # a title's "(disambiguation)"
    if bare and bare != name:
        found.append(bare)
    for long, short in NAME_ABBREVIATIONS:
        if long in name:
            shortened = [name.replace(long, short)]
            if name.endswith(long) and kind in (PLACE, ORGANISATION, METADATA):
                shortened.append(short)  # "X经济技术开发区" is "经开区" to the people who work there
            found += [a for a in shortened if len(a) >= 3]  # never a bare "公司" or "政府"
    if kind == PERSON and "·" in name:  # a transliterated name is often cited by its last part
        last = name.rsplit("·", 1)[-1]
        if len(last) >= 2:
            found.append(last)
    found += pinyin_spellings(name, kind)
    return list(dict.fromkeys(a for a in found if len(a) >= 2))


class NameIndex:
    """Alias → (canonical name, kind, the articles it is about, the articles that mention it)."""

    def __init__(self, entries: dict[str, tuple[str, str, list[str], list[str]]]):
        self.entries = entries
        self._automaton = ahocorasick.Automaton()
        for alias in entries:
            self._automaton.add_word(alias, alias)
        if entries:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return len(self.entries)

    # --- building ------------------------------------------------------------------------------------
    @classmethod
    def build(cls, articles: Iterable, paragraphs: Iterable, tag=None) -> NameIndex:
        """From the documents: titles, section headings and layout metadata name what an article is about;
        jieba's nr/ns/nt tags find the people, places and organisations its text mentions. `tag` replaces
        tagged_names (the index passes one that reuses the tags of unchanged paragraphs)."""
        return cls.from_found([names_found(articles, paragraphs, tag)])

    @classmethod
    def from_found(cls, found: Iterable[dict], alias_keys=None) -> NameIndex:
        """From what names_found gave for each document, in corpus order (the same index as one build over
        the whole corpus). `alias_keys(name, kind)` replaces the matching forms of a name's aliases (the
        index passes one that reuses those of names it held before)."""
        alias_keys = alias_keys or matching_aliases
        found = list(found)
        about: dict[tuple[str, str], set[str]] = defaultdict(set)
        mentioned: dict[tuple[str, str], set[str]] = defaultdict(set)
        # The order one build over the corpus meets them in: every article's own names, then every heading's.
        for part, target in (("articles", about), ("headings", about), ("mentioned", mentioned)):
            for document in found:
                for name, kind, article_id in document[part]:
                    target[(name, kind)].add(article_id)
        entries: dict[str, tuple[str, str, list[str], list[str]]] = {}
        members: dict[tuple[str, bool], set[str]] = {}
        # Names an article is about first: an alias keeps its first owner's canonical form and kind.
        for is_about, names in ((True, about), (False, mentioned)):
            for (name, kind), ids in names.items():
                for alias in alias_keys(name, kind):
                    entry = entries.setdefault(alias, (name, kind, [], []))
                    target = entry[2] if is_about else entry[3]
                    seen = members.setdefault((alias, is_about), set())
                    for article_id in sorted(ids):
                        if article_id not in seen:
                            seen.add(article_id)
                            target.append(article_id)
        return cls(entries)

    # --- storing -------------------------------------------------------------------------------------
    def save(self, folder: Path | str) -> Path:
        path = Path(folder) / NAMES_FILE
        path.write_bytes(orjson.dumps(self.entries))  # read back by json too; orjson writes it 5x faster
        return path

    @classmethod
    def load(cls, folder: Path | str) -> NameIndex:
        data = json.loads((Path(folder) / NAMES_FILE).read_text(encoding="utf-8"))
        return cls({alias: (v[0], v[1], list(v[2]), list(v[3])) for alias, v in data.items()})

    # --- finding -------------------------------------------------------------------------------------
    def find(self, text: str) -> list[Mention]:
        """The names in the text, longest first where they overlap, each starting and ending on a token
        boundary (a word boundary in English), in the order they occur."""
        if not self.entries or not text:
            return []
        key = _key(text)
        boundaries = _token_boundaries(key)
        candidates = []
        for end, alias in self._automaton.iter(key):
            start = end - len(alias) + 1
            if start in boundaries and end + 1 in boundaries:
                candidates.append((start, end + 1, alias))
        candidates.sort(key=lambda c: (-(c[1] - c[0]), c[0]))
        taken: list[tuple[int, int]] = []
        mentions = []
        for start, end, alias in candidates:
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            name, kind, about, mentioned = self.entries[alias]
            ids = about or (mentioned if len(mentioned) <= MAX_ARTICLES_PER_MENTION else [])
            mentions.append(Mention(key[start:end], name, kind, tuple(ids), start, end, bool(about)))
        return sorted(mentions, key=lambda m: m.start)

    def articles_named(self, text: str) -> set[str]:
        """The articles the text names (by title, metadata or a rare name)."""
        return {article_id for mention in self.find(text) for article_id in mention.article_ids}


_build_lock = threading.Lock()


def names_of(index) -> NameIndex:
    """The loaded index's name index: the one built with it, or, for an index written before there was
    one, built from its articles and paragraphs once and kept on it."""
    with _build_lock:
        names = getattr(index, "names", None)
        if names is None:
            names = NameIndex.build(index.articles.values(), index.paragraphs.values())
            index.names = names
        return names


def names_found(articles: Iterable, paragraphs: Iterable, tag=None) -> dict[str, list[tuple[str, str, str]]]:
    """The (name, kind, article id) triples of some documents, in the order they occur: the names each
    article is about by its title and metadata ("articles") and by its headings ("headings"), and the names its
    text mentions ("mentioned"). An index keeps them per file, so an update looks again only at changed files."""
    tag = tag or tagged_names
    found: dict[str, dict[tuple[str, str, str], None]] = {"articles": {}, "headings": {}, "mentioned": {}}
    # Names are kept in Simplified characters, as the answerer reads questions and passages.
    for article in articles:
        if article.title:
            found["articles"][(simplified(article.title.strip()), TITLE, article.id)] = None
            for word, kind in tag(article.title):
                found["articles"][(word, kind, article.id)] = None
        for key, value in _metadata(article).items():
            if key not in _NOT_NAMES and isinstance(value, str) and 2 <= len(value.strip()) <= 40:
                found["articles"][(simplified(value.strip()), _METADATA_KINDS.get(key, METADATA), article.id)] = None
    seen_headings = set()
    for paragraph in paragraphs:
        for heading in _sections(paragraph):
            if (paragraph.article_id, heading) not in seen_headings:
                seen_headings.add((paragraph.article_id, heading))
                for word, kind in tag(heading):
                    found["headings"][(word, kind, paragraph.article_id)] = None
        for word, kind in tag(paragraph.text, guess_unknown=False):
            found["mentioned"][(word, kind, paragraph.article_id)] = None
    return {part: list(triples) for part, triples in found.items()}


def matching_aliases(name: str, kind: str) -> list[str]:
    """A name's aliases in the form they are matched in (see _key), each once, in order."""
    return list(dict.fromkeys(_key(alias) for alias in aliases(name, kind)))


def _metadata(article) -> dict:
    metadata = dict(getattr(article, "metadata", None) or {})
    for key in ("interviewee", "reporter", "district"):
        value = getattr(article, key, "")
        if value and key not in metadata:
            metadata[key] = value
    return metadata


def _sections(paragraph) -> tuple[str, ...]:
    section = getattr(paragraph, "section", ()) or ()
    return (section,) if isinstance(section, str) else tuple(section)


def tagged_names(text: str, guess_unknown: bool = True) -> list[tuple[str, str]]:
    """People, places and organisations jieba tags in the text (two characters or more); guessing words
    outside its dictionary (HMM) costs four times as much, so body text goes without it. Tagged and given in
    Simplified characters: jieba's dictionary knows few Traditional words."""
    return [(pair.word, _TAG_KINDS[pair.flag]) for pair in posseg.lcut(simplified(text), HMM=guess_unknown)
            if pair.flag in _TAG_KINDS and len(pair.word) >= 2 and not pair.word.isascii()]


def _token_boundaries(text: str) -> set[int]:
    """Offsets where a token starts or ends: jieba's for Chinese, word edges for Latin letters and digits."""
    boundaries = {0, len(text)}
    for _word, start, end in jieba.tokenize(text):
        boundaries.update((start, end))
    # Inside a run of ASCII letters or digits, only the run's edges count ("lian" is not in "alliance").
    for position in range(1, len(text)):
        before, after = text[position - 1], text[position]
        if before.isascii() and after.isascii() and before.isalnum() and after.isalnum():
            boundaries.discard(position)
    return boundaries
