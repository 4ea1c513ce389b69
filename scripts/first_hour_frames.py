"""The first hour on large frames (issue 28), played in the real window by first_hour.py --large:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/first_hour.py docs --large

Eight 2448 x 2048 camera frames of brushed metal with scratches, pits and stains (the defect
generator), a new project from them; the defects of the first frames outlined with box -> mask
(GrabCut: no model yet), one frame left half done (in progress), the others marked labeled;
one moved to val from the image list's menu; a training of TRAIN_MINUTES; the line rules
(every class a defect); File > Export model for the line; and the station judging a new frame
with the exported model. Screenshots: first-hour-large-*.png in the folder given."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

FRAMES = 8
LABELED = 4  # frames whose every defect is drawn and marked labeled
TRAIN_MINUTES = 4


def make_frames(folder: Path) -> dict[str, list]:
    """The frames as camera PNGs and, by file name, the defects in each."""
    from first_hour import make_pictures

    from isegui.core.demo_defects import generate_frame
    return make_pictures(folder, FRAMES, generate_frame, 5100, "frame_{:03d}.png")


def walk(robot, work: Path, frames: Path, truth: dict):
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMenu, QMessageBox

    from first_hour import button, modal, press

    from isegui.gui.dialogs.export_model import ExportModelDialog
    from isegui.gui.dialogs.line_rules import LineRulesDialog
    from isegui.gui.dialogs.new_project import NewProjectDialog
    from isegui.gui.main_window import MainWindow

    # 1. a new project from the frames (1 in 7 held out for val, as the dialog says)
    yield lambda: isinstance(modal(), QMessageBox)
    press(button(modal(), "New project from images…"))
    yield lambda: isinstance(modal(), NewProjectDialog)
    dialog = modal()
    QTest.keyClicks(dialog.folder, str(work / "brushed"))
    QTest.keyClicks(dialog.images, str(frames))
    QTest.keyClicks(dialog.classes, "scratch, pit, stain")
    yield 300
    robot.shoot("large-new-project")
    press(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok))
    yield lambda: isinstance(modal(), QMessageBox) and "added" in modal().text()
    press(modal().button(QMessageBox.StandardButton.Ok))
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
    window.activateWindow()
    yield lambda: QApplication.activeWindow() is window
    view = window.view
    view.setFocus()

    def key(k, modifier=Qt.KeyboardModifier.NoModifier):
        QTest.keyClick(view, k, modifier)

    def drag_box(x0, y0, x1, y1):
        """A box dragged round a defect with the mouse, from corner to corner."""
        viewport = view.viewport()
        start, end = view.mapFromScene(QPointF(x0, y0)), view.mapFromScene(QPointF(x1, y1))
        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         start)
        QTest.mouseMove(viewport, (start + end) / 2)
        QTest.mouseMove(viewport, end)
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                           end)

    # 2. the defects outlined with box -> mask; a frame at a time, zoomed onto each defect
    classes = [c.name for c in window.session.classes()]
    for n in range(LABELED + 1):
        doc = window.session.document
        name = Path(doc.record.path).name
        defects = truth[name] if n < LABELED else truth[name][:2]  # the last: half done
        for obj in defects:
            x0, y0, x1, y1 = obj.shape.bounds
            margin = max(4.0, 0.15 * max(x1 - x0, y1 - y0))
            view.resetTransform()
            if max(x1 - x0, y1 - y0) < 200:  # small ones drawn at 2:1, as a person would
                view.scale(2, 2)
            view.centerOn(QPointF((x0 + x1) / 2, (y0 + y1) / 2))
            QTest.keyClick(view, Qt.Key(Qt.Key.Key_1 + classes.index(obj.class_name)))
            key(Qt.Key.Key_M)
            before = len(doc.instances())
            drag_box(x0 - margin, y0 - margin, x1 + margin, y1 + margin)
            yield 50
            if len(doc.instances()) != before + 1:
                print(f"{name}: box -> mask found nothing on a {obj.class_name}", flush=True)
        if n < LABELED:
            key(Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier
                | Qt.KeyboardModifier.ShiftModifier)  # every defect drawn: labeled
        key(Qt.Key.Key_F)
        yield 300
        if n == LABELED:
            break
        key(Qt.Key.Key_D)
        yield 200
    robot.shoot("large-status-list")  # labeled, in progress, unlabeled in the image list

    # 3. one labeled frame moved to val from the image list's menu
    images = window.images.list
    item = images.item(1)
    rect = images.visualItemRect(item)
    QTest.mouseClick(images.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, rect.center())
    yield 300
    images.customContextMenuRequested.emit(rect.center())
    yield lambda: any(isinstance(w, QMenu) and w.isVisible()
                      for w in QApplication.topLevelWidgets())
    yield 300
    robot.shoot("large-split-menu")
    menu = next(w for w in QApplication.topLevelWidgets()
                if isinstance(w, QMenu) and w.isVisible())
    next(a for a in menu.actions() if a.text().endswith("to val")).trigger()
    menu.close()
    yield 300

    # 4. a first training from the dock, its end said in words
    panel = window.training
    window.docks["training"].raise_()
    settings = panel.settings
    press(settings.by_minutes)
    settings.minutes.selectAll()
    QTest.keyClicks(settings.minutes, str(TRAIN_MINUTES))
    yield lambda: "tiles" in settings.advice.text().lower()
    robot.shoot("large-training-advice")
    press(panel.start_button)

    def trained():
        return not panel.process.running and "finished" in panel.status.text()
    trained.patience = TRAIN_MINUTES * 60 + 600
    yield trained
    yield 1000
    robot.shoot("large-training-done")

    # 5. line rules: every class starts as a defect; saved where the export finds them
    review = window.review
    window.docks["review"].raise_()
    yield 300
    press(review.rules_button)
    yield lambda: review.findChild(LineRulesDialog) is not None
    rules = review.findChild(LineRulesDialog)
    yield 500
    robot.shoot("large-line-rules")
    rules.save(window.session.project.folder / "rules.json")
    rules.close()

    # 6. File > Export model for the line
    window.actions_by_name["export-model"].trigger()
    export = window.findChild(ExportModelDialog)
    yield 300
    robot.shoot("large-export-dialog")
    press(export.export_button)

    def exported():
        return export.worker is None
    exported.patience = 600
    yield exported
    yield 300
    robot.shoot("large-export-done")
    if export.written is None:
        raise RuntimeError(f"the export failed: {export.said.text()}")
    model = Path(export.written["path"])
    export.close()

    # 7. the station beside the camera: a frame lands, only what the rules counted is marked
    from isegui.gui.station import StationWindow
    from isegui.ml.infer.line_watch import watcher_for
    camera = work / "camera"
    camera.mkdir()
    station = StationWindow(watcher_for(camera, model, settle_s=0.3, poll_s=0.1),
                            "isegui station — large frames")
    station.resize(1500, 950)
    station.show()
    station.start()
    shutil.copy(frames / f"frame_{FRAMES:03d}.png", camera / "part-0001.png")
    started = time.monotonic()

    def judged():
        return station.parts == 1 or time.monotonic() - started > 300
    judged.patience = 320
    yield judged
    yield 800
    robot.shoot("large-station")
    QTest.mouseClick(station.show_all, Qt.MouseButton.LeftButton)
    yield 800
    robot.shoot("large-station-all")
    station.close()
    window.close()
    QApplication.instance().quit()
