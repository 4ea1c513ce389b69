"""A screenshot of Review on a 2448 x 2048 defect frame predicted by a blob run (the project
bench/large_frames.py trains), zoomed onto a scratch so its 3-px mask can be seen:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/blobs_review_screenshot.py \
        PROJECT docs/blobs-review.png
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(project: Path, out: Path) -> None:
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from isegui.gui.app import open_window
    app = QApplication.instance() or QApplication([sys.argv[0]])
    window = open_window(project)
    window.resize(1600, 1000)
    window.show()
    session = window.session
    val = [r for r in session.images() if r.split.value == "val"]
    session.open_image(val[0].id)
    window.docks["review"].raise_()
    review = window.review
    review.start([val[0].id])
    deadline = time.monotonic() + 120
    while review.worker is not None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.05)
    predictions = window.review_canvas.predictions()
    scratches = [p for p in predictions if session.class_by_id(p.class_id).name == "scratch"]
    target = max(scratches or predictions, key=lambda p: p.shape.length)
    c = target.shape.centroid
    window.view.resetTransform()
    window.view.scale(2.0, 2.0)
    window.view.centerOn(QPointF(c.x, c.y))
    for _ in range(30):
        app.processEvents()
        time.sleep(0.02)
    window.grab().save(str(out))
    print(out, len(predictions), "predictions;", review.counts.text())


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
