"""PDF (PyMuPDF): tables row by row (a table continued overleaf under its first page's headers), running headers,
footers and page numbers left out, text blocks in reading order column by column, larger type a heading,
paragraphs cut by a page end joined; each block knows its page."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from ..text import ends_a_paragraph
from .base import (
    Block,
    HeadingPath,
    Layout,
    ParsedArticle,
    dateline_date,
    join_lines,
    shown_author,
    shown_title,
    states_a_unit_only,
    stem_title,
    table_rows,
)
from .newspaper import NewspaperLayout, article_starts, split_page
from .repair import drop_exact_repeats, join_cut_paragraphs

# A block wider than this share of the page spans the columns (a title, a full-width figure caption).
SPANNING_SHARE = 0.55
# Type this much larger than the body text, on a short line without end punctuation, is a heading.
HEADING_SIZE_RATIO = 1.15
MAX_HEADING_CHARS = 40
# Running headers, footers and page numbers sit in the top or bottom margin: this share of the page height.
MARGIN_SHARE = 0.1
# A margin line on at least this share of the pages (digits aside: "第 2 页", "第 3 页") is a running header
# or footer; it takes at least two pages to tell one.
REPEATED_SHARE = 0.5
_PAGE_NUMBER = re.compile(
    r"^[-–—\s]*(?:"
    r"第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?"  # 第3页, 第 3 页 共 12 页
    r"|共\s*\d{1,4}\s*页\s*[,，/]?\s*第\s*\d{1,4}\s*页"
    r"|\d{1,4}(?:\s*/\s*\d{1,4})?"  # 3, - 3 -, 3/12
    r"|page\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?"
    r")[-–—\s]*$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")
# A table takes at least this many drawn paths (its rules): a region with fewer is not searched for one.
MIN_TABLE_PATHS = 3
# The caption or unit of a table is a short line at most this far above it (in points).
CAPTION_GAP = 30
MAX_CAPTION_CHARS = 40


@dataclass
class Line:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float  # the largest type on the line
    sizes: Counter  # characters per type size
    block: int  # the text block of the page it belongs to


@dataclass
class TextBlock:
    x0: float
    y0: float
    x1: float
    y1: float
    paragraphs: list[str]
    size: float  # the largest type in the block
    chars: Counter  # characters per type size, for the body size
    table: bool = False  # the rows of a table: never a heading, never joined to the text around it
    rows: list[list[str]] = field(default_factory=list)  # a table's cells, its header row first
    caption: str = ""
    columns: tuple[float, ...] = ()  # where a table's columns start: a table continued overleaf keeps them
    continued: bool = False  # the rest of the table that ends the page before


@dataclass
class PageText:
    """One page as read: its lines, the tables found on it, and their rows."""

    width: float
    height: float
    lines: list[Line]
    tables: list[TextBlock] = field(default_factory=list)


def page_lines(page) -> list[Line]:
    lines = []
    for number, raw in enumerate(page.get_text("dict", sort=False)["blocks"]):
        if raw.get("type") != 0:
            continue
        for line in raw.get("lines", ()):
            text = "".join(span["text"] for span in line["spans"])
            if not text.strip():
                continue
            sizes = Counter()
            for span in line["spans"]:
                sizes[round(span["size"] * 2) / 2] += len(span["text"].strip())
            lines.append(Line(text, *line["bbox"], max(s["size"] for s in line["spans"]), sizes, number))
    return lines


def is_in_margin(line: Line, height: float) -> bool:
    return line.y1 < height * MARGIN_SHARE or line.y0 > height * (1 - MARGIN_SHARE)


def furniture_key(text: str) -> str:
    """A margin line with its digits and spaces taken out: the same on every page a running line is on."""
    return _DIGITS.sub("#", "".join(text.split()))


def running_lines(pages: list[PageText]) -> set[str]:
    """The furniture keys of margin lines on most pages: running headers and footers."""
    if len(pages) < 2:
        return set()
    on_pages = Counter()
    for page in pages:
        on_pages.update({furniture_key(line.text) for line in page.lines if is_in_margin(line, page.height)})
    least = max(2, math.ceil(len(pages) * REPEATED_SHARE))
    return {key for key, count in on_pages.items() if count >= least}


def is_furniture(line: Line, page: PageText, running: set[str]) -> bool:
    return is_in_margin(line, page.height) and (_PAGE_NUMBER.match(line.text) is not None
                                                or furniture_key(line.text) in running)


def ruled_regions(page) -> list[tuple[float, float, float, float]]:
    """The page's bands of touching drawn paths with enough of them to rule a table, as rectangles."""
    bands: list[list[float]] = []  # x0, y0, x1, y1, paths
    for x0, y0, x1, y1 in sorted((path["rect"] for path in page.get_cdrawings()), key=lambda rect: rect[1]):
        if bands and y0 <= bands[-1][3] + 3:
            band = bands[-1]
            band[0], band[2], band[3], band[4] = min(band[0], x0), max(band[2], x1), max(band[3], y1), band[4] + 1
        else:
            bands.append([x0, y0, x1, y1, 1])
    return [(x0 - 2, y0 - 2, x1 + 2, y1 + 2) for x0, y0, x1, y1, paths in bands if paths >= MIN_TABLE_PATHS]


