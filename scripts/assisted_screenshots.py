"""Screenshots of the assisted labeling tools on a copy of a project with a trained run
(the demo after `isegui train`), driven with real mouse events:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/assisted_screenshots.py \
        PROJECT docs

Writes box-to-mask.png (three objects outlined by the active run's model from dragged boxes)
and edge-following.png (an outline in progress that follows an object's edge between anchors).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(project: Path, out: Path) -> None:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from isegui.core.entities import Split
    from isegui.core.project import Project
    from isegui.gui.app import open_window

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="isegui-assist-")) / "project"
    shutil.copytree(project, work, ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    with Project.open(work) as p:  # a val image, unlabeled again: the tools label it
        record = p.store.images(Split.VAL)[0]
        truth = p.store.instances(record.id)
        for inst in truth:
            p.store.delete_instances(record.id, [inst.id])
    app = QApplication([sys.argv[0]])  # noqa: F841 (kept alive for the widgets)
    window = open_window(work)
    window.resize(1500, 950)
    window.show()
    QTest.qWait(400)
    window.session.open_image(record.id)
    QTest.qWait(300)
    viewport = window.view.viewport()

    def at(x, y):
        return window.view.mapFromScene(QPointF(x, y))

    def shoot(name: str) -> None:
        QTest.qWait(300)
        window.grab().save(str(out / name))
        print(out / name)

    window.set_tool("box-mask")
    window.ctx.assist.predictor()  # loaded before the first box, as the tool's preload does
    for inst in sorted(truth, key=lambda i: -i.shape.area)[:3]:
        x0, y0, x1, y1 = inst.shape.bounds
        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         at(x0 - 3, y0 - 3))
        QTest.mouseMove(viewport, at((x0 + x1) / 2, (y0 + y1) / 2))
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier, at(x1 + 3, y1 + 3))
        QTest.qWait(100)
    shoot("box-to-mask.png")

    window.set_tool("scissors")
    target = sorted(truth, key=lambda i: -i.shape.area)[3]
    ring = target.shape.exterior if hasattr(target.shape, "exterior") else \
        max(target.shape.geoms, key=lambda g: g.area).exterior
    centre = target.shape.centroid
    window.view.zoom_by(4 / window.view.scale_factor)  # close up: the outline hugs the edge
    window.view.centerOn(QPointF(centre.x, centre.y))
    QTest.qWait(200)
    anchors = [ring.interpolate(k / 10, normalized=True) for k in range(8)]
    for point in anchors:
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         at(point.x, point.y))
        QTest.qWait(50)
    cursor = ring.interpolate(8.4 / 10, normalized=True)
    QTest.mouseMove(viewport, at(cursor.x, cursor.y))
    shoot("edge-following.png")
    window.close()
    window.session.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
