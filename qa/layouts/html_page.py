"""HTML: the page's main content (trafilatura) with its title, author and date; the whole page when none is found."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..text import find_date
from .base import Block, HeadingPath, Layout, ParsedArticle, dateline_date, stem_title, table_rows

HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Tags whose text is one paragraph (when they hold no other such tag).
PARAGRAPHS = {"p", "li", "blockquote", "pre", "dd", "dt", "figcaption", "caption", "address", "summary"}
HIDDEN = {"script", "style", "noscript", "template", "head", "svg", "canvas", "iframe", "object", "button",
          "select", "option", "form", "nav"}
# Tags inside a line of text: their text runs on with what surrounds them.
INLINE = {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "i", "kbd", "mark", "q", "s", "samp",
          "small", "span", "strong", "sub", "sup", "time", "u", "var", "font", "label", "img", "wbr", "ins", "del"}
_SPACES = re.compile(r"\s+")
# <meta> names worth keeping as metadata, and those that give the date.
META_NAMES = {"author", "description", "keywords", "publisher", "og:site_name", "article:author"}
DATE_NAMES = {"date", "pubdate", "publishdate", "article:published_time", "dc.date", "og:updated_time"}
# A byline on the page ("来源：青城日报　作者：李明　发布时间：…"), read when no <meta> names the author.
_BYLINE_AUTHOR = re.compile(r"(?:作者|文)\s*[:：]\s*([\u4e00-\u9fff·]{2,6}?)"
                            r"(?=[\s　|｜/,，;；]|$|来源|发布|编辑|时间)")
MAX_BYLINE_CHARS = 80


def clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _bare(text: str) -> str:
    """Text with no whitespace, to find one reading's paragraph inside another reading's text."""
    return _SPACES.sub("", text)


@dataclass
class Item:
    """A heading (level 1-6) or a paragraph (level 0) of a page, with the page text it was read from."""

    level: int
    text: str
    raw: str = ""  # the cells of a table row run together (its text renders them under their headers)


class HtmlLayout(Layout):
    name = "html"

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(text or "", "html.parser")
        metadata, date = {}, ""
        for meta in soup.find_all("meta"):
            name = str(meta.get("name") or meta.get("property") or "").lower()
            content = clean(str(meta.get("content") or ""))
            if name in META_NAMES and content:
                metadata[name.split(":")[-1]] = content
            elif name in DATE_NAMES and content and not date:
                date = find_date(content)
        if not date and (time := soup.find("time")):
            date = find_date(str(time.get("datetime") or time.get_text()))
        page_title = clean(soup.title.get_text()) if soup.title else ""
        whole = whole_page(soup)
        if not date:
            date = next((found for item in whole if not item.level and (found := dateline_date(item.text))), "")
        if "author" not in metadata:
            bylines = (_BYLINE_AUTHOR.search(item.text) for item in whole
                       if not item.level and len(item.text) <= MAX_BYLINE_CHARS)
            if author := next((match.group(1) for match in bylines if match), ""):
                metadata["author"] = author

        main = main_content(text or "")
        kept = _bare(main.text) if main else ""
        removed = sum(1 for item in whole if not item.level and _bare(item.raw or item.text) not in kept)
        if main and main.items and removed:
            items, title = main.items, main.title
            if items and items[0].level and items[0].text == title:
                items = items[1:]
            date = date or main.date
            if "author" not in metadata and main.author:
                metadata["author"] = main.author
            paragraphs = sum(1 for item in items if not item.level)
            self.found = (f"main content kept {_count(paragraphs, 'paragraph')}, boilerplate removed {removed}",)
        else:
            # Nothing told apart from the page's chrome (or nothing to tell apart): today's whole-page reading.
            items, title = whole, ""
            if any(not item.level for item in items):
                self.found = ("no main content found, read whole page",)

        if not title:
            first_text = next((i for i, item in enumerate(items) if not item.level), len(items))
            title_at = next((i for i, item in enumerate(items[:first_text]) if item.level == 1), None)
            if title_at is None:
                title_at = next((i for i, item in enumerate(items) if item.level == 1), None)
            if title_at is not None:
                title = items[title_at].text
                items = items[:title_at] + items[title_at + 1:]
            else:
                title = page_title
        path = HeadingPath()
        blocks = []
        for item in items:
            if item.level:
                path.enter(item.level, item.text)
            else:
                blocks.append(Block(item.text, path.section))
        if page_title and page_title != title:
            metadata["page_title"] = page_title
        return [ParsedArticle(title or stem_title(source), blocks, date, metadata)]


@dataclass
class MainContent:
    """What trafilatura finds to be the page's article, and the metadata it reads."""

    items: list[Item]
    text: str  # everything it kept, as one string
    title: str = ""
    author: str = ""
    date: str = ""