def find_tables(page) -> list:
    """The ruled tables of a page, by PyMuPDF's line-based finder, each region of rules searched alone: the
    finder reads every character of what it searches (0.4 s a full page of text), and its layout model takes
    a second a page."""
    return [table for region in ruled_regions(page)
            for table in page.find_tables(clip=region, use_layout=False).tables
            if table.row_count >= 2 and table.col_count >= 2]


def _inside(line: Line, box) -> bool:
    x, y = (line.x0 + line.x1) / 2, (line.y0 + line.y1) / 2
    return box[0] - 1 <= x <= box[2] + 1 and box[1] - 1 <= y <= box[3] + 1


def read_page(page) -> PageText:
    """A page's lines outside its tables, and each table as a block of rows that carry their headers and the
    unit its caption (the line just above it) states."""
    lines = page_lines(page)
    tables = find_tables(page)
    blocks = []
    for table in tables:
        box = table.bbox
        lines = [line for line in lines if not _inside(line, box)]
        above = [line for line in lines if box[1] - CAPTION_GAP <= line.y1 <= box[1] + 2
                 and line.x0 < box[2] and line.x1 > box[0]]
        caption = ""
        if above:
            nearest = max(line.y1 for line in above)
            band = sorted((line for line in above if line.y1 >= nearest - 3), key=lambda line: line.x0)
            caption = " ".join(line.text.strip() for line in band)
            if len(caption) > MAX_CAPTION_CHARS or ends_a_paragraph(caption):
                caption = ""
            else:  # a line that only states the unit is said by every row instead
                lines = [line for line in lines if not (line in band and states_a_unit_only(line.text))]
        rows = [[join_lines((cell or "").split("\n")) for cell in row] for row in table.extract()]
        texts = table_rows(rows, caption)
        if texts:
            columns = tuple(round(cell[0]) for cell in table.rows[0].cells if cell is not None)
            blocks.append(TextBlock(*box, texts, 0, Counter(), table=True, rows=rows, caption=caption,
                                    columns=columns))
    return PageText(page.rect.width, page.rect.height, lines, blocks)


# Columns this close (in points) are the same column of a table continued on the next page.
COLUMN_TOLERANCE = 3


def continue_tables(pages: list[PageText], running: set[str]) -> None:
    """A table that ends a page and one with the same columns that opens the next are one table: the second's
    rows go under the first's headers and caption, its own first row dropped when it repeats the headers and
    read as data when it does not (a table broken without its header row repeated)."""
    for before, after in zip(pages, pages[1:], strict=False):
        if not before.tables or not after.tables:
            continue
        last = max(before.tables, key=lambda table: table.y1)
        first = min(after.tables, key=lambda table: table.y0)
        text_below = any(line.y0 > last.y1 and not is_furniture(line, before, running) for line in before.lines)
        text_above = any(line.y1 < first.y0 and not is_furniture(line, after, running) for line in after.lines)
        same_columns = len(last.columns) == len(first.columns) and all(
            abs(a - b) <= COLUMN_TOLERANCE for a, b in zip(last.columns, first.columns, strict=True))
        if text_below or text_above or not same_columns or not last.rows:
            continue
        header = last.rows[0]
        rows = first.rows[1:] if first.rows[:1] == [header] else first.rows
        first.rows, first.caption, first.continued = [header, *rows], last.caption, True
        first.paragraphs = table_rows(first.rows, last.caption)


def text_blocks(page: PageText, running: set[str]) -> tuple[list[TextBlock], int]:
    """The page's text blocks without its furniture, each with its lines joined into paragraphs (a new one at
    an indent, or after a short line that ends a sentence), and how many furniture lines were left out."""
    grouped: dict[int, list[Line]] = {}
    removed = 0
    for line in page.lines:
        if is_furniture(line, page, running):
            removed += 1
        else:
            grouped.setdefault(line.block, []).append(line)
    blocks = []
    for lines in grouped.values():
        x0, y0 = min(line.x0 for line in lines), min(line.y0 for line in lines)
        x1, y1 = max(line.x1 for line in lines), max(line.y1 for line in lines)
        sizes = Counter()
        for line in lines:
            sizes.update(line.sizes)
        paragraphs: list[list[str]] = [[]]
        for i, line in enumerate(lines):
            if i and paragraphs[-1]:
                previous = lines[i - 1]
                indented = line.x0 > x0 + line.size * 1.5
                short_end = ends_a_paragraph(previous.text) and previous.x1 < x1 - line.size * 1.5
                if indented or short_end:
                    paragraphs.append([])
            paragraphs[-1].append(line.text)
        texts = [join_lines(p) for p in paragraphs if p]
        blocks.append(TextBlock(x0, y0, x1, y1, [t for t in texts if t], max(sizes or [0]), sizes))
    return blocks, removed


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


