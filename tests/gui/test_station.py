"""The station view: a watch in its own thread, the window showing each verdict large, the
reasons, the counters and the last verdicts, as images land in the folder."""

import time

import cv2
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from isegui.core.images import save_image
from isegui.core.line_rules import Rules
from isegui.gui.station import StationWindow
from isegui.ml.infer.line_watch import Watcher, WatchSettings
from isegui.ml.infer.verdict_drawing import GREY, RED, draw_verdict
from tests.ml.infer.test_line_watch import BrightThings, _part

RULES = {"isegui_rules": 1, "units": "px",
         "classes": {"pill": {"count": {"min": 3, "max": 3}}}, "defects": ["scratch"]}


def test_each_landing_image_shows_its_verdict_and_the_counters_follow(qtbot, tmp_path):
    folder = tmp_path / "camera"
    folder.mkdir()
    watcher = Watcher(WatchSettings(folder, tmp_path / "results.csv", settle_s=0.1,
                                    give_up_s=0.3, poll_s=0.02), BrightThings(),
                      Rules.from_json(RULES, "rules.json"), lambda _: None)
    window = StationWindow(watcher)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    window.start()
    try:
        save_image(folder / "a.png", _part(3))
        qtbot.waitUntil(lambda: window.parts == 1, timeout=5000)
        assert window.verdict.text() == "OK" and "1e8449" in window.verdict.styleSheet()
        assert window.image.pixmap() is not None and not window.image.pixmap().isNull()
        time.sleep(0.05)
        save_image(folder / "b.png", _part(2))
        (folder / "c.jpg").write_bytes(b"\xff\xd8 torn")
        qtbot.waitUntil(lambda: window.parts == 3, timeout=8000)
        assert window.counters.text() == "Parts 3   NG 2 (66.7 %)"
        shown = [window.last.item(k).text() for k in range(window.last.count())]
        assert [line.split()[0] for line in shown] == ["NG", "NG", "OK"]  # newest first
        assert window.verdict.text() == "NG"
        assert "unreadable" in window.reasons.text() or "count 2 < min 3" in window.reasons.text()
    finally:
        window.close()
    assert not window.thread.isRunning()


def test_the_verdict_is_readable_from_two_metres(qtbot, tmp_path):
    folder = tmp_path / "camera"
    folder.mkdir()
    watcher = Watcher(WatchSettings(folder, tmp_path / "r.csv"), BrightThings(), None,
                      lambda _: None)
    window = StationWindow(watcher)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    QApplication.processEvents()
    # 96 pt: letters about 3 cm tall on a usual screen
    assert window.verdict.font().pointSize() >= 72
    assert window.verdict.height() > 150


# ---------------------------------------------------------------- issue 28, finding 8

class ScoredThings(BrightThings):
    """Bright blobs score 0.9, dim ones 0.2: the rules count only the bright ones."""

    def predict(self, images, batch_size=4):
        out = []
        for image, found in zip(images, super().predict(images, batch_size)):
            for det in found:
                x, y = det.origin
                value = np.asarray(image)[y:y + det.mask.shape[0], x:x + det.mask.shape[1], 0]
                det.score = 0.9 if value[det.mask].mean() > 200 else 0.2
            out.append(found)
        return out


def _bright_and_dim(bright=2, dim=3):
    image = np.full((64, 200, 3), 30, np.uint8)
    for k in range(bright + dim):
        cv2.circle(image, (12 + 20 * k, 30), 7, (230,) * 3 if k < bright else (170,) * 3, -1)
    return image


def _station(qtbot, tmp_path, rules):
    folder = tmp_path / "camera"
    folder.mkdir(exist_ok=True)
    watcher = Watcher(WatchSettings(folder, tmp_path / "results.csv", settle_s=0.1,
                                    give_up_s=0.3, poll_s=0.02), ScoredThings(),
                      Rules.from_json(rules, "rules.json") if rules else None, lambda _: None)
    window = StationWindow(watcher)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    return window, folder


