"""Word .docx: the Title style (or a first Heading 1) is the title, Heading N styles sections, a table's rows
each with its column headers; an author or title property a tool wrote is not shown."""

from __future__ import annotations

import io
import re

from .base import (
    Block,
    HeadingPath,
    Layout,
    ParsedArticle,
    dateline_date,
    shown_author,
    shown_title,
    states_a_unit_only,
    stem_title,
    table_rows,
)

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
                rows = []
                for row in Table(child, document).rows:
                    cells, previous = [], None
                    for cell in row.cells:  # a merged cell is returned once per grid column it spans: read once
                        cells.append("" if cell._tc is previous else " ".join(cell.text.split()))
                        previous = cell._tc
                    rows.append(cells)
                # the paragraph just above a table is its caption when short ("单位：万元", "表1 …（亿元）")
                caption = items[-1][1] if items and items[-1][0] is None and len(items[-1][1]) <= 40 else ""
                if states_a_unit_only(caption):
                    items.pop()
                items += [(None, text) for text in table_rows(rows, caption)]

        properties = document.core_properties
        title = next((text for level, text in items if level == 0), "")
        if title:
            items.remove((0, title))
        else:
            first_text = next((i for i, (level, _) in enumerate(items) if level is None), len(items))
            title_at = next((i for i, (level, _) in enumerate(items[:first_text]) if level == 1), None)
            title = items.pop(title_at)[1] if title_at is not None else shown_title(properties.title or "")
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
        metadata = {"author": shown_author(properties.author or "")}
        if len(header) > 1 and title:
            metadata["header_lines"] = header
        return [ParsedArticle(title or stem_title(source), blocks, date, {k: v for k, v in metadata.items() if v})]
