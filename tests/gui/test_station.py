"""The station view: a watch in its own thread, the window showing each verdict large, the
reasons, the counters and the last verdicts, as images land in the folder."""

import time

from PySide6.QtWidgets import QApplication

from isegui.core.images import save_image
from isegui.core.line_rules import Rules
from isegui.gui.station import StationWindow
from isegui.ml.infer.line_watch import Watcher, WatchSettings
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
