"""Issue 28, finding 10: training feedback a newcomer can read. The end of a run in words (what
it found of the labeled objects, or how to measure it), plural forms, advice that matches the
working scale (tiles keep small objects at full resolution: not a warning), no command-line
words in the panel, and an augmentation preview of the tiles training uses."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from shapely.geometry import box

from isegui.core.entities import ImageStatus, Source, Split
from isegui.core.images import save_image
from isegui.core.project import Project
from isegui.ml.run_protocol import Done
from tests.gui.conftest import aimed_window
from tests.gui.test_training_advice import advice_text, choose_size


def _frames_with_specks(folder, n=2, side=(1200, 900)):
    """Large frames with 6-px specks (labeled): whole images would shrink them to nothing."""
    with Project.create(folder) as project:
        speck = project.store.add_class("speck").id
        rng = np.random.default_rng(3)
        for k in range(n):
            image = rng.integers(90, 110, (side[1], side[0], 3), np.uint8)
            shapes = []
            for m in range(8):
                x, y = 100 + 130 * m, 200 + 60 * k
                image[y:y + 6, x:x + 6] = (250, 20, 20)
                shapes.append(box(x, y, x + 6, y + 6))
            path = f"images/frame_{k}.png"
            save_image(folder / path, image)
            record = project.store.add_image(path, side[0], side[1], Split.TRAIN,
                                             ImageStatus.LABELED)
            project.store.add_instances(record.id, [(speck, s, None, None, Source.MANUAL, False)
                                                    for s in shapes])
    return folder


@pytest.fixture
def specks_window(qtbot, tmp_path):
    win = aimed_window(qtbot, _frames_with_specks(tmp_path / "specks"))
    settings = win.training.settings
    qtbot.waitUntil(lambda: bool(settings.advice.advice) and settings._reader is None,
                    timeout=10000)
    yield win
    win.close()
    win.session.close()


def test_small_objects_on_tiles_are_information_in_the_panels_words(specks_window):
    settings = specks_window.training.settings
    choose_size(settings, "256")
    text = advice_text(settings)
    assert "tiles of 256 px" in text
    assert "objects too small" not in text  # the tiles keep them at full resolution
    assert "small objects: the narrowest" in text and "full resolution" in text
    assert "--tile" not in settings.advice.text()  # the panel's words, not the CLI's
    assert "with tiles off" in text


def test_the_augmentation_preview_shows_the_training_tiles_with_their_labels(
        qtbot, specks_window):
    from isegui.gui.dialogs.augment_preview import AugmentPreviewDialog
    settings = specks_window.training.settings
    choose_size(settings, "256")
    QTest.mouseClick(settings.preview, Qt.MouseButton.LeftButton)
    dialog = specks_window.findChild(AugmentPreviewDialog)
    assert dialog is not None and "training tiles of 256 px" in dialog.windowTitle()
    for rgb in dialog.images:
        assert rgb.shape[:2] == (256, 256)  # a tile, at full resolution: not the whole frame
    # each shows a labeled speck, tinted: the tiles are cut around the labeled objects
    assert sum(((rgb[..., 0].astype(int) - rgb[..., 1]) > 80).any()
               for rgb in dialog.images) >= len(dialog.images) - 1
    dialog.close()


def test_the_end_of_a_run_is_said_in_words(specks_window):
    panel = specks_window.training
    panel._done(Done(3, "finished", 1, 12, {"mask_map": 0.41, "true_positives": 41,
                                             "instances": 47}, None, 30.0))
    text = panel.status.text()
    assert "finished after 1 epoch (12 steps)" in text
    assert "found 41 of the 47 labeled objects" in text
    panel._done(Done(4, "finished", 2, 1, {"loss": 0.9}, None, 3.0))
    text = panel.status.text()
    assert "after 2 epochs (1 step)" in text
    assert "No validation images" in text and "move some images to val" in text


def test_the_project_folder_chooser_takes_a_typed_new_name(qtbot, tmp_path):
    """The field says "a new or empty folder", but Choose… answered "Directory not found" to a
    typed new name (the audit's finding 14)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QPushButton

    from isegui.gui.dialogs.new_project import NewProjectDialog
    photos = tmp_path / "photos"
    photos.mkdir()
    dialog = NewProjectDialog()
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(tmp_path))
    typed = []

    def type_a_name():
        chooser = next(w for w in QApplication.topLevelWidgets()
                       if isinstance(w, QFileDialog) and w.isVisible())
        name = chooser.findChild(QLineEdit, "fileNameEdit")
        QTest.keyClicks(name, "line3-scratches")
        typed.append(name.text())
        QTest.keyClick(name, Qt.Key.Key_Return)

    QTimer.singleShot(300, type_a_name)
    QTest.mouseClick(dialog.findChild(QPushButton, "choose-project"), Qt.MouseButton.LeftButton)
    assert typed == ["line3-scratches"]
    assert dialog.folder.text() == str(tmp_path / "line3-scratches")
    dialog.images.setText(str(photos))
    assert dialog.problem() is None  # a new folder: the project is made there
