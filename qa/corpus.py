"""Files → articles → repaired, numbered paragraphs and their sub-chunks (pure functions but for reading)."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from charset_normalizer import from_bytes
from pypinyin import lazy_pinyin

from .text import ends_a_paragraph, normalise, split_sentences, stable_id
from .types import Article, Paragraph

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".docx")
# A long paragraph is embedded in sub-chunks of about this many characters (whole sentences): the
# embedding model reads at most 512 tokens, and a smaller chunk matches a question more sharply.
CHUNK_CHARS = 180
# A line this short without end punctuation is a heading, not half of a paragraph cut by a page break.
MIN_DANGLING_CHARS = 20

_SUBTITLE = re.compile(r"^[—–-]{1,2}\s*访\s*(?P<who>.+)$")
_BYLINE = re.compile(r"^[●•]\s*(?:本报)?(?:记者|通讯员)\s*(?P<reporter>.+)$")
_ROLE_AND_NAME = re.compile(
    r"^(?P<role>.*(?:书记|区长|县长|旗长|市长|主任|主席|部长|局长|厅长|院长|校长|经理|董事长|会长|委员|常委|负责人))"
    r"(?P<name>[\u4e00-\u9fff·]{2,4})$"
)
_ORGANISATION = re.compile(
    r"(?P<org>[\u4e00-\u9fff]{2,12}?(?:新区|开发区|园区|区|旗|县|市))(?:委|管委会|党工委|政府|人民政府)"
)
_ABBREVIATIONS = {"经济技术开发区": "经开区", "高新技术产业开发区": "高新区", "高新技术开发区": "高新区"}


class UnreadableFile(Exception):
    """A file that is not text in an encoding we can recognise, or of a type we do not read."""


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


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) first; then the best guess among Chinese legacy encodings."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile("binary data, not text")
    best = from_bytes(data, cp_isolation=["gb18030", "big5", "utf_16"]).best()
    if best is None:
        raise UnreadableFile("not text in UTF-8, GB18030/GBK, Big5 or UTF-16")
    return str(best)


def read_text(path: Path) -> str:
    """The file as plain text, one paragraph a line; a heading line starts with "#"."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFile(f"unsupported file type {path.suffix or '(none)'}")
    if suffix == ".docx":
        return _docx_text(path)
    text = decode(path.read_bytes())
    return _html_text(text) if suffix in (".html", ".htm") else text


_HTML_BLOCKS = ["h1", "h2", "h3", "h4", "p", "li", "blockquote", "pre"]


def _html_text(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for hidden in soup(["script", "style", "noscript", "template"]):
        hidden.decompose()
    lines = []
    heading = soup.find("h1") or soup.find("title")
    if heading and heading.get_text(strip=True):
        lines.append("# " + heading.get_text(" ", strip=True))
    for block in soup.find_all(_HTML_BLOCKS):
        if block.find(_HTML_BLOCKS) or block is heading:
            continue  # the inner blocks are taken on their own
        if text := block.get_text(" ", strip=True):
            lines.append(text)
    return "\n\n".join(lines)


def _docx_text(path: Path) -> str:
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError, PackageNotFoundError) as error:
        raise UnreadableFile(f"not a readable .docx file ({error})") from None
    lines = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        is_title = paragraph.style is not None and paragraph.style.name.lower().startswith(("title", "heading 1"))
        lines.append(f"# {text}" if is_title and not lines else text)
    return "\n\n".join(lines)


def corpus_files(data_dir: Path) -> list[Path]:
    """Every file under the data folder except hidden ones, sorted so builds are reproducible."""
    return sorted(
        p for p in data_dir.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts)
    )


def load_corpus(data_dir: Path) -> tuple[list[Document], list[str]]:
    """Parse every readable file; return the documents and one warning per skipped file."""
    documents, warnings = [], []
    for path in corpus_files(data_dir):
        source = path.relative_to(data_dir).as_posix()
        try:
            text = read_text(path)
        except (UnreadableFile, OSError) as error:
            warnings.append(f"skipped {source}: {error}")
            continue
        articles, paragraphs = parse_document(text, source)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        documents.append(Document(source, digest, articles, paragraphs))
    return documents, warnings


def parse_document(text: str, source: str) -> tuple[list[Article], list[Paragraph]]:
    """Split a newspaper page into its interviews, or take a whole file as one article."""
    blocks = [line.strip() for line in text.splitlines() if line.strip()]
    starts = [i for i in range(len(blocks) - 1) if _SUBTITLE.match(blocks[i + 1])]
    if not starts:
        title, body = _plain_title(blocks, source)
        article = Article(id=stable_id(source, title), title=title, source=source)
        return [article], _number(article, repair_broken_paragraphs(body))

    articles, paragraphs = [], []
    if starts[0] > 0:  # text before the first headline: keep it, as an article named after the file
        title = Path(source).stem
        article = Article(id=stable_id(source, title), title=title, source=source)
        articles.append(article)
        paragraphs += _number(article, repair_broken_paragraphs(blocks[: starts[0]]))
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(blocks)
        article, body = _interview(blocks[start:end], source)
        articles.append(article)
        paragraphs += _number(article, repair_broken_paragraphs(body))
    return articles, paragraphs


