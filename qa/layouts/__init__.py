"""Document layouts: one small parser per layout, and detect() to choose one for a file."""

from __future__ import annotations

import re
from pathlib import Path

from .base import Block, Layout, ParsedArticle
from .docx_file import DocxLayout
from .html_page import HtmlLayout
from .markdown import MarkdownLayout
from .newspaper import NewspaperLayout, looks_like_a_page
from .pdf_file import PdfLayout
from .plain_text import PlainTextLayout
from .spreadsheet import CsvLayout, TsvLayout, XlsxLayout

__all__ = ["LAYOUTS", "TEXT_SUFFIXES", "BINARY_SUFFIXES", "Block", "Layout", "ParsedArticle", "detect",
           "layout_named"]

LAYOUTS: dict[str, type[Layout]] = {
    layout.name: layout
    for layout in (PlainTextLayout, MarkdownLayout, HtmlLayout, DocxLayout, PdfLayout, NewspaperLayout, XlsxLayout,
                   CsvLayout, TsvLayout)
}
# Files read as text (decoded first) and files a parser reads from their bytes.
TEXT_SUFFIXES = (".txt", ".text", ".md", ".markdown", ".html", ".htm", ".xhtml", ".csv", ".tsv")
# A macro-enabled workbook (.xlsm) is read as its cells: openpyxl reads no macro, let alone runs one.
BINARY_SUFFIXES = (".docx", ".pdf", ".xlsx", ".xlsm")
_HTML_START = re.compile(r"^\s*(?:<!doctype html|<html[\s>])", re.IGNORECASE)
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+\S", re.MULTILINE)


def layout_named(name: str) -> Layout:
    """The layout registered under a name; KeyError names the known ones."""
    if name not in LAYOUTS:
        raise KeyError(f"unknown layout {name!r}: one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name]()


def detect(path: Path, text: str | None) -> Layout:
    """The layout of a file: binary formats, .csv and .tsv by suffix; text by its content (an HTML document, a
    newspaper page of headline + "——访…" + byline triples, Markdown headings), else plain text."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return PdfLayout()
    if suffix == ".docx":
        return DocxLayout()
    if suffix in (".xlsx", ".xlsm"):
        return XlsxLayout()
    if suffix == ".csv":
        return CsvLayout()
    if suffix == ".tsv":
        return TsvLayout()
    text = text or ""
    if suffix in (".html", ".htm", ".xhtml") or _HTML_START.match(text[:1000]):
        return HtmlLayout()
    lines = [line.strip() for line in text.splitlines()]
    if looks_like_a_page([line.lstrip("#").strip() for line in lines if line]):
        return NewspaperLayout()
    if suffix in (".md", ".markdown") or _MARKDOWN_HEADING.search(text[:20_000]):
        return MarkdownLayout()
    return PlainTextLayout()
