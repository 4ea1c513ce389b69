"""The line, the attacker's seventh try: a --out that names a file of the user's own is never
changed (round six's mending of a cut row cut a COCO file to nothing), a whole last row saved
without its line end is kept, Excel's byte-order mark is read, a --move-to on another drive
copies, and the export's scratch file is its own."""

from __future__ import annotations

import json
import os

import pytest

from isegui.core.errors import InputFileError
from isegui.core.images import save_image
from isegui.ml.infer import line_watch
from isegui.ml.infer.line_watch import Watcher, WatchSettings
from isegui.ml.infer.results_file import ResultsFile
from tests.ml.infer.test_line_watch import BrightThings, _part, _rows
from tests.ml.infer.test_watch_hostile import _folder

COLUMNS = ["time", "file", "verdict"]


@pytest.mark.parametrize("name, text", [
    ("ann.json", json.dumps({"images": [], "annotations": [], "categories": []})),
    ("user.csv", "foo,bar\n1,2\nbar,2"),
    ("notes.jsonl", "[1, 2]\n[3]"),
])
def test_a_file_of_the_users_own_is_refused_and_left_as_it_was(tmp_path, name, text):
    out = tmp_path / name
    out.write_text(text, encoding="utf-8")
    before = out.read_bytes()
    with pytest.raises(InputFileError, match="cannot read back"):
        ResultsFile(out, COLUMNS).done_files()
    assert out.read_bytes() == before


def test_a_whole_last_row_without_its_line_end_is_kept(tmp_path):
    out = tmp_path / "results.csv"
    out.write_bytes(b"time,file,verdict\r\nt0,a.png,OK")  # saved by a spreadsheet
    results = ResultsFile(out, COLUMNS)
    assert results.done_files() == {"a.png"}
    results.add({"time": "t1", "file": "b.png", "verdict": "NG"})
    assert [r["file"] for r in _rows(out)] == ["a.png", "b.png"]


def test_a_results_csv_saved_by_excel_with_a_byte_order_mark_goes_on(tmp_path):
    out = tmp_path / "results.csv"
    out.write_bytes("\ufefftime,file,verdict\r\nt0,a.png,OK\r\n".encode())
    assert ResultsFile(out, COLUMNS).done_files() == {"a.png"}


def test_a_move_to_on_another_drive_copies_then_removes(tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    save_image(folder / "a.png", _part(1))
    real_replace = os.replace

    def across_drives(src, dst):
        raise OSError(18, "Invalid cross-device link", str(src), None, str(dst))
    monkeypatch.setattr(line_watch.os, "replace", across_drives)
    done = tmp_path / "done"
    out = tmp_path / "r.csv"
    watcher = Watcher(WatchSettings(folder, out, move_to=done), BrightThings(), None,
                      lambda _: None)
    assert watcher.run(once=True) == 1
    monkeypatch.setattr(line_watch.os, "replace", real_replace)
    assert not (folder / "a.png").exists() and (done / "a.png").is_file()
    again = Watcher(WatchSettings(folder, out, move_to=done), BrightThings(), None,
                    lambda _: None)
    assert again.run(once=True) == 0 and len(_rows(out)) == 1  # not judged again


# ---------------------------------------------------------------- the eighth try

def test_a_row_is_never_joined_to_a_line_another_program_left_open(tmp_path):
    """An editor saved the results without their last line end while the watch ran: the
    next row was glued on, and the restart stopped on an unexpected AttributeError."""
    out = tmp_path / "results.csv"
    results = ResultsFile(out, COLUMNS)
    results.add({"time": "t0", "file": "a.png", "verdict": "OK"})
    out.write_bytes(out.read_bytes().rstrip(b"\r\n"))
    results.add({"time": "t1", "file": "b.png", "verdict": "NG"})
    assert [r["file"] for r in _rows(out)] == ["a.png", "b.png"]
    results.lock.release()
    assert ResultsFile(out, COLUMNS).done_files() == {"a.png", "b.png"}


def test_a_note_typed_beside_a_row_does_not_stop_the_restart(tmp_path):
    out = tmp_path / "results.csv"
    out.write_text("time,file,verdict\r\nt0,a.png,OK,checked by Ann\r\n", encoding="utf-8")
    assert ResultsFile(out, COLUMNS).done_files() == {"a.png"}


def test_a_json_array_is_no_json_lines_results_file(tmp_path):
    out = tmp_path / "parts.json"
    out.write_text('[\n{"file": "a.png"},\n{"file": "b.png"}\n]', encoding="utf-8")
    before = out.read_bytes()
    with pytest.raises(InputFileError, match="not a JSON-lines results file"):
        ResultsFile(out, COLUMNS).done_files()
    assert out.read_bytes() == before


def test_no_formula_behind_a_long_run_of_blanks():
    from isegui.core.csv_cells import escape_cell, unescape_cell
    for blank in (" ", "\u00a0", "\u200b"):
        text = blank * 70 + "=1+2"
        assert escape_cell(text) == "'" + text and unescape_cell(escape_cell(text)) == text


def test_a_huge_results_file_without_line_ends_is_refused_without_reading_it_whole(tmp_path):
    """A 1 GiB sparse results file took 6.5 GB of memory before being refused."""
    import tracemalloc
    out = tmp_path / "results.csv"
    out.write_text("time,file,verdict\r\n", encoding="utf-8")
    with open(out, "r+b") as f:
        f.truncate(1 << 30)  # sparse: NUL bytes, no line end
    tracemalloc.start()
    try:
        with pytest.raises(InputFileError, match="a line longer than"):
            ResultsFile(out, COLUMNS).done_files()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 600 << 20  # one bounded line at most, not the file


def test_a_users_own_file_named_like_the_lock_is_left_alone(tmp_path):
    out = tmp_path / "results.csv"
    mine = tmp_path / "results.csv.lock"
    mine.write_text("my notes about the lock on the cabinet")
    with pytest.raises(InputFileError, match="no watch's lock"):
        ResultsFile(out, COLUMNS)
    assert mine.read_text() == "my notes about the lock on the cabinet"


def test_a_cross_drive_move_whose_source_stays_leaves_no_copy(tmp_path, monkeypatch):
    from pathlib import Path
    folder = _folder(tmp_path)
    save_image(folder / "a.png", _part(1))

    def across_drives(src, dst):
        raise OSError(18, "Invalid cross-device link", str(src), None, str(dst))
    real_unlink = Path.unlink

    def held_by_the_camera(self, missing_ok=False):
        if self.parent == folder:
            raise PermissionError(13, "in use", str(self))
        return real_unlink(self, missing_ok=missing_ok)
    monkeypatch.setattr(line_watch.os, "replace", across_drives)
    monkeypatch.setattr(Path, "unlink", held_by_the_camera)
    done = tmp_path / "done"
    Watcher(WatchSettings(folder, tmp_path / "r.csv", move_to=done), BrightThings(), None,
            lambda _: None).run(once=True)
    assert (folder / "a.png").is_file() and list(done.iterdir()) == []  # not moved, no copy
