"""What every layout returns (articles of blocks with their heading path) and the helpers layouts share."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..text import ends_a_paragraph, find_date


class UnreadableFile(Exception):
    """A file that is not text in an encoding we can recognise, or of a type we do not read."""


class FileTooLarge(UnreadableFile):
    """A file that would take more than a configured bound to read (what it unpacks to, its paragraphs)."""


# What every zip-based format (.docx, .xlsx, ...) starts with.
ZIP_SIGNATURE = b"PK\x03\x04"
# Not an Office file but a zip of many parts, each a lookup and an allocation for the parser.
MAX_ZIP_ENTRIES = 10_000


def check_expansion(data: bytes, max_bytes: int, limit_name: str = "QA_MAX_EXPANDED_BYTES") -> None:
    """FileTooLarge when a zip-based file would unpack to more than max_bytes: the upload limit counts
    compressed bytes, and a few hundred KB of zip can hold gigabytes of XML that a parser then reads into
    memory. Python's zipfile never inflates an entry past the size its directory declares, so the declared
    sizes bound what any reader of the zip gets. Data that is not a readable zip is left to its parser."""
    if not data.startswith(ZIP_SIGNATURE):
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return
    if len(entries) > MAX_ZIP_ENTRIES:
        raise FileTooLarge(f"it is a zip of {len(entries):,} parts, more than the {MAX_ZIP_ENTRIES:,} a document "
                           f"may hold")
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > max_bytes:
        raise FileTooLarge(f"it unpacks to {unpacked:,} bytes ({len(data):,} compressed), more than the limit of "
                           f"{max_bytes:,} ({limit_name})")


@dataclass
class Block:
    """A paragraph as the layout found it, under its heading path (outermost first)."""

    text: str
    section: tuple[str, ...] = ()
    page: int = 0  # the PDF page it starts on, 1-based; 0 when the format has no pages
    row: int = 0  # the spreadsheet row it was read from, 1-based; 0 otherwise


@dataclass
class ParsedArticle:
    """One article of a document before numbering: title, date, layout metadata and its blocks in order."""

    title: str
    blocks: list[Block]
    date: str = ""
    metadata: dict = field(default_factory=dict)


class Layout:
    """A parser for one document layout; `parse` sees the raw bytes and, for text files, the decoded text."""

    name = ""
    # What reading the file found, for the build report ("4 pages", "2 tables (9 rows)"); set by parse.
    found: tuple[str, ...] = ()
    # Paragraphs cut by a page or column break are joined and exact repeats dropped only where the
    # layout prints text into pages (newspaper, PDF): elsewhere a repeated paragraph is the author's.
    repairs = False

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        raise NotImplementedError

    def context(self, metadata: dict) -> str:
        """The metadata values that say who or where an article is about, for the context every chunk
        carries; none by default."""
        return ""


class HeadingPath:
    """The headings above the current line: a heading of level n replaces those of level n and deeper."""

    def __init__(self):
        self.levels: list[tuple[int, str]] = []

    def enter(self, level: int, heading: str) -> None:
        self.levels = [(n, text) for n, text in self.levels if n < level] + [(level, heading)]

    @property
    def section(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.levels)


def stem_title(source: str) -> str:
    return Path(source).stem


# What a program, not a person, writes into a file's author property: its own name or a default account.
_TOOL_AUTHORS = re.compile(
    r"^(?:python-docx|python-pptx|openpyxl|xlsxwriter|docx4j|apache poi|reportlab|pymupdf|mupdf|fitz|pdfium|"
    r"libreoffice|openoffice(?:\.org)?|wps(?: office)?|microsoft(?: office)?(?: word| excel)?(?: user)?|"
    r"administrator|admin|user|owner|author|unknown|作者|用户|未知)$",
    re.IGNORECASE)
# A title a program gave the file ("Microsoft Word - 报告.docx", "Untitled", "文档1").
_TOOL_TITLES = re.compile(r"^(?:microsoft (?:word|excel|powerpoint) - .*|untitled.*|无标题.*|文档\d*|"
                          r"document\d*|.*\.(?:docx?|xlsx?|pptx?|pdf|txt|wps))$", re.IGNORECASE)


def shown_author(value: str) -> str:
    """A file's author property as a reader should see it: blank when a tool wrote it."""
    value = " ".join((value or "").split())
    return "" if _TOOL_AUTHORS.match(value) else value


def shown_title(value: str) -> str:
    """A file's title property, blank when empty or a tool's default."""
    value = " ".join((value or "").split())
    return "" if _TOOL_TITLES.match(value) else value


# A dateline is a short line holding a date and little else ("2024年3月5日", "发布日期：2024-03-05").
MAX_DATELINE_CHARS = 40


def dateline_date(line: str) -> str:
    return find_date(line) if len(line) <= MAX_DATELINE_CHARS and not ends_a_paragraph(line) else ""


