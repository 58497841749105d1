"""Files → documents: decoding, choosing a layout, numbering bounded paragraphs, chunks and their context."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from charset_normalizer import from_bytes

from .layouts import BINARY_SUFFIXES, LAYOUTS, TEXT_SUFFIXES, Block, ParsedArticle, detect
from .layouts.base import FileTooLarge, UnreadableFile, check_expansion
from .layouts.repair import repair
from .text import ZONE_ABBREVIATIONS, lazy_pinyin, normalise, printable, split_bounded, split_sentences, stable_id
from .types import SECTION_SEPARATOR, Article, Paragraph

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = TEXT_SUFFIXES + BINARY_SUFFIXES
# A long paragraph is embedded in sub-chunks of about this many characters (whole sentences): the
# embedding model reads at most 512 tokens, and a smaller chunk matches a question more sharply.
CHUNK_CHARS = 180
# The citable unit's upper size (Settings.max_paragraph_chars): a citation never shows more than this.
MAX_PARAGRAPH_CHARS = 1500
MIN_PARAGRAPH_CAP = 20  # a smaller bound would cut words apart
# UTF-8 with at most this share of invalid bytes is still UTF-8: the bad bytes are replaced, not the file lost.
MAX_INVALID_SHARE = 0.01
# Metadata that is bookkeeping, not words a question may use.
_NOT_CONTEXT = {"layout", "header_lines", "byline", "subtitle", "page_title", "description"}
MAX_CONTEXT_VALUE_CHARS = 40
# Raise it whenever a layout, the repairs or the numbering change what a file parses to: an index remembers
# the version its documents were parsed with, and an update re-parses only files whose bytes changed.
PARSER_VERSION = 2
# What one file may cost to read (Settings.max_expanded_bytes, Settings.max_paragraphs_per_file): a small
# upload must not hold a parse of minutes and an index of hundreds of MB.
MAX_EXPANDED_BYTES = 50 * 1024 * 1024
MAX_PARAGRAPHS_PER_FILE = 20_000


@dataclass(frozen=True)
class Chunk:
    """What gets embedded and keyword-indexed: part of one paragraph, with its article's context."""

    id: str
    paragraph_id: str
    text: str


@dataclass
class Document:
    """One file of the corpus, parsed."""

    source: str
    sha256: str
    articles: list[Article]
    paragraphs: list[Paragraph]
    layout: str = ""
    notes: tuple[str, ...] = ()  # what reading it repaired (e.g. replaced bytes), reported with every build
    found: tuple[str, ...] = ()  # what its layout found in it ("4 pages", "1 table (3 rows)"), for the report


# --- reading files ------------------------------------------------------------------------------------
def decode_text(data: bytes) -> tuple[str, int]:
    """The text and how many invalid bytes were replaced: UTF-8 (a few bad bytes replaced), then the best
    guess among Chinese legacy encodings and UTF-16."""
    if b"\x00" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = bomless_utf16(data)
        if text is not None:
            return text, 0
    try:
        return data.decode("utf-8-sig"), 0
    except UnicodeDecodeError:
        pass
    if b"\x00" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile("binary data, not text")
    text = data.decode("utf-8-sig", errors="replace")
    replacements = text.count("\ufffd") - data.count("\ufffd".encode())
    # Every byte not in the valid text was replaced (a U+FFFD is 3 bytes of UTF-8, a BOM 3 bytes dropped).
    valid = len(text.encode("utf-8")) - 3 * replacements + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
    invalid = len(data) - valid
    if invalid <= len(data) * MAX_INVALID_SHARE:
        return text, invalid
    best = from_bytes(data, cp_isolation=["gb18030", "big5", "utf_16"]).best()
    if best is None:
        raise UnreadableFile("not text in UTF-8, GB18030/GBK, Big5 or UTF-16")
    return str(best), 0


# Characters no text file holds (controls, lone surrogates, private use, non-characters): a decoding that
# yields them is not the file's encoding.
_NOT_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ud800-\udfff\ue000-\uf8ff\ufffe\uffff]")


def bomless_utf16(data: bytes) -> str | None:
    """The text of UTF-16 written without a byte order mark, or None. Such text has its NUL bytes (the high
    byte of every ASCII character: digits, punctuation, line breaks) all at odd offsets (little-endian) or all
    at even ones (big-endian), and decodes to lines of characters text holds; binary data has NULs at both,
    and a stray NUL in UTF-8 text decodes to symbols and private-use characters without line breaks."""
    if len(data) % 2:
        return None
    even, odd = data[0::2].count(0), data[1::2].count(0)
    if (even and odd) or not (even or odd):
        return None
    try:
        text = data.decode("utf-16-le" if odd else "utf-16-be")
    except UnicodeDecodeError:
        return None
    if _NOT_IN_TEXT.search(text) or ("\n" not in text and "\r" not in text):
        return None
    try:  # valid UTF-8 as well (ASCII with NULs): UTF-16 only when NULs are as many as its ASCII makes them
        data.decode("utf-8")
        return text if (even + odd) * 4 >= len(data) else None
    except UnicodeDecodeError:
        return text


