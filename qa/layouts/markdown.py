"""Markdown: "# title" is the title, every heading level a section; list items are paragraphs, and a table's rows
each one with its column headers."""

from __future__ import annotations

import re

from ..text import find_date
from .base import (
    Block,
    HeadingPath,
    Layout,
    ParsedArticle,
    dateline_date,
    join_lines,
    states_a_unit_only,
    stem_title,
    table_rows,
    unwrap,
)

_ATX_HEADING = re.compile(r"^(#{1,6})(?:\s+|(?=[\u4e00-\u9fff]))(.*?)(?:\s+#+)?\s*$")
_SETEXT_UNDERLINE = re.compile(r"^(=+|-{2,})\s*$")
_THEMATIC_BREAK = re.compile(r"^(?:\*\s*){3,}$|^(?:-\s*){3,}$|^(?:_\s*){3,}$")
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,9}[.)])\s+(.*)$")
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?$")
_FENCE = re.compile(r"^(`{3,}|~{3,})")
_QUOTE_MARKER = re.compile(r"^(?:>\s?)+")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"\*\*|__|~~|`")
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_FRONT_MATTER_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$")


def inline_text(text: str) -> str:
    """Markdown inline markup removed: links and images keep their text, emphasis marks go."""
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _HTML_BREAK.sub(" ", text)
    return _EMPHASIS.sub("", text).strip()


def table_cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [inline_text(cell.replace("\\|", "|")) for cell in re.split(r"(?<!\\)\|", line)]


# The line just above a table is its caption when this short ("单位：万元", "表1 主要指标（亿元）").
MAX_CAPTION_CHARS = 40


def table_paragraphs(items: list[tuple[str, int, str]], rows: list[list[str]]) -> list[str]:
    """A table's rows in the one row representation, the unit taken from the heading or short line above it; a
    line that only states the unit is dropped, every row says it instead."""
    caption = items[-1][2] if items and len(items[-1][2]) <= MAX_CAPTION_CHARS else ""
    if caption and items[-1][0] == "text" and states_a_unit_only(caption):
        items.pop()
    return table_rows(rows, caption)


def front_matter(lines: list[str]) -> tuple[dict, int]:
    """`key: value` lines between two "---" lines at the very top, and the number of lines they take."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for end in range(1, min(len(lines), 60)):
        if lines[end].strip() in ("---", "..."):
            pairs = (_FRONT_MATTER_KEY.match(line.strip()) for line in lines[1:end])
            return {m.group(1).lower(): m.group(2).strip().strip("\"'") for m in pairs if m}, end + 1
    return {}, 0


class MarkdownLayout(Layout):
    name = "markdown"

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        lines = (text or "").splitlines()
        meta, skip = front_matter(lines)
        items: list[tuple[str, int, str]] = []  # ("heading", level, text) or ("text", 0, paragraph)
        run: list[str] = []  # lines of the paragraph being read
        item: list[str] | None = None  # lines of the list item being read
        fence: str | None = None
        code: list[str] = []
        table: list[list[str]] = []  # rows of the table being read

        def end_table() -> None:
            nonlocal table
            if table:
                items.extend(("text", 0, row) for row in table_paragraphs(items, table))
                table = []

        def flush() -> None:
            nonlocal run, item
            end_table()
            if item is not None:
                items.append(("text", 0, inline_text(join_lines(item))))
                item = None
            items.extend(("text", 0, inline_text(paragraph)) for paragraph in unwrap(run))
            run = []

        for raw in lines[skip:]:
            if fence is not None:
                if raw.strip().startswith(fence):
                    items.append(("text", 0, "\n".join(code).strip()))
                    fence, code = None, []
                else:
                    code.append(raw)
                continue
            line = _QUOTE_MARKER.sub("", raw.strip()).strip()
            if match := _FENCE.match(line):
                flush()
                fence = match.group(1)
                continue
            if not line:
                flush()
                continue
            if match := _ATX_HEADING.match(line):
                flush()
                items.append(("heading", len(match.group(1)), inline_text(match.group(2))))
                continue
            if (match := _SETEXT_UNDERLINE.match(line)) and run and item is None:
                heading = run.pop()
                flush()
                items.append(("heading", 1 if match.group(1)[0] == "=" else 2, inline_text(heading)))
                continue
            if _THEMATIC_BREAK.match(line):
                flush()
                continue
            if line.startswith("|") or (line.count("|") >= 2 and not raw.startswith(" ")):
                if not table:
                    flush()
                if not _TABLE_SEPARATOR.match(line):
                    table.append(table_cells(line))
                continue
            end_table()
            if match := _LIST_ITEM.match(line):
                flush()
                item = [match.group(1)]
                continue
            if item is not None:
                item.append(line)
            else:
                run.append(line)
        if fence is not None and code:
            items.append(("text", 0, "\n".join(code).strip()))
        flush()
        return [self.article(source, [entry for entry in items if entry[2]], meta)]

    def article(self, source: str, items: list[tuple[str, int, str]], meta: dict) -> ParsedArticle:
        title = meta.get("title", "")
        first_text = next((i for i, (kind, _, _) in enumerate(items) if kind == "text"), len(items))
        # The title: the first level-1 heading above all text, else the first heading above all text.
        title_at = next((i for i, (kind, level, _) in enumerate(items[:first_text]) if level == 1), None)
        if title_at is None and not title:
            title_at = next((i for i, (kind, _, _) in enumerate(items[:first_text]) if kind == "heading"), None)
        if title_at is not None and not title:
            title = items.pop(title_at)[2]
        elif title_at is not None and items[title_at][2] == title:
            items.pop(title_at)
        header = [title] if title else []
        date = find_date(meta.get("date", ""))
        if not date and items and items[0][0] == "text" and (date := dateline_date(items[0][2])):
            header.append(items.pop(0)[2])
        path = HeadingPath()
        blocks = []
        for kind, level, text in items:
            if kind == "heading":
                path.enter(level, text)
            else:
                blocks.append(Block(text, path.section))
        metadata = {key: value for key, value in meta.items() if key not in ("title", "date") and value}
        if len(header) > 1:
            metadata["header_lines"] = header
        return ParsedArticle(title or stem_title(source), blocks, date, metadata)