_SPACE_BETWEEN = re.compile(r"[A-Za-z0-9]$")
_SPACE_BEFORE = re.compile(r"^[A-Za-z0-9]")


def join_lines(lines: list[str]) -> str:
    """Lines of one wrapped paragraph joined back: Chinese with nothing between, Latin words with a space."""
    text = previous = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        # Latin words wrapped at a space get it back; a Chinese line cut inside "18%" gets none.
        if text and " " in previous and _SPACE_BETWEEN.search(text) and _SPACE_BEFORE.match(line):
            text += " "
        elif text.endswith("-") and len(text) > 1 and text[-2].isalpha() and line[:1].islower():
            text = text[:-1]  # a word hyphenated at the line end
        text += line
        previous = line
    return text


# A short line without end punctuation directly above text: a heading, not the start of a wrapped paragraph.
MAX_HEADING_CHARS = 30
# A line at least this long without end punctuation is a paragraph that goes on in the next line.
MIN_WRAPPED_CHARS = 20


def unwrap(lines: list[str]) -> list[str]:
    """The paragraphs of a group of consecutive lines: a long line without end punctuation goes on in the
    next one (text wrapped by its writer); any other line ends its paragraph."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        current.append(line)
        if len(line) < MIN_WRAPPED_CHARS or ends_a_paragraph(line):
            paragraphs.append(join_lines(current))
            current = []
    if current:
        paragraphs.append(join_lines(current))
    return [p for p in paragraphs if p]


_UNIT_IN_CAPTION = re.compile(
    r"(?:单位|單位|unit)\s*[:：]\s*([^\s)）]+)"
    # or a title ending in its unit: "主要会计数据（亿元）", "员工构成(人)"
    r"|[（(]\s*((?:[万亿千百]|百万|千万)?(?:元|美元|港元|股|人|人次|户|吨|%|个|项|平方米|千瓦时))\s*[)）]\s*$",
    re.IGNORECASE)


# A caption that only states a table's unit ("单位：亿元"): every row says it instead.
_UNIT_LINE = re.compile(r"^[（(]?\s*(?:单位|單位|unit)\s*[:：]\s*\S{1,12}?\s*[)）]?$", re.IGNORECASE)


def states_a_unit_only(text: str) -> bool:
    return _UNIT_LINE.match(text.strip()) is not None


_ROW_LABEL = re.compile(r"^([^：；。！？]{1,60})：(.+)$")
_STATED_UNIT = re.compile(r"[（(]([^（）()]{1,8})[)）]$")


def stated_unit(label: str) -> str:
    """The unit a row label or column header states in closing brackets: "亿元" of "研发投入（亿元）", "元" of
    "月薪（元）"; blank when it states none."""
    match = _STATED_UNIT.search(label.strip())
    return match.group(1) if match else ""


def table_row_cells(text: str) -> tuple[str, str, list[tuple[str, str]]] | None:
    """A row as table_rows writes it, read back: its label, the unit the label states ("亿元" of
    "研发投入（亿元）") and each cell as (column header, value); None for text that is not such a row."""
    match = _ROW_LABEL.match(text)
    if match is None or text.rstrip()[-1:] in "。！？":
        return None
    cells = []
    for cell in match.group(2).split("；"):
        header, _, value = cell.strip().rpartition(" ")
        if not header or not value:
            return None
        cells.append((header, value))
    return match.group(1), stated_unit(match.group(1)), cells


def table_rows(rows: list[list[str]], caption: str = "") -> list[str]:
    """Each data row of a table as one self-contained unit: its label, then every cell under its column header,
    so a row answers "X的Y是多少" and is cited alone ("研发投入（亿元）：2023年 2.87；2022年 2.11；同比变动 36.0%").

    The first row is taken for the header. A unit the caption states ("单位：亿元") goes after the label when
    the label carries none. A table of one row, or one column, has no headers to carry: its cells are joined.
    """
    rows = [[" ".join(cell.split()) for cell in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        return []
    width = max(len(row) for row in rows)
    keep = [i for i in range(width) if any(i < len(row) and row[i] for row in rows)]  # drop empty columns
    rows = [[row[i] if i < len(row) else "" for i in keep] for row in rows]
    if len(rows) == 1 or len(keep) == 1:
        return ["；".join(cell for cell in row if cell) for row in rows]
    header, body = rows[0], rows[1:]
    unit = _UNIT_IN_CAPTION.search(caption)
    units = f"（{unit.group(1) or unit.group(2)}）" if unit else ""
    lines = []
    for row in body:
        label = row[0] or header[0]
        if units and not re.search(r"[（(].*[)）]$", label):
            label += units
        cells = [f"{header[i]} {cell}".strip() if header[i] else cell for i, cell in enumerate(row) if i and cell]
        if cells:
            lines.append(f"{label}：{'；'.join(cells)}")
        elif label:
            lines.append(label)
    return lines
