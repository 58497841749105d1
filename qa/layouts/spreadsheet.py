"""Spreadsheets (.xlsx, .csv): each sheet a section, each row a paragraph with its cells under the column headers."""

from __future__ import annotations

import csv
import datetime
import io

from .base import Block, Layout, ParsedArticle, stem_title, table_rows

# The delimiters a .csv is tried with (Excel writes ";" where "," is the decimal mark, "\t" for "text").
CSV_DELIMITERS = ",;\t|"
SNIFF_CHARS = 20_000
# A first column that only numbers the rows names nothing: the row is labelled by the column after it, and
# its number goes last, where no question about the row's figures takes it for one of them.
SERIAL_HEADERS = {"序号", "编号", "序", "no", "no.", "#"}


def sheet_blocks(rows: list[tuple[int, list[str]]], section: tuple[str, ...] = ()) -> list[Block]:
    """The rows of one sheet (sheet row number, cells) as blocks: empty rows and columns dropped, the first row
    left the header, one-cell rows above it (a title, "单位：万元") its caption, in every row's section."""
    rows = [(number, [" ".join(cell.split()) for cell in cells]) for number, cells in rows]
    rows = [(number, cells) for number, cells in rows if any(cells)]
    width = max((len(cells) for _, cells in rows), default=0)
    keep = [i for i in range(width) if any(i < len(cells) and cells[i] for _, cells in rows)]
    rows = [(number, [cells[i] if i < len(cells) else "" for i in keep]) for number, cells in rows]
    captions = []
    while len(keep) > 1 and len(rows) > 2 and sum(1 for cell in rows[0][1] if cell) == 1:
        captions.append(next(cell for cell in rows.pop(0)[1] if cell))
    caption = " ".join(captions)
    section = (*section, caption) if caption else section
    if len(rows) < 2 or len(keep) < 2:  # no header to carry: each row's cells joined
        return [Block(line, section, row=number) for number, cells in rows for line in table_rows([cells], caption)]
    header = rows[0][1]
    if header[0].lower() in SERIAL_HEADERS:
        rows = [(number, [*cells[1:], cells[0]]) for number, cells in rows]
        header = rows[0][1]
    return [Block(line, section, row=number) for number, cells in rows[1:]
            for line in table_rows([header, cells], caption)]


def cell_text(value, number_format: str = "") -> str:
    """A cell as the sheet shows it: 12.0 as "12", 0.237 formatted "0.0%" as "23.7%", a date as 2024-03-05."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, int | float):
        if "%" in number_format:
            decimals = len(number_format.split("%")[0].partition(".")[2].rstrip("_)"))
            return f"{value * 100:.{decimals}f}%"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(round(value, 10)) if isinstance(value, float) else str(value)
    return str(value).strip()


class XlsxLayout(Layout):
    name = "xlsx"

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        import openpyxl

        # data_only: a formula reads as the value the spreadsheet program last computed (empty if never
        # computed), never as its "=B2*2" text.
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            blocks: list[Block] = []
            sheets = rows = 0
            for sheet in workbook.worksheets:
                cells = [(number, [cell_text(cell.value, getattr(cell, "number_format", "") or "") for cell in row])
                         for number, row in enumerate(sheet.iter_rows(), start=1)]
                found = sheet_blocks(cells, (sheet.title,))
                if found:
                    sheets += 1
                    rows += len({block.row for block in found})
                    blocks += found
            title = (workbook.properties.title or "").strip()
        finally:
            workbook.close()
        self.found = (f"sheets {sheets}, rows {rows}",)
        return [ParsedArticle(title or stem_title(source), blocks)]


class CsvLayout(Layout):
    name = "csv"

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        text = text or ""
        try:
            dialect = csv.Sniffer().sniff(text[:SNIFF_CHARS], delimiters=CSV_DELIMITERS)
        except csv.Error:  # one column, or too few rows to tell: a comma-separated file
            dialect = csv.excel
        records = csv.reader(io.StringIO(text, newline=""), dialect)
        blocks = sheet_blocks([(number, cells) for number, cells in enumerate(records, start=1)])
        self.found = (f"sheets {1 if blocks else 0}, rows {len({block.row for block in blocks})}",)
        return [ParsedArticle(stem_title(source), blocks)]