def decode(data: bytes) -> str:
    return decode_text(data)[0]


def corpus_files(data_dir: Path, follow_symlinks: bool = False) -> tuple[list[Path], list[str]]:
    """Every file under the data folder but hidden ones, sorted so builds are reproducible, and a warning per
    symbolic link skipped because it leads out of the folder (unless follow_symlinks)."""
    root = data_dir.resolve()
    files, warnings, seen_folders = [], [], set()
    for folder, subfolders, names in os.walk(data_dir, followlinks=follow_symlinks):
        here = Path(folder)
        real = here.resolve()
        if real in seen_folders:  # a link loop
            subfolders[:] = []
            continue
        seen_folders.add(real)
        kept = []
        for name in sorted(subfolders):
            path = here / name
            if name.startswith("."):
                continue
            if path.is_symlink() and not follow_symlinks and not path.resolve().is_relative_to(root):
                shown = printable(path.relative_to(data_dir).as_posix())
                warnings.append(f"skipped {shown}/: a link to a folder outside "
                                f"the data folder (set QA_FOLLOW_SYMLINKS=true to read it)")
                continue
            kept.append(name)
        subfolders[:] = kept
        for name in sorted(names):
            path = here / name
            source = path.relative_to(data_dir).as_posix()
            if name.startswith("."):
                continue
            if path.is_symlink() and not follow_symlinks and not path.resolve().is_relative_to(root):
                warnings.append(f"skipped {printable(source)}: a link to a file outside the data folder "
                                f"(set QA_FOLLOW_SYMLINKS=true to read it)")
            elif not path.is_file():
                warnings.append(f"skipped {printable(source)}: not a regular file (a broken link?)")
            else:
                files.append(path)
    return sorted(files), warnings


def load_corpus(data_dir: Path, max_paragraph_chars: int = MAX_PARAGRAPH_CHARS,
                follow_symlinks: bool = False, parsed: Callable[[str, str], Document | None] | None = None,
                max_expanded_bytes: int = MAX_EXPANDED_BYTES, max_paragraphs: int = MAX_PARAGRAPHS_PER_FILE
                ) -> tuple[list[Document], list[str]]:
    """Parse every readable file; return the documents and the warnings (one per skipped file, and one per
    file read with repairs such as replaced bytes). One bad file never stops the others. `parsed(source,
    sha256)` returns a document parsed before from the same bytes, which is then used instead of parsing."""
    if max_paragraph_chars < MIN_PARAGRAPH_CAP:
        raise ValueError(f"the paragraph size bound (QA_MAX_PARAGRAPH_CHARS={max_paragraph_chars}) must be at least "
                         f"{MIN_PARAGRAPH_CAP} characters")
    data_dir = Path(data_dir)
    files, warnings = corpus_files(data_dir, follow_symlinks)
    documents = []
    for path in files:
        source = path.relative_to(data_dir).as_posix()
        try:
            document, notes = read_document(path, source, max_paragraph_chars, parsed,
                                            max_expanded_bytes=max_expanded_bytes, max_paragraphs=max_paragraphs)
        except (UnreadableFile, OSError) as error:
            warnings.append(f"skipped {printable(source)}: {printable(str(error))}")
            continue
        except Exception as error:  # a malformed file a parser library chokes on: that file only
            log.debug("parsing %s failed", source, exc_info=True)
            reason = f"{type(error).__name__}: {error}"
            warnings.append(f"skipped {printable(source)}: it could not be parsed ({printable(reason[:200])})")
            continue
        warnings += notes
        if document.paragraphs:
            documents.append(document)
        else:
            warnings.append(f"skipped {printable(source)}: no text in it")
    return documents, warnings