def _plain_title(blocks: list[str], source: str) -> tuple[str, list[str]]:
    if blocks and blocks[0].startswith("#"):
        return blocks[0].lstrip("#").strip(), blocks[1:]
    return Path(source).stem, blocks


def _interview(blocks: list[str], source: str) -> tuple[Article, list[str]]:
    title, subtitle, body = blocks[0], blocks[1], blocks[2:]
    reporter = ""
    if body and (byline := _BYLINE.match(body[0])):
        reporter, body = byline.group("reporter").strip(), body[1:]
    who = _SUBTITLE.match(subtitle).group("who").strip()
    role, name = who, ""
    if match := _ROLE_AND_NAME.match(who):
        role, name = match.group("role"), match.group("name")
    article = Article(
        id=stable_id(source, title),
        title=title,
        source=source,
        subtitle=subtitle,
        interviewee=name,
        role=role,
        reporter=reporter,
        district=district_of(role) or district_of(title),
    )
    return article, body


def district_of(text: str) -> str:
    """The district or organisation a role is about: "市委常委、赛罕区委书记" → "赛罕区"."""
    for part in reversed(re.split(r"[、，,]", text)):
        if match := _ORGANISATION.search(part):
            return match.group("org")
    return ""


def district_aliases(district: str) -> list[str]:
    """Names a question may use for a district: the full name, its usual abbreviation, its pinyin."""
    return list(_district_aliases(district))


@lru_cache(maxsize=65536)
def _district_aliases(district: str) -> tuple[str, ...]:
    if not district:
        return ()
    aliases = [district]
    for long, short in _ABBREVIATIONS.items():
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
    """"新城区" → "xincheng", "殷树刚" → "yin shugang": how English text spells Chinese names."""
    core = re.sub(r"(新区|开发区|区|旗|县|市)$", "", name) if len(name) > 2 else name
    if len(core) > 4:  # a long official name has no usual pinyin spelling
        return ""
    syllables = lazy_pinyin(core)
    if not syllables:
        return ""
    if core == name and 2 <= len(name) <= 4 and not name.endswith(("区", "县", "市", "旗")):
        return " ".join([syllables[0], "".join(syllables[1:])])  # a person: surname, given name
    return "".join(syllables)


def repair_broken_paragraphs(blocks: list[str]) -> list[str]:
    """Undo layout damage: drop repeated paragraphs and stray fragments, join paragraphs cut by a break."""
    kept: list[str] = []
    seen: set[str] = set()
    for block in blocks:
        key = normalise(block)
        if key in seen:
            log.info("dropped a repeated paragraph: %.30s…", block)
            continue
        seen.add(key)
        kept.append(block)
    kept = [block for block in kept if not _is_stray_fragment(block, kept)]

    repaired: list[str] = []
    pending = list(kept)
    while pending:
        paragraph = pending.pop(0)
        while _is_dangling(paragraph):
            continuation = next((i for i, b in enumerate(pending) if not b.startswith(("“", '"', "「"))), None)
            if continuation is None:
                break
            paragraph += pending.pop(continuation)
        repaired.append(paragraph)
    return repaired


def _is_dangling(block: str) -> bool:
    return len(block) >= MIN_DANGLING_CHARS and not block.startswith("#") and not ends_a_paragraph(block)


def _is_stray_fragment(block: str, blocks: list[str]) -> bool:
    """A piece of another paragraph printed twice by a layout slip: all but its first few characters
    occur inside a longer paragraph."""
    for skip in range(min(6, len(block) // 5) + 1):
        tail = block[skip:]
        if len(tail) < MIN_DANGLING_CHARS:
            break
        if any(other is not block and len(other) > len(block) and tail in other for other in blocks):
            log.info("dropped a stray fragment: %.30s…", block)
            return True
    return False


def _number(article: Article, texts: list[str]) -> list[Paragraph]:
    return [
        Paragraph(id=stable_id(article.source, article.title, normalise(text)), article_id=article.id, number=n,
                  text=text)
        for n, text in enumerate(texts, start=1)
    ]


def context_line(article: Article) -> str:
    """The article context every chunk carries, so a paragraph that never names its district or
    interviewee is still found by them."""
    who = f"{article.interviewee}（{article.role}）" if article.interviewee else ""
    return " ".join(part for part in (article.district, who, article.title) if part)


def keyword_context(article: Article) -> str:
    """Context for the keyword index only: the byline and pinyin names for English questions."""
    names = [pinyin_name(article.district), pinyin_name(article.interviewee) if article.interviewee else ""]
    return " ".join(part for part in (context_line(article), article.reporter, *names) if part)


def chunk_paragraph(paragraph: Paragraph, max_chars: int = CHUNK_CHARS) -> list[Chunk]:
    """Whole sentences grouped up to max_chars; a paragraph that fits is one chunk."""
    groups: list[str] = []
    for sentence in split_sentences(paragraph.text) or [paragraph.text]:
        if groups and len(groups[-1]) + len(sentence) <= max_chars:
            groups[-1] += sentence
        else:
            groups.append(sentence)
    return [Chunk(f"{paragraph.id}-{i}", paragraph.id, text) for i, text in enumerate(groups)]
