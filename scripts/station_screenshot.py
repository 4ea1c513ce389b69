"""A screenshot of the station view on real frames (the demo's scenes) with an exported
model, as the line PC shows it:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/station_screenshot.py \
        MODEL.onnx IMAGES_DIR docs/station.png
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RULES = {"isegui_rules": 1, "units": "px", "min_score": 0.5,
         "classes": {"pill": {"count": {"min": 3, "max": 5}},
                     "washer": {"count": {"max": 3}, "area": {"min": 300, "max": 3000}}}}


def main(model: Path, images: Path, out: Path) -> None:
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from isegui.core.line_rules import Rules
    from isegui.gui.station import StationWindow
    from isegui.ml.infer.line_watch import Watcher, WatchSettings
    from isegui.ml.infer.onnx_model import OnnxPredictor
    camera = Path(tempfile.mkdtemp(prefix="isegui-station-"))
    app = QApplication([sys.argv[0]])  # noqa: F841 (kept alive for the widgets)
    watcher = Watcher(WatchSettings(camera, camera / "results.csv", settle_s=0.1),
                      OnnxPredictor.from_file(model, 0.5), Rules.from_json(RULES, "rules"),
                      lambda _: None)
    window = StationWindow(watcher, "isegui station — demo")
    window.resize(1600, 950)
    window.show()
    window.start()
    frames = sorted(images.glob("*.jpg"))[:8]
    for frame in frames:
        shutil.copy(frame, camera / frame.name)
        deadline = time.monotonic() + 10
        done = window.parts
        while window.parts == done and time.monotonic() < deadline:
            QTest.qWait(50)
    QTest.qWait(300)
    window.grab().save(str(out))
    print(out, window.counters.text())
    window.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
