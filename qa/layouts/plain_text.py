"""Plain text: an optional title line and dateline, numbered headings ("一、", "第二章") as sections."""

from __future__ import annotations

import re

from ..text import ends_a_paragraph
from .base import Block, HeadingPath, Layout, ParsedArticle, dateline_date, stem_title, unwrap

# A first line this short without end punctuation, followed by more text, is the title.
MAX_TITLE_CHARS = 60
_CN_NUMBER = "一二三四五六七八九十百零〇两"
# Kinds of numbered headings, each a level; the level is the order in which a document first uses them.
_HEADING_KINDS = [
    re.compile(rf"^第[{_CN_NUMBER}\d]+(?:章|编|篇|部分)"),
    re.compile(rf"^第[{_CN_NUMBER}\d]+节"),
    re.compile(rf"^[{_CN_NUMBER}]+[、．]"),
    re.compile(rf"^[（(][{_CN_NUMBER}]+[)）]"),
    re.compile(r"^\d+(?:\.\d+)+\s+\S"),
]
# ("1." and "1、" lines are list items far more often than headings: they stay paragraphs.)
MAX_HEADING_CHARS = 30


def heading_kind(line: str) -> int | None:
    if len(line) > MAX_HEADING_CHARS or ends_a_paragraph(line) or line.endswith(("，", ",", "：", ":")):
        return None
    return next((kind for kind, pattern in enumerate(_HEADING_KINDS) if pattern.match(line)), None)


def line_groups(text: str) -> list[list[str]]:
    """Runs of non-blank lines (stripped), split at blank lines."""
    groups: list[list[str]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if line:
            groups[-1].append(line)
        elif groups[-1]:
            groups.append([])
    return [group for group in groups if group]


def take_title(groups: list[list[str]]) -> tuple[str, str, list[str]]:
    """(title, date, header lines) from the top of a text, removing those lines from the groups."""
    title, date, header = "", "", []
    lines_left = sum(len(group) for group in groups)
    first = groups[0][0] if groups else ""
    if (first and lines_left > 1 and len(first) <= MAX_TITLE_CHARS and not ends_a_paragraph(first)
            and not dateline_date(first) and heading_kind(first) is None
            and (len(groups[0]) == 1 or len(first) < 20)):
        title = first
        header.append(first)
        groups[0].pop(0)
    for group in groups[:2]:  # a dateline right under the title (or at the very top)
        if group and (found := dateline_date(group[0])):
            date = found
            header.append(group.pop(0))
            break
        if group:
            break
    groups[:] = [group for group in groups if group]
    return title, date, header


def blocks_of(groups: list[list[str]]) -> list[Block]:
    """Numbered headings become the section of the paragraphs below them; other lines are paragraphs."""
    path = HeadingPath()
    levels: dict[int, int] = {}
    blocks: list[Block] = []
    for group in groups:
        run: list[str] = []
        for line in group:
            kind = heading_kind(line)
            if kind is None:
                run.append(line)
                continue
            blocks += [Block(text, path.section) for text in unwrap(run)]
            run = []
            path.enter(levels.setdefault(kind, len(levels) + 1), line)
        blocks += [Block(text, path.section) for text in unwrap(run)]
    return blocks


class PlainTextLayout(Layout):
    name = "text"

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        groups = line_groups(text or "")
        title, date, header = take_title(groups)
        metadata = {"header_lines": header} if len(header) > 1 else {}
        return [ParsedArticle(title or stem_title(source), blocks_of(groups), date, metadata)]