def repair_around_tables(blocks: list[tuple[Block, bool]]) -> list[Block]:
    """Paged-text repair of the running text only: paragraphs cut by a page or column break joined, never
    across a table; a table's rows (flagged True) left as they are."""
    repaired: list[Block] = []
    run: list[Block] = []
    for block, is_row in blocks:
        if is_row:
            repaired += join_cut_paragraphs(run)
            run = []
            repaired.append(block)
        else:
            run.append(block)
    return repaired + join_cut_paragraphs(run)


def _count(n: int, noun: str, plural: str = "") -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


class PdfLayout(Layout):
    name = "pdf"
    repairs = True

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        import pymupdf

        pymupdf.TOOLS.mupdf_display_errors(False)  # a damaged file becomes one warning, not lines of MuPDF noise
        with pymupdf.open(stream=data, filetype="pdf") as document:
            if document.needs_pass:
                raise ValueError("the PDF is encrypted")
            read = [read_page(page) for page in document]
            properties = document.metadata or {}
        running = running_lines(read)
        continue_tables(read, running)
        pages, furniture = [], 0
        for page in read:
            blocks, removed = text_blocks(page, running)
            furniture += removed
            pages.append(reading_order(blocks + page.tables, page.width))
        tables = [block for page in read for block in page.tables]
        rows = sum(len(t.paragraphs) for t in tables)
        tables = [table for table in tables if not table.continued]  # a table over two pages is one
        self.found = (_count(len(read), "page"), f"{_count(len(tables), 'table')} ({_count(rows, 'row')})",
                      f"{_count(furniture, 'header or footer line', 'header and footer lines')} left out")
        sizes = Counter()
        for page in pages:
            for block in page:
                sizes.update(block.chars)
        body_size = sizes.most_common(1)[0][0] if sizes else 0

        items: list[tuple[float, str, int, bool]] = []  # (heading size or 0, text, page, a table row)
        for number, page in enumerate(pages, start=1):
            for block in page:
                text = join_lines(block.paragraphs)
                if (not block.table and body_size and block.size >= body_size * HEADING_SIZE_RATIO
                        and len(text) <= MAX_HEADING_CHARS and not ends_a_paragraph(text)):
                    items.append((block.size, text, number, False))
                else:
                    items += [(0, paragraph, number, block.table) for paragraph in block.paragraphs]

        texts = [text for _, text, _, _ in items]
        if article_starts(texts):  # a newspaper page printed to PDF: its articles carry that layout's context
            articles = split_page(source, list(enumerate(texts)))
            for article in articles:
                article.metadata["layout"] = NewspaperLayout.name
            return articles

        title = ""
        heading_sizes = sorted({size for size, *_ in items if size}, reverse=True)
        # The title: the first heading in the largest type, if it is on the first page; the file's own title
        # property, when it states one, names the document.
        title_at = next((i for i, (size, *_) in enumerate(items) if heading_sizes and size == heading_sizes[0]),
                        None)
        if title_at is not None and items[title_at][2] == 1:
            title = items.pop(title_at)[1]
            if not any(size == heading_sizes[0] for size, *_ in items):
                heading_sizes.pop(0)
        title = shown_title(properties.get("title") or "") or title
        levels = {size: level for level, size in enumerate(heading_sizes, start=1)}
        path = HeadingPath()
        blocks: list[tuple[Block, bool]] = []
        for size, text, page_number, is_row in items:
            if size:
                path.enter(levels[size], text)
            else:
                blocks.append((Block(text, path.section, page=page_number), is_row))
        kept = {id(block) for block in drop_exact_repeats([block for block, _ in blocks])}
        repaired = repair_around_tables([(block, is_row) for block, is_row in blocks if id(block) in kept])
        metadata = {"author": shown_author(properties.get("author") or "")}
        date = ""
        if repaired and (date := dateline_date(repaired[0].text)):
            metadata["header_lines"] = [title, repaired.pop(0).text]
        return [ParsedArticle(title or stem_title(source), repaired, date,
                              {k: v for k, v in metadata.items() if v})]
