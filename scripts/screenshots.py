"""Screenshots of the real window for the README, driven like a user would.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py docs

Writes labeling-demo.png, tiff-16bit.png, cutting-a-hole.png, training-curves.png,
review-verdicts.png and measurements.png into the folder given. The review needs a trained
model: the script trains one on the demo for a few minutes first (REVIEW_MINUTES).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REVIEW_MINUTES = 4.0


def main(out: Path) -> None:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from isegui.core.demo import create_demo_project
    from isegui.gui.app import open_window

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="isegui-shots-"))
    app = QApplication([sys.argv[0]])  # noqa: F841 (kept alive for the widgets)

    def settle(ms: int = 150) -> None:
        QTest.qWait(ms)

    def at(window, x, y):
        return window.view.mapFromScene(QPointF(x, y))

    def click(window, x, y):
        QTest.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier, at(window, x, y))

    def hover(window, x, y):
        QTest.mouseMove(window.view.viewport(), at(window, x, y))

    def shoot(window, name: str) -> None:
        settle(300)
        window.grab().save(str(out / name))
        print(out / name)

    # 1. labeling the demo project: one instance selected for editing, a polygon in progress
    create_demo_project(work / "demo").close()
    window = open_window(work / "demo")
    window.resize(1500, 900)
    window.show()
    settle(400)
    window.images.step(+2)
    settle()
    doc = window.session.document
    biggest = max(doc.instances(), key=lambda i: i.shape.area)
    doc.set_selection([biggest.id])
    window.set_tool("polygon")
    window.classes.pick_number(3)
    for x, y in [(40, 300), (90, 290), (110, 340)]:
        click(window, x, y)
    hover(window, 60, 360)
    window.view.setFocus()
    shoot(window, "labeling-demo.png")
    QTest.keyClick(window.view, Qt.Key.Key_Escape)

    # 3. cutting a hole: a chip-shaped rectangle selected, the hole polygon half drawn
    window.set_tool("rectangle")
    QTest.mousePress(window.view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, at(window, 300, 200))
    QTest.mouseMove(window.view.viewport(), at(window, 420, 330))
    QTest.mouseRelease(window.view.viewport(), Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier, at(window, 420, 330))
    window.set_tool("hole")
    for x, y in [(330, 230), (390, 235), (385, 300)]:
        click(window, x, y)
    hover(window, 335, 295)
    shoot(window, "cutting-a-hole.png")
    window.close()
    window.session.close()

    # 2. a 16-bit grayscale TIFF (a 12-bit camera frame), labeled, with its values shown
    from isegui.core.entities import Source
    from isegui.core.images import save_image
    from isegui.core.project import Project
    folder = work / "tiff"
    with Project.create(folder) as project:
        cls = project.store.add_class("particle")
        yy, xx = np.mgrid[0:600, 0:800].astype(np.float32)
        frame = 600 + 900 * np.exp(-((xx - 400) ** 2 + (yy - 300) ** 2) / 2e5)
        rng = np.random.default_rng(1)
        shapes = []
        from shapely.geometry import Point
        for _ in range(14):
            cx, cy, r = rng.uniform(60, 740), rng.uniform(60, 540), rng.uniform(12, 40)
            disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
            frame[disc] += 1800
            shapes.append(Point(cx, cy).buffer(r, 24))
        frame += rng.normal(0, 40, frame.shape)
        save_image(folder / "images" / "particles.tif", np.clip(frame, 0, 4095).astype(np.uint16))
        record = project.store.add_image("images/particles.tif", 800, 600)
        project.store.add_instances(record.id, [(cls.id, s, None, None, Source.MANUAL, False)
                                                for s in shapes])
    window = open_window(folder)
    window.resize(1500, 900)
    window.show()
    settle(400)
    window.opacity_slider.setValue(25)
    hover(window, 400, 300)
    shoot(window, "tiff-16bit.png")
    window.close()
    window.session.close()

    training_and_review(work, shoot, settle)
    shutil.rmtree(work, ignore_errors=True)


def training_and_review(work: Path, shoot, settle) -> None:
    """Training curves mid-run; then, with a model trained a few minutes, the review of one
    image in right / wrong / missed colours, and its measurement table."""
    import time

    from isegui.core.demo import create_demo_project
    from isegui.gui.app import open_window
    from isegui.gui.commands.instance_commands import SetCalibrationCommand
    from isegui.ml.train.spec import TrainSpec
    from isegui.ml.train.trainer import fit

    create_demo_project(work / "review").close()
    fit(TrainSpec(project=work / "review", size=512, epochs=None, minutes=REVIEW_MINUTES,
                  batch=4, name="four minutes"))
    window = open_window(work / "review")
    window.resize(1500, 950)
    window.show()
    settle(400)

    panel = window.training
    window.docks["training"].raise_()
    panel.settings.size.setCurrentText("256")
    panel.settings.by_minutes.setChecked(True)
    panel.settings.minutes.setValue(2)
    epochs = []
    panel.process.event.connect(lambda kind, f: kind == "epoch" and epochs.append(f))
    panel.start()
    start = time.monotonic()
    while len(epochs) < 3 and time.monotonic() - start < 150:
        settle(200)
    shoot(window, "training-curves.png")
    panel.process.cancel()
    while panel.process.running:
        settle(200)

    review = window.review
    window.docks["review"].raise_()
    review.refresh_runs()
    review.run.setCurrentIndex(review.run.findText("four minutes", flags=Qt_match()))
    review.start([window.session.document.image_id])
    while review.worker is not None:
        settle(200)
    review.slider.setValue(5)  # a four-minute model is unsure of everything
    review.by_verdict.setChecked(True)
    shoot(window, "review-verdicts.png")

    review.by_verdict.setChecked(False)
    window.session.undo_stack.push(SetCalibrationCommand(window.session, 0.1))
    window.docks["measure"].raise_()
    shoot(window, "measurements.png")
    window.close()
    window.session.close()


def Qt_match():
    from PySide6.QtCore import Qt
    return Qt.MatchFlag.MatchContains


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs")
