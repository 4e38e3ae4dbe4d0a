"""Reading uploaded CSV and XLSX files row by row: format, encoding and delimiter detection.

The upload is spooled to a temporary file (in memory while small), then read one row at a time:
CSV through ``csv.reader`` over a text wrapper, XLSX through openpyxl's read-only mode. Nothing
holds every row at once.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import IO, Any

import openpyxl

from crm_core.errors import InvalidInput

__all__ = ["ENCODINGS", "Table", "cell_text", "open_table"]

log = logging.getLogger(__name__)

# Tried in this order when the client does not say; latin-1 decodes any byte, so it is last.
ENCODINGS = ("utf-8", "cp1253", "latin-1")
DELIMITERS = (",", ";", "\t")
_CHUNK = 64 * 1024
_LETTERS = re.compile(r"^[A-Za-z]{1,3}$")


@dataclass
class Table:
    """An opened file: its header, a row iterator ``(row number, cells)`` and what was detected."""

    headers: list[str]
    rows: Iterator[tuple[int, list[Any]]]
    rows_total: int | None
    encoding: str | None = None
    delimiter: str | None = None
    _closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        """Release the workbook or text wrapper."""
        for closer in self._closers:
            closer()

    def column(self, ref: str) -> int:
        """Index of the column named by header text (case-insensitive) or by letter (A, AB)."""
        wanted = ref.strip().casefold()
        for i, name in enumerate(self.headers):
            if name.strip().casefold() == wanted:
                return i
        if _LETTERS.match(ref.strip()):
            index = 0
            for ch in ref.strip().upper():
                index = index * 26 + (ord(ch) - ord("A") + 1)
            if index <= len(self.headers):
                return index - 1
        shown = ", ".join(repr(h) for h in self.headers if h.strip())[:500]
        raise InvalidInput(
            f"mapping: there is no column {ref!r} in the file; its columns are {shown}",
            details={"field": "mapping", "column": ref},
        )

    def label(self, index: int) -> str:
        """How to name column ``index`` in an error: its header, else its letter."""
        name = self.headers[index].strip() if index < len(self.headers) else ""
        return name or _letter(index)


def _letter(index: int) -> str:
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(ord("A") + rem) + out
    return out


def cell_text(value: Any) -> str:
    """A cell as text: numbers without a spurious ``.0``, dates in ISO form, empty as ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _bad_file(message: str) -> InvalidInput:
    return InvalidInput(message, details={"field": "file"})


def open_table(
    f: IO[bytes], filename: str, *, sheet: str | None = None, encoding: str | None = None
) -> Table:
    """Open an uploaded CSV or XLSX file; InvalidInput says what is wrong with it."""
    f.seek(0)
    magic = f.read(8)
    f.seek(0)
    if not magic:
        raise _bad_file("the file is empty")
    if magic.startswith(b"PK\x03\x04"):
        return _open_xlsx(f, sheet)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise _bad_file("this is an old Excel (.xls) file: save it as .xlsx or CSV")
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise _bad_file("the file is named .xlsx but is not an Excel workbook")
    if b"\x00" in f.read(_CHUNK):
        raise _bad_file("the file is neither CSV nor XLSX (it contains binary data)")
    if sheet:
        raise _bad_file("'sheet' is only for XLSX files")
    return _open_csv(f, encoding)


def _decodes(f: IO[bytes], enc: str) -> bool:
    f.seek(0)
    decoder = codecs.getincrementaldecoder(enc)()
    try:
        while chunk := f.read(_CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _pick_encoding(f: IO[bytes], wanted: str | None) -> str:
    if wanted:
        try:
            name = codecs.lookup(wanted).name
        except LookupError:
            raise InvalidInput(
                f"encoding: unknown encoding {wanted!r}; use one of {', '.join(ENCODINGS)}",
                details={"field": "encoding"},
            ) from None
        if not _decodes(f, name):
            raise InvalidInput(
                f"encoding: the file is not valid {name}", details={"field": "encoding"}
            )
        return name
    f.seek(0)
    if f.read(3) == codecs.BOM_UTF8:
        if not _decodes(f, "utf-8-sig"):
            raise _bad_file("the file starts with a UTF-8 mark but is not valid UTF-8")
        return "utf-8-sig"
    for enc in ENCODINGS:
        if _decodes(f, enc):
            return enc
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _pick_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _open_csv(f: IO[bytes], wanted: str | None) -> Table:
    enc = _pick_encoding(f, wanted)
    f.seek(0)
    text = io.TextIOWrapper(f, encoding=enc, newline="")
    delimiter = _pick_delimiter(text.readline())
    text.seek(0)
    reader = csv.reader(text, delimiter=delimiter)
    try:
        headers = next(reader)
    except StopIteration:
        text.detach()
        raise _bad_file("the file is empty") from None
    except csv.Error as err:
        text.detach()
        raise _bad_file(f"the header row is not valid CSV: {err}") from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        number = 1
        try:
            for cells in reader:
                number += 1
                yield number, list(cells)
        except csv.Error as err:
            raise InvalidInput(
                f"row {number + 1} is not valid CSV: {err}",
                details={"field": "file", "row": number + 1},
            ) from None

    # Detach rather than close: the spooled upload belongs to the caller.
    return Table(headers, rows(), None, enc, delimiter, [text.detach])


def _open_xlsx(f: IO[bytes], sheet: str | None) -> Table:
    try:
        wb = openpyxl.load_workbook(f, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise _bad_file(f"the file is not a readable XLSX workbook ({err})") from None
    try:
        if sheet:
            if sheet not in wb.sheetnames:
                names = ", ".join(repr(n) for n in wb.sheetnames)
                raise InvalidInput(
                    f"sheet: the workbook has no sheet {sheet!r}; it has {names}",
                    details={"field": "sheet"},
                )
            ws = wb[sheet]
        else:
            ws = wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        first = next(it, None)
        if first is None:
            raise _bad_file("the sheet is empty")
    except BaseException:
        wb.close()
        raise
    headers = [cell_text(v) for v in first]
    max_row = ws.max_row
    total = max_row - 1 if isinstance(max_row, int) and max_row >= 1 else None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for number, values in enumerate(it, start=2):
            yield number, list(values)

    return Table(headers, rows(), total, None, None, [wb.close])
