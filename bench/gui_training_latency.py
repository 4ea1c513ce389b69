"""Benchmark: is the window responsive while a model trains beside it?

    python bench/gui_training_latency.py [--seconds 60] [--size 512] [--batch 4]

Opens the window (offscreen) on a demo project, starts training from the training panel (a
separate process, as in use) and measures the event loop's latency: a timer asks to run every
10 ms and each delay beyond that is recorded, while the window also repaints its canvas and
takes the training events. Target (issue 5): under 100 ms. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="512")
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()

    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from isegui.core.demo import create_demo_project
    from isegui.gui.app import open_window
    from isegui.ml.run_protocol import KINDS
    app = QApplication([])  # noqa: F841 (the window needs the application to exist)
    folder = Path(tempfile.mkdtemp(prefix="isegui-latency-")) / "demo"
    create_demo_project(folder).close()
    window = open_window(folder)
    window.resize(1400, 900)
    window.show()
    panel = window.training
    panel.settings.size.setCurrentText(args.size)
    panel.settings.batch.setValue(args.batch)
    panel.settings.by_minutes.setChecked(True)
    panel.settings.minutes.setValue(args.seconds / 60 + 1)
    events = []
    panel.process.event.connect(lambda event: events.append(KINDS[type(event)]))
    panel.start()
    while "step" not in events:  # from the first training step on
        QTest.qWait(50)

    delays, clock, last = [], QElapsedTimer(), [0.0]
    clock.start()

    def tick():
        now = clock.nsecsElapsed() / 1e6
        if last[0]:
            delays.append(max(0.0, now - last[0] - 10.0))
        last[0] = now
        if len(delays) % 20 == 0:
            window.view.zoom_by(1.05 if len(delays) % 40 else 1 / 1.05)  # keep it painting

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    start = time.monotonic()
    while time.monotonic() - start < args.seconds:
        QTest.qWait(100)
    timer.stop()
    steps = events.count("step")
    panel.process.cancel()
    while panel.process.running:
        QTest.qWait(100)
    ordered = sorted(delays)
    result = {"benchmark": "gui_training_latency", "seconds": args.seconds,
              "training_steps_seen": steps, "ticks": len(delays),
              "latency_ms": {"median": round(statistics.median(ordered), 2),
                             "p99": round(ordered[int(0.99 * (len(ordered) - 1))], 2),
                             "max": round(ordered[-1], 2)},
              "target_max_under_100ms": ordered[-1] < 100}
    print(json.dumps(result, indent=2))
    window.close()
    window.session.close()


if __name__ == "__main__":
    main()
