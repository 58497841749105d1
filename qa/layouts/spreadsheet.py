"""Spreadsheets (.xlsx, .xlsm, .csv, .tsv): each sheet a section, each row a paragraph under its column headers."""

from __future__ import annotations

import csv
import datetime
import io
import zipfile

from .base import Block, Layout, ParsedArticle, stem_title, table_rows

# The delimiters a .csv is tried with (Excel writes ";" where "," is the decimal mark, "\t" for "text").
CSV_DELIMITERS = ",;\t|"
SNIFF_CHARS = 20_000
# A workbook that unpacks to at most this is loaded whole, merged cells and all: some 1.3x the time of a
# read-only load and 9 bytes of memory per byte unpacked (a 20,000-row sheet: 6 MB unpacked, 53 MB loaded).
MAX_WHOLE_BYTES = 10_000_000
# A first column that only numbers the rows names nothing: the row is labelled by the column after it, and
# its number goes last, where no question about the row's figures takes it for one of them.
SERIAL_HEADERS = {"序号", "编号", "序", "no", "no.", "#"}


# A merged range as openpyxl gives it: first row, first column, last row, last column (1-based).
Merge = tuple[int, int, int, int]
# A header is at most this many rows deep ("2023年" merged over "收入"/"支出" is two).
MAX_HEADER_ROWS = 3


def sheet_blocks(rows: list[tuple[int, list[str]]], section: tuple[str, ...] = (),
                 merges: list[Merge] = ()) -> list[Block]:
    """The rows of one sheet (sheet row number, cells from column A) as blocks: empty rows and columns dropped,
    one-cell rows above the header (a title, "单位：万元") its caption, the header one row or, under a cell merged
    across columns, as many as the merges span, each column headed by its cells top to bottom ("2023年 收入");
    a cell merged down a column given to each row it spans; every row in the sheet's section."""
    rows = [(number, [" ".join(cell.split()) for cell in cells]) for number, cells in rows]
    rows = [(number, cells) for number, cells in rows if any(cells)]
    width = max((len(cells) for _, cells in rows), default=0)
    keep = [i for i in range(width) if any(i < len(cells) and cells[i] for _, cells in rows)]
    rows = [(number, [cells[i] if i < len(cells) else "" for i in keep]) for number, cells in rows]
    captions = []
    while len(keep) > 1 and len(rows) > 2 and sum(1 for cell in rows[0][1] if cell) == 1:
        caption = next(cell for cell in rows.pop(0)[1] if cell)
        if caption not in captions:  # a title merged down two rows is read once
            captions.append(caption)
    caption = " ".join(captions)
    section = (*section, caption) if caption else section
    if len(rows) < 2 or len(keep) < 2:  # no header to carry: each row's cells joined
        return [Block(line, section, row=number) for number, cells in rows for line in table_rows([cells], caption)]
    position = {column: at for at, column in enumerate(keep)}
    spans = [(first_row, last_row, [position[c] for c in range(first_column - 1, last_column) if c in position])
             for first_row, first_column, last_row, last_column in merges]
    spans = [span for span in spans if span[2]]
    depth = header_depth(rows, spans)
    header = combined_header(rows[:depth], spans)
    body = filled_down(rows[depth:], spans)
    if header[0].lower() in SERIAL_HEADERS:
        header = [*header[1:], header[0]]
        body = [(number, [*cells[1:], cells[0]]) for number, cells in body]
    return [Block(line, section, row=number) for number, cells in body for line in table_rows([header, cells], caption)]


def header_depth(rows: list[tuple[int, list[str]]], spans: list[tuple[int, int, list[int]]]) -> int:
    """How many of the first rows head the columns: one, and the rows under a header cell merged across columns
    (its sub-headers) or down them, while a row of data is left below."""
    numbers = [number for number, _ in rows]
    depth = 1
    while depth < min(MAX_HEADER_ROWS, len(rows) - 1):
        last = numbers[depth - 1]
        below = rows[depth][1]
        deeper = any(
            numbers[0] <= first <= last and (last_row > last or (len(columns) > 1 and last_row == last
                                                                 and all(below[c] for c in columns)))
            for first, last_row, columns in spans)
        if not deeper:
            break
        depth += 1
    return depth


