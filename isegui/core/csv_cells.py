"""Every CSV file isegui writes goes through here, so a name can never become a formula.

Excel, LibreOffice and Google Sheets run a cell that starts with `=`, `+`, `-` or `@` (and,
after a tab or a carriage return, what follows) as a formula: a file named `=HYPERLINK(...)`
or a class named `=cmd|...` would run when the line's results are opened. The rule is
OWASP's: such a cell is written with a single quote `'` in front, which the spreadsheet shows
as text. So that reading back gives the very same text, a cell that already starts with
quotes followed by one of those characters gets one quote more, and reading back takes one
off (`'=x` -> `''=x` -> `'=x`). Numbers are written as they are: -1.5 is a number, not a
formula.

Lines end in \\r\\n (RFC 4180), whatever the caller asks: the csv module quotes a cell that
holds a line-end character only when that character is part of its own line end, so with
`\\n` lines a name holding a `\\r` would split its row in two for every reader."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
LINE_END = "\r\n"
_PREFIX = 8  # characters normalised after the blank start: the first decides


def _runs(text: str) -> bool:
    """Whether a spreadsheet could take the text (after any quotes in front) for a formula:
    it starts with = + - @ tab or CR, also behind spaces or invisible characters (a no-break
    or zero-width space, a byte-order mark: some programs trim them) and in full-width form
    (＝ ＋ － ＠, which NFKC makes the ASCII signs)."""
    rest = text.lstrip(QUOTE)
    if rest[:1] in ("\t", "\r"):
        return True
    start = 0  # past every space and invisible character in front, however many
    while start < len(rest) and (rest[start].isspace()
                                 or unicodedata.category(rest[start]) in ("Zs", "Cf")):
        start += 1
    return unicodedata.normalize("NFKC", rest[start:start + _PREFIX])[:1] in FORMULA_STARTS


def escape_cell(value: Any) -> Any:
    """The cell as it is written: text that a spreadsheet would run gets a quote in front."""
    if isinstance(value, str) and _runs(value):
        return QUOTE + value
    return value


def unescape_cell(text: str) -> str:
    """The text a cell written by `escape_cell` held."""
    return text[1:] if text.startswith(QUOTE) and _runs(text) else text


def unescape_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row read back (csv.DictReader), each cell as it was before it was written; cells
    beyond the header (a note typed into a spreadsheet: a list under the key None) left
    out."""
    return {key: value if value is None else unescape_cell(value) for key, value in row.items()
            if key is not None and (value is None or isinstance(value, str))}


class CsvDictWriter:
    """csv.DictWriter whose every cell (the header too) goes through `escape_cell`."""

    def __init__(self, stream: IO[str], columns: Sequence[str], **options: Any):
        options["lineterminator"] = LINE_END
        self._writer = csv.DictWriter(stream, list(columns), **options)

    def writeheader(self) -> None:
        self._writer.writerow({c: escape_cell(c) for c in self._writer.fieldnames})

    def writerow(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow(_escaped(row))

    def writerows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self._writer.writerows(_escaped(row) for row in rows)


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """Rows (the header first) as the text of a CSV file, every cell through `escape_cell`."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=LINE_END).writerows(
        [escape_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def _escaped(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: escape_cell(value) for key, value in row.items()}
