"""A newcomer's first hour, played in the real app on a real (virtual) screen, with screenshots:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/first_hour.py docs
    (with --large: 5-MP frames of defects, the line set up from the window: first_hour_frames)

A folder of 40 photos (scenes of the demo generator, saved as camera JPEGs, one of them cut
short as a failed copy would leave it) and a new machine (no settings, no weights). Then, as a
user would, through the window's own buttons, keys and mouse: the start dialog's "New project
from images…", the images in (the summary names the broken file), polygons clicked around the
objects of the first LABELED images with the polygon and hole tools, a first training of
TRAIN_MINUTES from the Training dock (its advice read first), and the Review of an image no one
labeled, whose predictions are accepted as labels. Screenshots of the whole screen go to
first-hour-*.png in the folder given. The script only clicks and types: if a step cannot be
done in the window, it stops with the reason.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PHOTOS = 40
LABELED = 16
TRAIN_MINUTES = 5
CLASSES = ("pill", "washer", "chip")


def make_pictures(folder: Path, count: int, generate, first_seed: int,
                  name: str) -> dict[str, list]:
    """`count` pictures made by `generate(seed)`, saved as `name.format(k)` (k from 1), and by
    file name the objects in each (what the user sees and outlines)."""
    from isegui.core.images import save_image
    folder.mkdir(parents=True)
    truth = {}
    for k in range(count):
        image, objects = generate(first_seed + k)
        save_image(folder / name.format(k + 1), image)
        truth[name.format(k + 1)] = objects
    return truth


def make_photos(folder: Path) -> dict[str, list]:
    """The photos (demo scenes as camera JPEGs), one of them cut short."""
    from isegui.core.demo import generate_scene
    truth = make_pictures(folder, PHOTOS, generate_scene, 7000, "IMG_{:04d}.jpg")
    broken = folder / f"IMG_{PHOTOS:04d}.jpg"
    broken.write_bytes(broken.read_bytes()[:5000])  # a copy that stopped half-way
    return truth


class Robot:
    """Steps of a generator, each yielding a condition (a callable) or a delay (ms) to wait
    for, run from the event loop: modal dialogs keep running while it waits."""

    def __init__(self, out: Path):
        from PySide6.QtCore import QTimer
        self.timer = QTimer
        self.steps, self.out, self.shots = None, out, 0
        self.failure = ""

    def start(self, steps) -> None:
        self.steps = steps
        self.timer.singleShot(800, self._next)

    def _next(self) -> None:
        try:
            wait = next(self.steps)
        except StopIteration:
            return
        except Exception:  # the walk-through stops; the app closes and says why
            import traceback
            self._fail(traceback.format_exc())
            return
        if callable(wait):
            self._poll(wait, time.monotonic())
        else:
            self.timer.singleShot(int(wait), self._next)

    def _poll(self, condition, since: float) -> None:
        if condition():
            self.timer.singleShot(200, self._next)
        elif time.monotonic() - since > getattr(condition, "patience", 120):
            self._fail(f"waited too long for {condition.__qualname__}")
        else:
            self.timer.singleShot(200, lambda: self._poll(condition, since))

    def _fail(self, text: str) -> None:
        from PySide6.QtWidgets import QApplication
        self.failure = text
        self.shoot("where-it-stopped")
        QApplication.instance().exit(1)

    def shoot(self, name: str) -> None:
        from PySide6.QtGui import QGuiApplication
        self.shots += 1
        path = self.out / f"first-hour-{self.shots}-{name}.png"
        QGuiApplication.primaryScreen().grabWindow(0).save(str(path))
        print(path, flush=True)


def modal():
    """The modal dialog on screen, if any."""
    from PySide6.QtWidgets import QApplication
    return QApplication.activeModalWidget()


def button(widget, text: str):
    """The push button of `widget` showing `text` (mnemonics aside)."""
    from PySide6.QtWidgets import QPushButton
    found = [b for b in widget.findChildren(QPushButton) if b.text().replace("&", "") == text]
    if not found:
        raise RuntimeError(f"no button {text!r} in {widget.windowTitle()!r}")
    return found[0]


def press(widget) -> None:
    """A left click on `widget`, as a person's."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


