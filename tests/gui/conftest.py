"""A real main window on a small project, and helpers that drive it with mouse and keys."""

import shutil

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from isegui.core.entities import ImageStatus
from isegui.core.images import save_image
from isegui.core.project import Project


def make_project(folder, images=2, size=(200, 150)):
    with Project.create(folder) as project:
        for name in ("pill", "washer", "chip"):
            project.store.add_class(name)
        rng = np.random.default_rng(0)
        for k in range(images):
            path = f"images/img_{k}.png"
            save_image(folder / path, rng.integers(60, 120, (size[1], size[0], 3), np.uint8))
            project.store.add_image(path, size[0], size[1], status=ImageStatus.UNLABELED)
    return folder


@pytest.fixture(autouse=True)
def dialogs(monkeypatch):
    """Message boxes are recorded instead of shown: a modal box would wait for a click that
    never comes."""
    from PySide6.QtWidgets import QMessageBox
    shown = []
    for kind in ("warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, kind,
                            lambda parent, title, text, *a, kind=kind, **k:
                            shown.append((kind, text)))
    return shown


def aimed_window(qtbot, folder):
    """A real window on `folder`, shown, the canvas at 1:1 with the image's top-left in view:
    easy to aim at in image pixels."""
    from isegui.gui.app import open_window
    win = open_window(folder)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    win.view.setFocus()
    qtbot.wait(20)  # let the window's own fit-on-open happen first
    win.view.resetTransform()  # 1:1 and the image's top-left in view: easy to aim
    win.view.centerOn(QPointF(100, 75))
    return win


@pytest.fixture
def window(qtbot, tmp_path):
    win = aimed_window(qtbot, make_project(tmp_path / "p"))
    yield win
    win.close()
    win.session.close()


class Driver:
    """Mouse and keys on the canvas, aimed in image pixels."""

    def __init__(self, win):
        self.win = win
        self.viewport = win.view.viewport()

    def at(self, x, y) -> QPoint:
        return self.win.view.mapFromScene(QPointF(x, y))

    def click(self, x, y, modifier=Qt.KeyboardModifier.NoModifier):
        QTest.mouseClick(self.viewport, Qt.MouseButton.LeftButton, modifier, self.at(x, y))

    def double_click(self, x, y):
        QTest.mouseDClick(self.viewport, Qt.MouseButton.LeftButton,
                          Qt.KeyboardModifier.NoModifier, self.at(x, y))

    def drag(self, points):
        QTest.mousePress(self.viewport, Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier, self.at(*points[0]))
        for p in points[1:]:
            QTest.mouseMove(self.viewport, self.at(*p))
        QTest.mouseRelease(self.viewport, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier, self.at(*points[-1]))

    def hover(self, x, y):
        QTest.mouseMove(self.viewport, self.at(x, y))

    def key(self, key, modifier=Qt.KeyboardModifier.NoModifier):
        QTest.keyClick(self.win.view, key, modifier)

    def shortcut(self, sequence: str):
        from PySide6.QtGui import QKeySequence
        combo = QKeySequence(sequence)[0]
        QTest.keyClick(self.win.view, combo.key(), combo.keyboardModifiers())

    def polygon(self, points, close="click"):
        for p in points:
            self.click(*p)
        if close == "click":
            self.click(*points[0])
        else:
            self.key(Qt.Key.Key_Return)


@pytest.fixture
def drive(window):
    return Driver(window)


@pytest.fixture
def windows():
    """Windows a test opens (or switches to) are closed with their projects afterwards."""
    import shiboken6
    from PySide6.QtCore import QCoreApplication, QEvent

    from isegui.gui import app
    opened = []
    yield opened
    for win in opened + app.opened_windows():
        if shiboken6.isValid(win):  # a window switched away from is closed and deleted
            win.close()
            win.session.close()
            win.deleteLater()  # and so forgotten by the app, as when a user closes it
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert app.opened_windows() == []


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory):
    from isegui.core.demo import create_demo_project
    folder = tmp_path_factory.mktemp("demo") / "demo"
    create_demo_project(folder, n_images=6, width=160, height=128).close()
    return folder


@pytest.fixture(scope="session")
def trained_template(demo_template, tmp_path_factory):
    """The demo with one short run (trained headless: these tests are about the review)."""
    from isegui.cli import main
    folder = tmp_path_factory.mktemp("trained") / "demo"
    shutil.copytree(demo_template, folder)
    assert main(["train", str(folder), "--size", "128", "--epochs", "1", "--batch", "2",
                 "--device", "cpu", "--workers", "0"]) == 0
    return folder
