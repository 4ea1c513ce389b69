"""The training settings say what will limit a run as the settings change: objects shrunk
below what a model finds at the chosen size, random weights on few labels (gone once a weights
file is in the weights folder, through the File… button)."""

import numpy as np
import pytest
import torch
import torchvision
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QMessageBox
from shapely.geometry import box

from isegui.core.entities import ImageStatus, Source, Split
from isegui.core.images import save_image
from isegui.core.project import Project
from isegui.gui.panels.training_settings import TrainingSettings
from isegui.gui.session import ProjectSession

FAST_FILE = "mobilenet_v3_large-8738ca79.pth"


def small_objects_project(folder):
    """Three 1000 x 750 images, each with 30 parts 20 px wide: 5.1 px at 256 px."""
    with Project.create(folder) as project:
        part = project.store.add_class("part").id
        rng = np.random.default_rng(0)
        for k, split in enumerate((Split.TRAIN, Split.TRAIN, Split.VAL)):
            path = f"images/frame_{k}.png"
            save_image(folder / path, rng.integers(0, 255, (750, 1000, 3), np.uint8))
            record = project.store.add_image(path, 1000, 750, split, ImageStatus.LABELED)
            parts = [box(30 + 90 * (n % 10), 40 + 200 * (n // 10), 90 + 90 * (n % 10),
                         60 + 200 * (n // 10)) for n in range(30)]
            project.store.add_instances(record.id, [(part, p, None, None, Source.MANUAL, False)
                                                    for p in parts])
    return folder


@pytest.fixture
def settings(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("ISEGUI_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    session = ProjectSession(Project.open(small_objects_project(tmp_path / "p")))
    widget = TrainingSettings(session)
    qtbot.addWidget(widget)
    widget.resize(700, 900)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    session.close()


def advice_text(settings):
    return " ".join(f"{a.title}: {a.text}" for a in settings.advice.advice)


def choose_size(settings, text):
    edit = settings.size.lineEdit()
    edit.selectAll()
    QTest.keyClicks(edit, text)


def test_the_advice_follows_the_size_and_the_weights_folder(qtbot, settings, tmp_path,
                                                            monkeypatch, dialogs):
    qtbot.waitUntil(lambda: bool(settings.advice.advice) and settings._reader is None,
                    timeout=10000)
    assert settings.init.itemText(0) == "random weights: no pretrained file found"
    choose_size(settings, "256")
    assert settings.size.currentText() == "256"
    # left to choose, the run cuts the 1000-px images into tiles that keep the 20-px objects
    text = advice_text(settings)
    assert "tiles: whole images at 256 px would shrink the narrow objects to 5.1 px" in text
    assert "tiles of 256 px at scale 0.5" in text and "objects too small" not in text
    assert not settings.tile_scale.isEnabled()
    # whole images asked for: too small, and the size that keeps them is said
    settings.tiles.setFocus()
    QTest.keyClick(settings.tiles, Qt.Key.Key_Down)
    assert settings.tiles.currentData() == "off"
    assert settings.arguments()[settings.arguments().index("--tile") + 1] == "0"
    text = advice_text(settings)
    assert "objects too small: at 256 px" in text
    assert "are 5.1 px wide or less" in text  # 20 px * 256 / 1000
    assert "An input size of 512 px keeps them 10 px wide" in text
    assert "random weights on few labels" in text and "90 labeled instances" in text
    shown = settings.advice.text()
    assert "5.1 px" in shown and "#e65100" in shown  # on screen, in the warning colour

    choose_size(settings, "512")
    assert "objects too small" not in advice_text(settings)
    assert "object size: at 512 px" in advice_text(settings)
    # tiles asked for, at a scale typed in
    QTest.keyClick(settings.tiles, Qt.Key.Key_Down)
    assert settings.tiles.currentData() == "on" and settings.tile_scale.isEnabled()
    settings.tile_scale.lineEdit().selectAll()
    QTest.keyClicks(settings.tile_scale.lineEdit(), "0.75")
    args = settings.arguments()
    assert args[args.index("--tile") + 1] == "512" and args[args.index("--scale") + 1] == "0.75"
    assert "tiles of 512 px at scale 0.75, as asked" in advice_text(settings)
    QTest.keyClick(settings.tiles, Qt.Key.Key_Up)
    QTest.keyClick(settings.tiles, Qt.Key.Key_Up)
    assert settings.tiles.currentData() == "auto" and "--tile" not in settings.arguments()
    assert "--no-blobs" not in settings.arguments()  # blob classes: chosen on tiles
    QTest.mouseClick(settings.blobs, Qt.MouseButton.LeftButton)
    assert "--no-blobs" in settings.arguments()

    # a weights file, copied into the weights folder through the File… button
    weights = tmp_path / "downloads" / "backbone.pth"
    weights.parent.mkdir()
    torch.save(torchvision.models.mobilenet_v3_large(weights=None).state_dict(), weights)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(weights), ""))
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a, **k:
                        asked.append(text) or QMessageBox.StandardButton.Yes)
    QTest.mouseClick(settings.choose_file, Qt.MouseButton.LeftButton)
    assert "into the weights folder" in asked[0]
    qtbot.waitUntil(lambda: settings._installer is None, timeout=30000)
    assert (tmp_path / "weights" / FAST_FILE).is_file()
    assert dialogs and dialogs[-1][0] == "information" and FAST_FILE in dialogs[-1][1]
    assert settings.init.itemText(0) == f"pretrained: {FAST_FILE} (weights folder)"
    assert settings.init.currentIndex() == 0
    text = advice_text(settings)
    assert "random weights" not in text and f"start: from {FAST_FILE} (weights folder)" in text


def test_a_file_for_one_run_only_is_passed_with_init(qtbot, settings, tmp_path, monkeypatch):
    qtbot.waitUntil(lambda: bool(settings.advice.advice) and settings._reader is None,
                    timeout=10000)
    path = tmp_path / "other.pth"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.No)
    QTest.mouseClick(settings.choose_file, Qt.MouseButton.LeftButton)
    assert settings.init.currentText() == "other.pth (this run only)"
    assert settings.arguments()[-2:] == ["--init", str(path)]
    assert "random weights" not in advice_text(settings)
    assert not (tmp_path / "weights").exists()


def test_the_advice_follows_the_labels_drawn_since_it_was_read(qtbot, window):
    """Labels drawn after the panel was first shown count: raised again, or while on screen."""
    from shapely.geometry import box as rect

    from isegui.core.entities import ImageStatus
    from isegui.gui.commands.instance_commands import AddInstanceCommand, SetImageStatusCommand
    panel = window.training.settings
    window.docks["training"].raise_()
    qtbot.waitUntil(lambda: "nothing to learn" in advice_text(panel), timeout=30_000)
    window.docks["instances"].raise_()  # labeling, with the Training dock behind
    session = window.session
    pill = session.classes()[0].id
    image = session.document.image_id
    session.undo_stack.push(AddInstanceCommand(session, image, pill, rect(20, 20, 60, 50)))
    window.docks["training"].raise_()  # begun, not marked labeled: left out, and said
    qtbot.waitUntil(lambda: "images in progress left out" in advice_text(panel),
                    timeout=30_000)
    window.docks["instances"].raise_()
    session.undo_stack.push(SetImageStatusCommand(session, image, ImageStatus.LABELED))
    window.docks["training"].raise_()
    qtbot.waitUntil(lambda: "1 labeled instances" in advice_text(panel), timeout=30_000)
    # drawn with the panel on screen (a floating dock, or a second monitor)
    session.undo_stack.push(AddInstanceCommand(session, image, pill, rect(80, 20, 120, 50)))
    qtbot.waitUntil(lambda: "2 labeled instances" in advice_text(panel), timeout=30_000)
