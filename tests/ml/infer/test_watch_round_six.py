"""The line, the attacker's sixth try: a full disk mid-row (the cut row was joined by the next:
a verdict lost), two watches on one results file (every part judged twice), two names with one
label (the second part never judged), formula cells behind spaces or in full-width form, a
--move-to that is a file, a name too long for its overlay, and a padded image file."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from isegui.core.errors import ImageReadError, InputFileError
from isegui.core.images import load_image, probe, save_image
from isegui.core.line_rules import Rules
from isegui.ml.infer import results_file
from isegui.ml.infer.line_watch import Watcher, WatchSettings, file_label, watcher_for
from isegui.ml.infer.results_file import ResultsFile
from tests.ml.infer.test_line_watch import BrightThings, _part, _rows, tiny_model
from tests.ml.infer.test_watch_hostile import _folder

COLUMNS = ["time", "file", "verdict"]


def test_a_write_cut_short_by_a_full_disk_is_taken_back_and_the_rows_wait(tmp_path,
                                                                          monkeypatch):
    out = tmp_path / "results.csv"
    results = ResultsFile(out, COLUMNS)
    results.add({"time": "t0", "file": "a.png", "verdict": "OK"})
    before = out.read_bytes()
    real_write = os.write

    def disk_full_after_five_bytes(fd, data):
        real_write(fd, bytes(data[:5]))
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(results_file.os, "write", disk_full_after_five_bytes)
    results.add({"time": "t1", "file": "b.png", "verdict": "NG"})
    assert out.read_bytes() == before  # no half row left behind
    assert [r["file"] for r in results.waiting] == ["b.png"]
    monkeypatch.setattr(results_file.os, "write", real_write)
    assert results.flush()
    assert [r["file"] for r in _rows(out)] == ["a.png", "b.png"]


def test_a_row_cut_off_before_is_mended_at_start_so_its_image_is_judged_again(tmp_path):
    out = tmp_path / "results.csv"
    results = ResultsFile(out, COLUMNS)
    results.add({"time": "t0", "file": "a.png", "verdict": "OK"})
    results.lock.release()
    with open(out, "ab") as f:
        f.write(b"t1,b.pn")  # a power cut mid-row: its last cells missing
    again = ResultsFile(out, COLUMNS)
    assert again.done_files() == {"a.png"}  # b.png is judged again
    assert out.read_bytes().endswith(b"\r\n")
    again.add({"time": "t2", "file": "c.png", "verdict": "OK"})
    assert [r["file"] for r in _rows(out)] == ["a.png", "c.png"]  # nothing glued on


def test_one_watch_per_results_file(tmp_path):
    folder = _folder(tmp_path)
    out = tmp_path / "results.csv"
    first = Watcher(WatchSettings(folder, out), BrightThings(), None, lambda _: None)
    with pytest.raises(InputFileError, match="another watch writes its results here"):
        Watcher(WatchSettings(folder, out), BrightThings(), None, lambda _: None)
    save_image(folder / "a.png", _part(2))
    assert first.run(once=True) == 1  # the run ends: the file is free again
    second = Watcher(WatchSettings(folder, out), BrightThings(), None, lambda _: None)
    assert second.run(once=True) == 0  # a.png was judged already
    assert len(_rows(out)) == 1


def test_two_names_never_share_a_label(tmp_path):
    odd = os.fsdecode(b"a\xff.png")  # bytes that are not UTF-8
    literal = "a\\xff.png"  # the characters a, backslash, x, f, f
    assert file_label(tmp_path / odd) != file_label(tmp_path / literal)
    assert file_label(tmp_path / "plain name.png") == "plain name.png"  # as before
    folder = _folder(tmp_path)
    for name in (odd, literal):
        save_image(folder / name, _part(1))
    watcher = Watcher(WatchSettings(folder, tmp_path / "r.csv"), BrightThings(), None,
                      lambda _: None)
    assert watcher.run(once=True) == 2  # both parts judged


@pytest.mark.parametrize("name", [" =1+2.png", "\u00a0=1+2.png", "\u200b=1+2.png",
                                  "\ufeff=1+2.png", "＝1+2.png", "＋SUM(1).png"])
def test_no_formula_behind_spaces_or_in_full_width_reaches_the_results(tmp_path, name):
    folder = _folder(tmp_path)
    save_image(folder / name, _part(1))
    out = tmp_path / "r.csv"
    Watcher(WatchSettings(folder, out), BrightThings(), None, lambda _: None).run(once=True)
    with open(out, encoding="utf-8", newline="") as f:
        f.readline()  # the header
        cell = f.readline().split(",")[1]
    assert cell.startswith("'")  # a spreadsheet shows it as text
    assert [r["file"] for r in _rows(out)] == ["'" + name]  # as written; read back: the name


def test_a_move_to_that_is_a_file_is_refused_before_ready(tmp_path):
    folder = _folder(tmp_path)
    (tmp_path / "done").write_text("a file")
    model = tiny_model(tmp_path / "m.onnx")
    with pytest.raises(InputFileError, match="--move-to names a file"):
        watcher_for(folder, model, move_to=tmp_path / "done")


def test_an_overlay_of_a_long_name_is_written(tmp_path):
    folder = _folder(tmp_path)
    name = "p" * 247 + ".png"  # 251 bytes: NAME_NG.png would pass 255
    save_image(folder / name, _part(1))
    rules = Rules.from_json({"isegui_rules": 1, "defects": ["pill"]}, "r.json")
    Watcher(WatchSettings(folder, tmp_path / "r.csv", overlays=tmp_path / "ng"), BrightThings(),
            rules, lambda _: None).run(once=True)
    (overlay,) = (tmp_path / "ng").iterdir()
    assert overlay.name.endswith("_NG.png") and len(overlay.name.encode()) <= 255


def test_a_padded_image_file_is_refused_without_being_read_whole(tmp_path):
    """A 64 x 48 PNG followed by a 3 GiB hole took 6.3 GB of memory to load."""
    path = tmp_path / "padded.png"
    save_image(path, np.zeros((48, 64, 3), np.uint8))
    with open(path, "r+b") as f:
        f.truncate(3 << 30)  # sparse: a few KB on disk
    for read in (probe, load_image):
        with pytest.raises(ImageReadError, match="far more than a 64x48 picture needs"):
            read(path)


def test_once_waits_for_a_file_still_growing(tmp_path):
    """`watch --once` took every file as complete: a part still being copied was judged
    unreadable."""
    import threading
    import time

    import cv2
    folder = _folder(tmp_path)
    ok, data = cv2.imencode(".png", _part(2))
    data = data.tobytes()
    target = folder / "slow.png"
    target.write_bytes(data[:40])

    def copy_slowly():
        for end in range(80, len(data) + 40, 40):
            time.sleep(0.1)  # well inside the 0.5 s settle time
            with open(target, "ab") as f:
                f.write(data[end - 40:end])
    writer = threading.Thread(target=copy_slowly)
    writer.start()
    out = tmp_path / "r.csv"
    watcher = Watcher(WatchSettings(folder, out, settle_s=0.5), BrightThings(), None,
                      lambda _: None)
    assert watcher.run(once=True) == 1
    writer.join()
    (row,) = _rows(out)
    assert row["file"] == "slow.png" and "unreadable" not in row["reasons"]


def test_a_lab_tiff_loads_in_its_own_colours(tmp_path):
    """libtiff's CIELab conversion (OpenCV's) was off by about 12 levels a channel."""
    from PIL import Image
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), np.uint8)
    Image.fromarray(rgb).convert("LAB").save(tmp_path / "lab.tif")
    pixels = load_image(tmp_path / "lab.tif")
    assert pixels.shape == (20, 30, 3)
    assert np.abs(pixels.astype(int) - rgb).mean() < 2  # Lab's own rounding only