def walk(robot: Robot, work: Path, photos: Path, truth: dict):
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox

    from isegui.gui.dialogs.new_project import NewProjectDialog
    from isegui.gui.main_window import MainWindow

    # 1. the start dialog of a new machine
    yield lambda: isinstance(modal(), QMessageBox)
    robot.shoot("start-dialog")
    press(button(modal(), "New project from images…"))

    # 2. the new project: a folder for it, the photos, the classes
    yield lambda: isinstance(modal(), NewProjectDialog)
    dialog = modal()
    QTest.keyClicks(dialog.folder, str(work / "line3"))
    QTest.keyClicks(dialog.images, str(photos))
    QTest.keyClicks(dialog.classes, ", ".join(CLASSES))
    yield 300
    robot.shoot("new-project")
    press(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok))

    # 3. the images come in; the summary names the file that cannot be read
    def summary_shown():
        return isinstance(modal(), QMessageBox) and "added" in modal().text()
    yield summary_shown
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
    robot.shoot("images-in")
    press(modal().button(QMessageBox.StandardButton.Ok))
    yield 300

    # 4. labeling: each object outlined with clicks, washers' holes cut, image after image
    view = window.view
    window.activateWindow()  # keys go to the active window (no window manager here)
    yield lambda: QApplication.activeWindow() is window
    view.setFocus()

    def click(x, y):
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier, view.mapFromScene(QPointF(x, y)))

    def key(k, modifier=Qt.KeyboardModifier.NoModifier):
        QTest.keyClick(view, k, modifier)

    def outline(ring) -> None:
        """Click the vertices, keeping clear of the first one (a click near it closes the
        polygon, as in labelme), then Enter."""
        points = list(ring.coords)[:-1]
        reach = 10 / view.scale_factor  # image px within 10 screen px
        first = points[0]
        for x, y in [first] + [p for p in points[1:]
                               if abs(p[0] - first[0]) + abs(p[1] - first[1]) > reach]:
            click(x, y)
        key(Qt.Key.Key_Return)

    for n in range(LABELED):
        doc = window.session.document
        name = Path(doc.record.path).name
        key(Qt.Key.Key_F)
        for obj in truth[name]:
            part = max(getattr(obj.shape, "geoms", [obj.shape]), key=lambda p: p.area)
            part = shapely.simplify(part, 0.8)
            if part.area < 150:  # a sliver peeking out from under others: left for later
                continue
            QTest.keyClick(view, Qt.Key(Qt.Key.Key_1 + CLASSES.index(obj.class_name)))
            key(Qt.Key.Key_P)
            if view.tool.name != "polygon":
                raise RuntimeError("the P key did not pick the polygon tool")
            before = len(doc.instances())
            outline(part.exterior)
            for hole in part.interiors:
                key(Qt.Key.Key_H)
                outline(hole)
            if len(doc.instances()) != before + 1:
                raise RuntimeError(f"{name}: the {obj.class_name} clicked around did not "
                                   "become an instance")
            QApplication.processEvents()
        if n == 3:  # one more, half drawn, for the picture
            key(Qt.Key.Key_P)
            for x, y in [(40, 40), (90, 35), (120, 80)]:
                click(x, y)
            QTest.mouseMove(view.viewport(), view.mapFromScene(QPointF(70, 110)))
            yield 300
            robot.shoot("labeling")
            key(Qt.Key.Key_Escape)
        key(Qt.Key.Key_D)  # the next image
        yield 100
        if window.session.document is doc:
            raise RuntimeError("the D key did not go to the next image")

    # 5. training: what the panel says first, then a first run of a few minutes
    panel = window.training
    window.docks["training"].raise_()
    panel.tabs.setCurrentIndex(0)
    settings = panel.settings
    press(settings.by_minutes)
    settings.minutes.selectAll()
    QTest.keyClicks(settings.minutes, str(TRAIN_MINUTES))
    yield lambda: "weights" in settings.advice.text().lower()
    robot.shoot("training-advice")
    press(panel.start_button)
    started = time.monotonic()
    def halfway():
        return time.monotonic() - started > TRAIN_MINUTES * 30
    halfway.patience = TRAIN_MINUTES * 60
    yield halfway
    robot.shoot("training")
    def trained():
        return not panel.process.running
    trained.patience = TRAIN_MINUTES * 60 + 300
    yield trained
    yield 1000
    robot.shoot("training-done")

    # 6. review: predict an image no one labeled, accept what the model found
    review = window.review
    window.docks["review"].raise_()
    images = window.images.list
    target = LABELED + 2
    QTest.mouseClick(images.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier,
                     images.visualItemRect(images.item(target)).center())
    yield 500
    press(review.predict_image)
    yield lambda: review.worker is None
    yield 800
    robot.shoot("review")
    press(review.accept_all)
    yield 800
    robot.shoot("accepted")
    window.close()
    QApplication.instance().quit()


def main(out: Path, large: bool = False) -> int:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="isegui-first-hour-"))
    # a new machine: no settings, no weights, no last project
    os.environ["XDG_CONFIG_HOME"] = str(work / "config")
    os.environ["ISEGUI_WEIGHTS_DIR"] = str(work / "weights")
    os.environ["ISEGUI_LOG_DIR"] = str(work / "logs")
    from PySide6.QtWidgets import QApplication

    from isegui.gui.app import run_app
    QApplication([sys.argv[0]])
    robot = Robot(out)
    if large:  # 5-MP frames of defects (scripts/first_hour_frames.py)
        sys.path.insert(0, str(ROOT / "scripts"))
        import first_hour_frames
        truth = first_hour_frames.make_frames(work / "frames")
        robot.start(first_hour_frames.walk(robot, work, work / "frames", truth))
    else:
        truth = make_photos(work / "photos")
        robot.start(walk(robot, work, work / "photos", truth))
    code = run_app([])
    if robot.failure:
        print(robot.failure, file=sys.stderr)
        return 1
    print(f"work folder: {work}")
    return code


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--large"]
    sys.exit(main(Path(args[0]) if args else ROOT / "docs", "--large" in sys.argv[1:]))