def _colour_beside(drawn, x, y, colour, r=9):
    """`colour` on the row band through a blob's centre (its outline's left and right sides;
    the numbers are written above the blobs)."""
    near = drawn[y - 2:y + 3, max(0, x - r):x + r + 1].reshape(-1, 3)
    return bool((near == colour).all(axis=1).any())


def _red_at(drawn, x, y):
    return _colour_beside(drawn, x, y, RED)


def _grey_at(drawn, x, y):
    return _colour_beside(drawn, x, y, GREY)


def test_only_what_the_rules_counted_is_drawn_and_numbered_as_the_reasons(qtbot, tmp_path):
    """~150 outlines were drawn while the verdict counted 4: the operator could not tell which
    counted. Now the counted ones are drawn (red where a reason names them), the rest only
    with the tick, in grey."""
    rules = {"isegui_rules": 1, "units": "px", "min_score": 0.5,
             "classes": {"pill": {"count": {"max": 1}}}}
    window, folder = _station(qtbot, tmp_path, rules)
    window.start()
    try:
        save_image(folder / "a.png", _bright_and_dim())
        qtbot.waitUntil(lambda: window.parts == 1, timeout=5000)
        assert window.verdict.text() == "NG" and "pill: count 2 > max 1" in window.reasons.text()
        row, (pixels, found, marks) = window._last
        assert marks == ["flagged", "flagged", "below", "below", "below"]
        drawn = draw_verdict(pixels, found, "NG", marks, show_all=False)
        assert _red_at(drawn, 12, 30) and _red_at(drawn, 32, 30)
        assert not any(_grey_at(drawn, 12 + 20 * k, 30) or _red_at(drawn, 12 + 20 * k, 30)
                       for k in (2, 3, 4))  # not counted: not drawn
        shown = window._pixmap.toImage()
        QTest.mouseClick(window.show_all, Qt.MouseButton.LeftButton)
        assert window.show_all.isChecked() and window.thread.show_all
        assert window._pixmap.toImage() != shown  # the image on screen drawn again
        everything = draw_verdict(pixels, found, "NG", marks, show_all=True)
        assert all(_grey_at(everything, 12 + 20 * k, 30) for k in (2, 3, 4))
    finally:
        window.close()


def test_a_stop_file_at_start_is_shown_and_the_station_waits_for_it(qtbot, tmp_path):
    """A leftover STOP file made a restarted station inspect nothing while the screen said
    'Waiting for the first image…'."""
    window, folder = _station(qtbot, tmp_path, None)
    (folder / "STOP").touch()
    window.start()
    try:
        assert window.verdict.text() == "STOP" and "STOP file" in window.reasons.text()
        assert not window.thread.isRunning() and window.remove_stop.isVisible()
        save_image(folder / "a.png", _bright_and_dim())
        qtbot.wait(300)
        assert window.parts == 0  # nothing inspected while it is there
        QTest.mouseClick(window.remove_stop, Qt.MouseButton.LeftButton)  # asked: removed
        assert not (folder / "STOP").exists()
        qtbot.waitUntil(lambda: window.parts == 1, timeout=5000)
        assert not window.remove_stop.isVisible()
    finally:
        window.close()


def test_a_station_whose_watch_ended_shows_stopped(qtbot, tmp_path):
    window, folder = _station(qtbot, tmp_path, None)
    window.start()
    try:
        save_image(folder / "a.png", _bright_and_dim())
        qtbot.waitUntil(lambda: window.parts == 1, timeout=5000)
        (folder / "STOP").touch()  # the line asks the watch to end
        qtbot.waitUntil(lambda: not window.thread.isRunning(), timeout=5000)
        qtbot.waitUntil(lambda: window.verdict.text() == "STOPPED", timeout=2000)
        assert "Not inspecting" in window.reasons.text() and "STOP" in window.reasons.text()
        assert window.windowTitle().endswith("STOPPED")
    finally:
        window.close()
