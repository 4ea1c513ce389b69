"""Benchmark: the labeling window on a big image, offscreen, timed with QElapsedTimer.

    python bench/gui_canvas.py [--width 6000] [--height 4000] [--instances 2000]

A 6000x4000 JPEG with 2,000 instances of 40-200 vertices. Measures: opening the image (store,
pixels, canvas items, panels; until the first paint), zoom and pan repaints (median and 90th
percentile), selecting an instance by a click, and the process's resident memory. Targets
(issue 4): open < 1 s, repaint median < 16 ms, select < 50 ms, memory < 1.5 GB. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from core_io import peak_rss_mb  # noqa: E402


def make_project(folder: Path, width: int, height: int, count: int, seed: int = 0):
    from shapely.geometry import Polygon

    from isegui.core.entities import ImageStatus, Source
    from isegui.core.images import save_image
    from isegui.core.project import Project
    rng = np.random.default_rng(seed)
    yy = np.linspace(60, 200, height, dtype=np.float32)[:, None]
    xx = np.linspace(0, 40, width, dtype=np.float32)[None, :]
    gray = (yy + xx + rng.normal(0, 6, (height, width)).astype(np.float32)).clip(0, 255)
    save_image(folder / "images" / "big.jpg", np.dstack([gray] * 3).astype(np.uint8))
    centres = []
    cols = int(np.ceil(np.sqrt(count * width / height)))
    rows = int(np.ceil(count / cols))
    cell_w, cell_h = width / cols, height / rows
    items = []
    for k in range(count):
        r, c = divmod(k, cols)
        cx, cy = (c + 0.5) * cell_w, (r + 0.5) * cell_h
        n = int(rng.integers(40, 201))
        t = np.sort(rng.uniform(0, 2 * np.pi, n))
        # an outline like a labeled part's: smooth at the vertex spacing, no two alike
        a1, a2, p1, p2 = rng.uniform(0, 0.15), rng.uniform(0, 0.08), *rng.uniform(0, 6.3, 2)
        radius = min(cell_w, cell_h) * 0.38 * (1 + a1 * np.sin(2 * t + p1) +
                                               a2 * np.sin(3 * t + p2))
        ring = np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], 1)
        items.append((1 + k % 3, Polygon(ring), None, None, Source.IMPORTED, False))
        centres.append((cx, cy))
    with Project.create(folder) as project:
        for name in ("pill", "washer", "chip"):
            project.store.add_class(name)
        record = project.store.add_image("images/big.jpg", width, height,
                                         status=ImageStatus.LABELED)
        project.store.add_instances(record.id, items)
    return record.id, centres


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--instances", type=int, default=2000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="isegui-gui-bench-")) / "project"
    image_id, centres = make_project(folder, args.width, args.height, args.instances)

    from PySide6.QtCore import QElapsedTimer, QPointF, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from isegui.core.project import Project
    from isegui.gui.main_window import MainWindow
    from isegui.gui.session import ProjectSession
    app = QApplication([])
    timer = QElapsedTimer()
    window = MainWindow(ProjectSession(Project.open(folder)))
    window.resize(1600, 1000)
    window.show()
    app.processEvents()

    timer.start()
    window.session.open_image(image_id)
    window.view.viewport().repaint()
    open_ms = timer.nsecsElapsed() / 1e6

    def repaint_ms() -> float:
        timer.start()
        window.view.viewport().repaint()
        return timer.nsecsElapsed() / 1e6

    zoom, pan = [], []
    window.view.fit()
    for k in range(20):  # in towards 1:1 and back out, around the centre
        window.view.zoom_by(1.25 if k < 10 else 0.8)
        zoom.append(repaint_ms())
    window.view.fit()
    window.view.zoom_by(2.0)
    bar = window.view.horizontalScrollBar()
    for k in range(20):
        bar.setValue(bar.value() + (40 if k < 10 else -40))
        pan.append(repaint_ms())

    window.view.fit()
    window.view.viewport().repaint()
    select = []
    for cx, cy in centres[:: max(1, len(centres) // 10)][:10]:
        pos = window.view.mapFromScene(QPointF(cx, cy))
        timer.start()
        QTest.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier, pos)
        window.view.viewport().repaint()
        select.append(timer.nsecsElapsed() / 1e6)
    selected = len(window.session.document.selected)

    result = {
        "benchmark": "gui_canvas", "image": f"{args.width}x{args.height}",
        "instances": args.instances, "platform": os.environ["QT_QPA_PLATFORM"],
        "open_ms": round(open_ms, 1),
        "zoom_repaint_ms": {"median": round(statistics.median(zoom), 2),
                            "p90": round(sorted(zoom)[int(0.9 * len(zoom))], 2)},
        "pan_repaint_ms": {"median": round(statistics.median(pan), 2),
                           "p90": round(sorted(pan)[int(0.9 * len(pan))], 2)},
        "select_ms": {"median": round(statistics.median(select), 2), "max": round(max(select), 2),
                      "selected_after_click": selected},
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    result["targets"] = {
        "open_under_1s": result["open_ms"] < 1000,
        "repaint_median_under_16ms": max(result["zoom_repaint_ms"]["median"],
                                         result["pan_repaint_ms"]["median"]) < 16,
        "select_under_50ms": result["select_ms"]["median"] < 50,
        "memory_under_1_5GB": result["peak_rss_mb"] < 1536,
    }
    print(json.dumps(result, indent=2))
    window.close()
    window.session.close()


if __name__ == "__main__":
    main()
