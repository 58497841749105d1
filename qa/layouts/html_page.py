"""HTML: <h1>/<title> is the title, <h1..h6> sections, <p>/<li>/… paragraphs, a table row a paragraph."""

from __future__ import annotations

import re

from ..text import find_date
from .base import Block, HeadingPath, Layout, ParsedArticle, stem_title

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


def clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


class HtmlLayout(Layout):
    name = "html"

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        from bs4 import BeautifulSoup, Comment, NavigableString, Tag

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

        items: list[tuple[int, str]] = []  # (heading level, text) or (0, paragraph)
        inline: list[str] = []  # text outside any paragraph tag, read until the next block starts

        def flush() -> None:
            if text := clean("".join(inline)):
                items.append((0, text))
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
                items.append((HEADINGS[node.name], clean(node.get_text())))
            elif node.name == "table":
                flush()
                for row in node.find_all("tr"):
                    cells = [clean(cell.get_text()) for cell in row.find_all(["td", "th"])]
                    if any(cells):
                        items.append((0, " | ".join(cell for cell in cells if cell)))
            elif node.name in PARAGRAPHS and not node.find(list(PARAGRAPHS) + list(HEADINGS) + ["table"]):
                flush()
                items.append((0, clean(node.get_text())))
            elif node.name == "br":
                flush()
            elif node.name in INLINE:
                stack.extend(reversed(node.contents))
            else:
                stack.append(None)
                stack.extend(reversed(node.contents))
                flush()
        flush()

        items = [(level, text) for level, text in items if text]
        first_text = next((i for i, (level, _) in enumerate(items) if level == 0), len(items))
        title_at = next((i for i, (level, _) in enumerate(items[:first_text]) if level == 1), None)
        if title_at is None:
            title_at = next((i for i, (level, _) in enumerate(items) if level == 1), None)
        title = items.pop(title_at)[1] if title_at is not None else page_title
        path = HeadingPath()
        blocks = []
        for level, text in items:
            if level:
                path.enter(level, text)
            else:
                blocks.append(Block(text, path.section))
        if page_title and page_title != title:
            metadata["page_title"] = page_title
        return [ParsedArticle(title or stem_title(source), blocks, date, metadata)]