def read_document(path: Path, source: str, max_paragraph_chars: int = MAX_PARAGRAPH_CHARS,
                  parsed: Callable[[str, str], Document | None] | None = None,
                  max_expanded_bytes: int = MAX_EXPANDED_BYTES, max_paragraphs: int = MAX_PARAGRAPHS_PER_FILE
                  ) -> tuple[Document, list[str]]:
    """One file parsed; FileTooLarge before any parsing when a zip-based file (whatever its layout) unpacks
    to more than max_expanded_bytes, and when it holds more than max_paragraphs paragraphs."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFile(f"unsupported file type {suffix or '(none)'}")
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    known = parsed(source, sha256) if parsed is not None else None
    if known is not None:
        return known, list(known.notes)
    check_expansion(data, max_expanded_bytes)
    text, notes = None, []
    if suffix in TEXT_SUFFIXES:
        text, replaced = decode_text(data)
        if replaced:
            notes.append(f"{printable(source)}: replaced {replaced} invalid byte{'s' if replaced > 1 else ''} "
                         f"(the file is not quite UTF-8)")
    layout = detect(path, text)
    articles, paragraphs = number_articles(source, layout.name, layout.parse(source, data, text),
                                           max_paragraph_chars, max_paragraphs)
    return Document(source, sha256, articles, paragraphs, layout.name, tuple(notes), tuple(layout.found)), notes


def parse_document(text: str, source: str, max_paragraph_chars: int = MAX_PARAGRAPH_CHARS
                   ) -> tuple[list[Article], list[Paragraph]]:
    """The articles and paragraphs of a text file's contents, with the layout detected as for a file."""
    layout = detect(Path(source), text)
    return number_articles(source, layout.name, layout.parse(source, text.encode("utf-8"), text),
                           max_paragraph_chars)


def number_articles(source: str, layout: str, parsed: list[ParsedArticle],
                    max_paragraph_chars: int = MAX_PARAGRAPH_CHARS, max_paragraphs: int | None = None
                    ) -> tuple[list[Article], list[Paragraph]]:
    """Articles with stable ids and their paragraphs numbered 1.., none longer than max_paragraph_chars;
    FileTooLarge past max_paragraphs paragraphs."""
    articles, paragraphs = [], []
    titles: Counter = Counter()
    for item in parsed:
        titles[item.title] += 1
        repeat = titles[item.title] - 1  # two articles of one file with one title still get two ids
        article = Article(id=stable_id(source, item.title, *([str(repeat)] if repeat else [])), title=item.title,
                          source=source, date=item.date, metadata={"layout": layout, **item.metadata})
        articles.append(article)
        texts: Counter = Counter()
        number = 0
        for block in item.blocks:
            for text in split_bounded(block.text, max_paragraph_chars):
                key = normalise(text)
                texts[key] += 1
                occurrence = texts[key] - 1  # the same text twice in one article: two paragraphs, two ids
                number += 1
                if max_paragraphs is not None and len(paragraphs) >= max_paragraphs:
                    raise FileTooLarge(f"it holds more than {max_paragraphs:,} paragraphs, the limit for one file "
                                       f"(QA_MAX_PARAGRAPHS_PER_FILE); split it into several files")
                paragraph_id = stable_id(source, item.title, key, *([str(occurrence)] if occurrence else []))
                paragraphs.append(Paragraph(paragraph_id, article.id, number, text, block.section, block.page,
                                            block.row))
    return articles, paragraphs


def repair_broken_paragraphs(blocks: list[str]) -> list[str]:
    """Paged-text repair on bare paragraphs: exact repeats dropped, paragraphs cut by a break joined."""
    return [block.text for block in repair([Block(text) for text in blocks])]


# --- names (used by the answerer until the name index replaces them) ----------------------------------
def district_aliases(district: str) -> list[str]:
    """Names a question may use for a district: the full name, its usual abbreviation, its pinyin."""
    return list(_district_aliases(district))


@lru_cache(maxsize=65536)
def _district_aliases(district: str) -> tuple[str, ...]:
    if not district:
        return ()
    aliases = [district]
    for long, short in ZONE_ABBREVIATIONS:
        if district.endswith(long):
            aliases.append(short)
    aliases.append(pinyin_name(district))
    return tuple(aliases)


@lru_cache(maxsize=65536)
def article_names(district: str, interviewee: str) -> tuple[str, ...]:
    """Names a text may use for an article: its district (every alias) and its interviewee (also in pinyin)."""
    people = (interviewee, pinyin_name(interviewee)) if interviewee else ()
    return tuple(name for name in (*_district_aliases(district), *people) if name)


@lru_cache(maxsize=65536)
def pinyin_name(name: str) -> str:
    """A Chinese name as English text spells it: a place without its 区/县/市 ending, run together; a person
    as surname and given name ("张三丰" → "zhang sanfeng")."""
    core = re.sub(r"(新区|开发区|区|旗|县|市)$", "", name) if len(name) > 2 else name
    if len(core) > 4:  # a long official name has no usual pinyin spelling
        return ""
    syllables = lazy_pinyin(core)
    if not syllables:
        return ""
    if core == name and 2 <= len(name) <= 4 and not name.endswith(("区", "县", "市", "旗")):
        return " ".join([syllables[0], "".join(syllables[1:])])  # a person: surname, given name
    return "".join(syllables)


