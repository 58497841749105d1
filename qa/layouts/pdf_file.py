"""PDF (PyMuPDF): text blocks in reading order, column by column; larger type is a heading; paged-text repair."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from ..text import ends_a_paragraph
from .base import Block, HeadingPath, Layout, ParsedArticle, dateline_date, join_lines, stem_title
from .newspaper import NewspaperLayout, article_starts, split_page
from .repair import repair

# A block wider than this share of the page spans the columns (a title, a full-width figure caption).
SPANNING_SHARE = 0.55
# Type this much larger than the body text, on a short line without end punctuation, is a heading.
HEADING_SIZE_RATIO = 1.15
MAX_HEADING_CHARS = 40
# Page numbers in the top or bottom margin are page furniture, not text of the document.
MARGIN_SHARE = 0.08
_PAGE_NUMBER = re.compile(r"^[-–—\s]*(?:第\s*)?\d{1,4}\s*(?:页|/\s*\d{1,4})?[-–—\s]*$|^page\s*\d{1,4}$", re.I)


@dataclass
class TextBlock:
    x0: float
    y0: float
    x1: float
    y1: float
    paragraphs: list[str]
    size: float  # the largest type in the block
    chars: Counter  # characters per type size, for the body size


def page_blocks(page) -> list[TextBlock]:
    """The page's text blocks, each with its lines joined into paragraphs (a new one at an indent, or after a
    short line that ends a sentence)."""
    blocks = []
    height = page.rect.height
    for raw in page.get_text("dict", sort=False)["blocks"]:
        if raw.get("type") != 0 or not raw.get("lines"):
            continue
        x0, y0, x1, y1 = raw["bbox"]
        lines, sizes = [], Counter()
        for line in raw["lines"]:
            text = "".join(span["text"] for span in line["spans"])
            if not text.strip():
                continue
            for span in line["spans"]:
                sizes[round(span["size"] * 2) / 2] += len(span["text"].strip())
            lines.append((text, line["bbox"][0], line["bbox"][2], max(s["size"] for s in line["spans"])))
        if not lines:
            continue
        whole = join_lines([text for text, *_ in lines])
        if _PAGE_NUMBER.match(whole) and (y1 < height * MARGIN_SHARE or y0 > height * (1 - MARGIN_SHARE)):
            continue
        paragraphs: list[list[str]] = [[]]
        for i, (text, left, _, size) in enumerate(lines):
            if i and paragraphs[-1]:
                previous_text, _, previous_right, _ = lines[i - 1]
                indented = left > x0 + size * 1.5
                short_end = ends_a_paragraph(previous_text) and previous_right < x1 - size * 1.5
                if indented or short_end:
                    paragraphs.append([])
            paragraphs[-1].append(text)
        texts = [join_lines(p) for p in paragraphs if p]
        blocks.append(TextBlock(x0, y0, x1, y1, [t for t in texts if t], max(sizes or [0]), sizes))
    return blocks


def reading_order(blocks: list[TextBlock], page_width: float) -> list[TextBlock]:
    """Column by column, top to bottom; a block spanning the columns closes the band of columns above it."""
    narrow = [b for b in blocks if b.x1 - b.x0 < page_width * SPANNING_SHARE]
    columns: list[list[float]] = []  # merged horizontal extents of the narrow blocks
    for left, right in sorted((b.x0, b.x1) for b in narrow):
        if columns and left < columns[-1][1] - 1:
            columns[-1][1] = max(columns[-1][1], right)
        else:
            columns.append([left, right])
    if len(columns) < 2:
        return sorted(blocks, key=lambda b: (round(b.y0), b.x0))

    def column(block: TextBlock) -> int | None:
        touched = [i for i, (left, right) in enumerate(columns) if block.x0 < right - 1 and block.x1 > left + 1]
        return touched[0] if len(touched) == 1 else None

    ordered: list[TextBlock] = []
    band: list[TextBlock] = []
    for block in sorted(blocks, key=lambda b: b.y0):
        if column(block) is None:  # spans the columns: everything above it comes first
            ordered += sorted(band, key=lambda b: (column(b), b.y0))
            band = []
            ordered.append(block)
        else:
            band.append(block)
    return ordered + sorted(band, key=lambda b: (column(b), b.y0))


class PdfLayout(Layout):
    name = "pdf"
    repairs = True

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        import pymupdf

        pymupdf.TOOLS.mupdf_display_errors(False)  # a damaged file becomes one warning, not lines of MuPDF noise
        with pymupdf.open(stream=data, filetype="pdf") as document:
            if document.needs_pass:
                raise ValueError("the PDF is encrypted")
            pages = [reading_order(page_blocks(page), page.rect.width) for page in document]
            properties = document.metadata or {}
        sizes = Counter()
        for page in pages:
            for block in page:
                sizes.update(block.chars)
        body_size = sizes.most_common(1)[0][0] if sizes else 0

        items: list[tuple[float, str, int]] = []  # (heading size or 0, text, page)
        for number, page in enumerate(pages):
            for block in page:
                text = join_lines(block.paragraphs)
                if (body_size and block.size >= body_size * HEADING_SIZE_RATIO and len(text) <= MAX_HEADING_CHARS
                        and not ends_a_paragraph(text)):
                    items.append((block.size, text, number))
                else:
                    items += [(0, paragraph, number) for paragraph in block.paragraphs]

        texts = [text for _, text, _ in items]
        if article_starts(texts):  # a newspaper page printed to PDF: its articles carry that layout's context
            articles = split_page(source, list(enumerate(texts)))
            for article in articles:
                article.metadata["layout"] = NewspaperLayout.name
            return articles

        title = ""
        heading_sizes = sorted({size for size, _, _ in items if size}, reverse=True)
        # The title: the first heading in the largest type, if it is on the first page.
        title_at = next((i for i, (size, _, _) in enumerate(items) if heading_sizes and size == heading_sizes[0]),
                        None)
        if title_at is not None and items[title_at][2] == 0:
            title = items.pop(title_at)[1]
            if not any(size == heading_sizes[0] for size, _, _ in items):
                heading_sizes.pop(0)
        title = title or (properties.get("title") or "").strip()
        levels = {size: level for level, size in enumerate(heading_sizes, start=1)}
        path = HeadingPath()
        blocks = []
        for size, text, _ in items:
            if size:
                path.enter(levels[size], text)
            else:
                blocks.append(Block(text, path.section))
        metadata = {"author": (properties.get("author") or "").strip()}
        date = ""
        if blocks and (date := dateline_date(blocks[0].text)):
            metadata["header_lines"] = [title, blocks.pop(0).text]
        return [ParsedArticle(title or stem_title(source), repair(blocks), date,
                              {k: v for k, v in metadata.items() if v})]