def combined_header(rows: list[tuple[int, list[str]]], spans: list[tuple[int, int, list[int]]]) -> list[str]:
    """Each column's header cells top to bottom, a cell merged across columns heading each of them."""
    grid = [list(cells) for _, cells in rows]
    for at, (number, _) in enumerate(rows):
        for first, last, columns in spans:
            if first <= number <= last and len(columns) > 1:
                value = next((grid[at][c] for c in columns if grid[at][c]), "")
                for column in columns:
                    grid[at][column] = grid[at][column] or value
    header = []
    for column in range(len(grid[0])):
        parts = list(dict.fromkeys(cells[column] for cells in grid if cells[column]))
        header.append(" ".join(parts))
    return header


def filled_down(rows: list[tuple[int, list[str]]], spans: list[tuple[int, int, list[int]]]):
    """Data rows with a cell merged down a column ("技术部" over three people's rows) given to each row."""
    by_number = {number: at for at, (number, _) in enumerate(rows)}
    rows = [(number, list(cells)) for number, cells in rows]
    for first, last, columns in spans:
        if last > first and first in by_number:
            value = rows[by_number[first]][1][columns[0]]
            for number in range(first + 1, last + 1):
                if number in by_number and not rows[by_number[number]][1][columns[0]]:
                    rows[by_number[number]][1][columns[0]] = value
    return rows


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


def unpacked_size(data: bytes) -> int:
    """What a zip-based file's parts unpack to, as its directory declares (zipfile never inflates past it);
    unknown (taken as large) for data that is no readable zip, which openpyxl then refuses."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return MAX_WHOLE_BYTES + 1


class XlsxLayout(Layout):
    name = "xlsx"

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        import openpyxl

        # data_only: a formula reads as the value the spreadsheet program last computed (empty if never
        # computed), never as its "=B2*2" text. Only a workbook loaded whole tells its merged cells; read-only
        # mode keeps a large one's memory small.
        whole = unpacked_size(data) <= MAX_WHOLE_BYTES
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=not whole, data_only=True)
        try:
            blocks: list[Block] = []
            sheets = rows = 0
            for sheet in workbook.worksheets:
                cells = [(number, [cell_text(cell.value, getattr(cell, "number_format", "") or "") for cell in row])
                         for number, row in enumerate(sheet.iter_rows(min_row=1, min_col=1), start=1)]
                merges = [(r.min_row, r.min_col, r.max_row, r.max_col) for r in sheet.merged_cells.ranges] \
                    if whole else []
                found = sheet_blocks(cells, (sheet.title,), merges)
                if found:
                    sheets += 1
                    rows += len({block.row for block in found})
                    blocks += found
            title = (workbook.properties.title or "").strip()
        finally:
            workbook.close()
        self.found = (f"sheets {sheets}, rows {rows}",) if whole else \
            (f"sheets {sheets}, rows {rows}", f"merged cells not read (over {MAX_WHOLE_BYTES:,} bytes unpacked)")
        return [ParsedArticle(title or stem_title(source), blocks)]


class CsvLayout(Layout):
    name = "csv"
    dialect: type[csv.Dialect] | None = None  # None: told from the file's first lines

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        text = text or ""
        dialect = self.dialect
        try:
            dialect = dialect or csv.Sniffer().sniff(text[:SNIFF_CHARS], delimiters=CSV_DELIMITERS)
        except csv.Error:  # one column, or too few rows to tell: a comma-separated file
            dialect = csv.excel
        records = csv.reader(io.StringIO(text, newline=""), dialect)
        blocks = sheet_blocks([(number, cells) for number, cells in enumerate(records, start=1)])
        self.found = (f"sheets {1 if blocks else 0}, rows {len({block.row for block in blocks})}",)
        return [ParsedArticle(stem_title(source), blocks)]


class TsvLayout(CsvLayout):
    """Tab-separated values: the tab is the delimiter, whatever commas the cells hold ("1,200")."""

    name = "tsv"
    dialect = csv.excel_tab
