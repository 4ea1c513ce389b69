"""The one escaping rule of every CSV isegui writes: no cell a spreadsheet would run, and the
same text back when isegui reads it."""

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isegui.core.csv_cells import CsvDictWriter, csv_text, escape_cell, unescape_cell


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)",
                                  "\t=1", "\r=1", "'=already quoted"])
def test_a_cell_a_spreadsheet_would_run_gets_a_quote_in_front(text):
    assert escape_cell(text) == "'" + text
    assert unescape_cell(escape_cell(text)) == text


@pytest.mark.parametrize("value", ["pill", "'quoted", "a=b", "", 3, -1.5, 0.0, None])
def test_other_cells_and_numbers_are_written_as_they_are(value):
    assert escape_cell(value) == value


@given(st.text())
def test_reading_back_gives_the_text_that_was_written(text):
    written = escape_cell(text)
    assert not written.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert unescape_cell(written) == text


def test_the_dict_writer_escapes_every_cell_and_a_carriage_return_keeps_its_row():
    buffer = io.StringIO()
    writer = CsvDictWriter(buffer, ["file", "n"], lineterminator="\n")
    writer.writeheader()
    writer.writerow({"file": "=cmd|' /C calc'!A0", "n": -3})
    writer.writerows([{"file": "a\rb.png", "n": 1}, {"file": "c\u2028d.png", "n": 2}])
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue(), newline="")))
    assert [r["file"] for r in rows] == ["'=cmd|' /C calc'!A0", "a\rb.png", "c\u2028d.png"]
    assert rows[0]["n"] == "-3"  # a number, not text: no quote


def test_csv_text_escapes_rows_of_values():
    text = csv_text([("image", "class"), ("-a", "@b")])
    assert list(csv.reader(io.StringIO(text, newline=""))) == [["image", "class"],
                                                                ["'-a", "'@b"]]