def main_content(html: str) -> MainContent | None:
    """The page's main content through trafilatura (tables kept, comments left out), or None."""
    import trafilatura

    if not html.strip():
        return None
    found = trafilatura.bare_extraction(html, include_tables=True, include_comments=False, include_images=False,
                                        with_metadata=True, deduplicate=False, config=_trafilatura_config())
    if found is None or found.body is None:
        return None
    children = list(found.body)
    if len(children) == 1 and children[0].tag == "p" and not len(children[0]) and "\n" in (children[0].text or ""):
        return None  # its last resort, every line of the page in one paragraph: no article was told apart
    items: list[Item] = []
    for element in found.body:
        tag = element.tag
        if tag == "head":
            rend = str(element.get("rend") or "")
            level = HEADINGS.get(rend, 2)  # trafilatura keeps the tag a heading had ("h3"); other heads are h2
            if heading := clean("".join(element.itertext())):
                items.append(Item(level, heading))
        elif tag == "list":
            items += [Item(0, text) for entry in element.iter("item") if (text := clean(_own_text(entry)))]
        elif tag == "table":
            items += _trafilatura_table(element)
        elif text := clean("".join(element.itertext())):
            items.append(Item(0, text))
    text = " ".join(found.body.itertext())
    return MainContent(items, text, clean(found.title or ""), clean(found.author or ""),
                       find_date(found.date or ""))


@lru_cache(maxsize=1)
def _trafilatura_config():
    from trafilatura.settings import use_config

    config = use_config()
    # A date is read from the page's markup only: its guess from the text took a footer's "© 2024" for one.
    config.set("DEFAULT", "EXTENSIVE_DATE_SEARCH", "off")
    return config


def _own_text(entry) -> str:
    """A list item's text without the items of a list nested in it (those are items of their own)."""
    parts = [entry.text or ""]
    for child in entry:
        if child.tag != "list":
            parts.append("".join(child.itertext()))
        parts.append(child.tail or "")
    return "".join(parts)


def _trafilatura_table(table) -> list[Item]:
    rows = [[clean("".join(cell.itertext())) for cell in row.iter("cell")] for row in table.iter("row")]
    return _table_items(rows, "")


def _table_items(rows: list[list[str]], caption: str) -> list[Item]:
    """A table's rows as paragraphs in the one row representation, each with its cells run together; leading
    one-cell rows of a wider table (trafilatura turns a <caption> into such a row) are its caption."""
    rows = [row for row in rows if any(row)]
    width = max((len(row) for row in rows), default=0)
    captions = [caption] if caption else []
    while width > 1 and len(rows) > 2 and sum(1 for cell in rows[0] if cell) == 1:
        captions.append(next(cell for cell in rows.pop(0) if cell))
    caption = " ".join(captions)
    if width < 2 or len(rows) < 2:
        return [Item(0, line) for line in table_rows(rows, caption)]
    header = rows[0]
    return [Item(0, line, "".join(row)) for row in rows[1:] for line in table_rows([header, row], caption)]


def whole_page(soup) -> list[Item]:
    """Every heading and paragraph of the page body in reading order (scripts, forms and <nav> left out)."""
    from bs4 import Comment, NavigableString, Tag

    items: list[Item] = []
    inline: list[str] = []  # text outside any paragraph tag, read until the next block starts

    def flush() -> None:
        if text := clean("".join(inline)):
            items.append(Item(0, text))
        inline.clear()

    # An explicit stack, not recursion: a page nested thousands of tags deep must not crash the reader.
    stack: list = [soup.body or soup]
    while stack:
        node = stack.pop()
        if node is None:
            flush()  # the end of a block element
            continue
        if isinstance(node, Comment):
            continue
        if isinstance(node, NavigableString):
            inline.append(str(node))
            continue
        if not isinstance(node, Tag) or node.name in HIDDEN:
            continue
        if node.name in HEADINGS:
            flush()
            items.append(Item(HEADINGS[node.name], clean(node.get_text())))
        elif node.name == "table":
            flush()
            caption = clean(node.caption.get_text()) if node.caption else ""
            rows = [[clean(cell.get_text()) for cell in row.find_all(["td", "th"])] for row in node.find_all("tr")]
            items += _table_items(rows, caption)
        elif node.name in PARAGRAPHS and not node.find(list(PARAGRAPHS) + list(HEADINGS) + ["table"]):
            flush()
            items.append(Item(0, clean(node.get_text())))
        elif node.name == "br":
            flush()
        elif node.name in INLINE:
            stack.extend(reversed(node.contents))
        else:
            stack.append(None)
            stack.extend(reversed(node.contents))
            flush()
    flush()
    return [item for item in items if item.text]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