# --- what each chunk carries --------------------------------------------------------------------------
def context_line(article: Article, paragraph: Paragraph | None = None) -> str:
    """The context every chunk carries, so a paragraph that never names what it is about is still found by
    it: who/where the layout's metadata names, the title, the section path."""
    layout = LAYOUTS.get(article.metadata.get("layout", ""))
    who = layout().context(article.metadata) if layout else ""
    section = SECTION_SEPARATOR.join(paragraph.section) if paragraph is not None else ""
    return " ".join(part for part in (who, article.title, section) if part)


def keyword_context(article: Article, paragraph: Paragraph | None = None) -> str:
    """Context for the keyword index only: the short metadata values (a reporter, an author) and the pinyin of
    those that are Chinese names, for English questions."""
    line = context_line(article, paragraph)
    values = [value for key, value in article.metadata.items()
              if key not in _NOT_CONTEXT and isinstance(value, str) and 0 < len(value) <= MAX_CONTEXT_VALUE_CHARS]
    names = dict.fromkeys(pinyin_name(value) for value in values if _is_a_name(value))
    return " ".join(part for part in (line, *(v for v in values if v not in line), *names) if part)


def _is_a_name(value: str) -> bool:
    return 2 <= len(value) <= 8 and all("\u4e00" <= ch <= "\u9fff" or ch == "·" for ch in value)


def chunk_paragraph(paragraph: Paragraph, max_chars: int = CHUNK_CHARS) -> list[Chunk]:
    """Whole sentences grouped up to max_chars; a paragraph that fits is one chunk."""
    groups: list[str] = []
    for sentence in split_sentences(paragraph.text) or [paragraph.text]:
        if groups and len(groups[-1]) + len(sentence) <= max_chars:
            groups[-1] += sentence
        else:
            groups.append(sentence)
    if len(groups) == 1 and groups[0] == paragraph.text:
        groups = [paragraph.text]  # one string for both, not a copy per chunk (most paragraphs are one chunk)
    return [Chunk(f"{paragraph.id}-{i}", paragraph.id, text) for i, text in enumerate(groups)]


# --- the report at the end of a read ------------------------------------------------------------------
MAX_NAMED_SKIPS = 20


def format_summary(documents: list[Document], warnings: list[str]) -> str:
    """One line per format read and one for the files skipped, e.g. "md: 250 documents, 256 articles,
    900 paragraphs; pdf: …; skipped 3: a.xyz (unsupported file type .xyz), …"."""
    by_format: dict[str, list[Document]] = defaultdict(list)
    for document in documents:
        by_format[Path(document.source).suffix.lower().lstrip(".") or "(none)"].append(document)
    parts = []
    for name, group in sorted(by_format.items()):
        articles = sum(len(d.articles) for d in group)
        paragraphs = sum(len(d.paragraphs) for d in group)
        layouts = Counter(d.layout for d in group)
        part = f"{name}: {_count(len(group), 'document')}, {_count(articles, 'article')}, " \
               f"{_count(paragraphs, 'paragraph')}"
        if len(layouts) > 1 or (layouts and next(iter(layouts)) not in (name, *_SUFFIX_LAYOUTS.get(name, ()))):
            part += " (" + ", ".join(f"{layout} {n}" for layout, n in layouts.most_common()) + ")"
        parts.append(part)
    if not parts:
        parts.append("no documents")
    found = [d for d in documents if d.found]
    parts += [f"{d.source}: {', '.join(d.found)}" for d in found[:MAX_NAMED_SKIPS]]
    if len(found) > MAX_NAMED_SKIPS:
        parts.append(f"and {len(found) - MAX_NAMED_SKIPS} more files")
    skipped = [w[len("skipped "):].split(": ", 1) for w in warnings if w.startswith("skipped ")]
    if skipped:
        named = ", ".join(f"{item[0]} ({item[1] if len(item) > 1 else 'unreadable'})"
                          for item in skipped[:MAX_NAMED_SKIPS])
        more = f", and {len(skipped) - MAX_NAMED_SKIPS} more" if len(skipped) > MAX_NAMED_SKIPS else ""
        parts.append(f"skipped {len(skipped)}: {named}{more}")
    notes = [w for w in warnings if not w.startswith("skipped ")]
    if notes:
        parts.append(f"{_count(len(notes), 'note')}: " + "; ".join(notes[:MAX_NAMED_SKIPS]))
    return "; ".join(parts)


_SUFFIX_LAYOUTS = {"md": ("markdown",), "markdown": ("markdown",), "txt": ("text",), "text": ("text",),
                   "htm": ("html",), "xhtml": ("html",)}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
