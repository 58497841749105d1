"""Word .docx: the Title style (or a first Heading 1) is the title, Heading N styles sections, tables rows."""

from __future__ import annotations

import io
import re

from .base import Block, HeadingPath, Layout, ParsedArticle, dateline_date, stem_title

_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.IGNORECASE)


def style_level(style_name: str) -> int | None:
    """0 for the title style, n for "Heading n", None for body text."""
    name = style_name.strip().lower()
    if name in ("title", "标题"):
        return 0
    match = _HEADING_STYLE.match(name)
    return int(match.group(1)) if match else None


class DocxLayout(Layout):
    name = "docx"

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph as DocxParagraph

        document = docx.Document(io.BytesIO(data))
        items: list[tuple[int | None, str]] = []
        body = document.element.body
        for child in body.iterchildren():
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "p":
                paragraph = DocxParagraph(child, document)
                text = paragraph.text.strip()
                if text:
                    style = paragraph.style.name if paragraph.style is not None else ""
                    items.append((style_level(style or ""), text))
            elif tag == "tbl":
                for row in Table(child, document).rows:
                    cells = []
                    for cell in row.cells:  # a merged cell is returned once per grid column it spans
                        cell_text = " ".join(cell.text.split())
                        if cell_text and (not cells or cells[-1] != cell_text):
                            cells.append(cell_text)
                    if cells:
                        items.append((None, " | ".join(cells)))

        properties = document.core_properties
        title = next((text for level, text in items if level == 0), "")
        if title:
            items.remove((0, title))
        else:
            first_text = next((i for i, (level, _) in enumerate(items) if level is None), len(items))
            title_at = next((i for i, (level, _) in enumerate(items[:first_text]) if level == 1), None)
            title = items.pop(title_at)[1] if title_at is not None else (properties.title or "").strip()
        header, date = [title], ""
        if items and items[0][0] is None and (date := dateline_date(items[0][1])):
            header.append(items.pop(0)[1])
        path = HeadingPath()
        blocks = []
        for level, text in items:
            if level is None:
                blocks.append(Block(text, path.section))
            else:
                path.enter(max(level, 1), text)
        # The file's author property, not its created date: a template's date is not one the text states.
        metadata = {"author": (properties.author or "").strip()}
        if len(header) > 1 and title:
            metadata["header_lines"] = header
        return [ParsedArticle(title or stem_title(source), blocks, date, {k: v for k, v in metadata.items() if v})]
