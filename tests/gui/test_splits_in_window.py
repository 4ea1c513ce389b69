"""Issue 28, finding 5: the splits from the window. Images move between train, val and test
from the image list (several at once, one undoable step); a new project holds one image in
seven out for validation; Run metrics without labeled val images measures the train split and
says that it flatters the run; a failed evaluation is said in words."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

from isegui.core.entities import Split


def _row_point(panel, row):
    return panel.list.visualItemRect(panel.list.item(row)).center()


def test_selected_images_move_to_val_in_one_undoable_step(window):
    panel = window.images
    assert panel.list.isVisible() and panel.list.count() == 2
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, _row_point(panel, 0))
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.ControlModifier, _row_point(panel, 1))
    assert len(panel.selected_ids()) == 2
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.RightButton,
                     Qt.KeyboardModifier.NoModifier, _row_point(panel, 1))
    menu = QApplication.activePopupWidget()
    if menu is None:  # the right-click reaches no context menu on some platforms' test input
        panel.list.customContextMenuRequested.emit(_row_point(panel, 1))
        menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu)
    assert [a.text() for a in menu.actions()] == [
        "Move 2 images to train", "Move 2 images to val", "Move 2 images to test"]
    QTest.keyClick(menu, Qt.Key.Key_Down)
    QTest.keyClick(menu, Qt.Key.Key_Down)  # "to val"
    QTest.keyClick(menu, Qt.Key.Key_Return)
    store = window.session.store
    assert {r.split for r in store.images()} == {Split.VAL}
    assert window.session.undo_stack.count() == 1
    window.session.undo_stack.undo()
    assert {r.split for r in store.images()} == {Split.TRAIN}
    assert all(panel.list.item(k).text().endswith("train") for k in range(2))


def test_a_new_project_holds_one_image_in_seven_out_for_validation(qtbot, tmp_path):
    import numpy as np

    from isegui.core.add_images import held_out
    from isegui.core.images import save_image
    from isegui.gui.dialogs.new_project import NewProjectDialog
    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(8):
        save_image(photos / f"p{k}.png", np.zeros((8, 8, 3), np.uint8))
    dialog = NewProjectDialog()
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(tmp_path / "new"))
    dialog.images.setText(str(photos))
    job = dialog.request().job
    assert job.val_every == 7 and "val" in dialog.val_every.toolTip()
    assert [held_out(k, 7, Split.TRAIN) for k in range(8)].count(Split.VAL) == 1
    assert [held_out(k, 7, Split.TRAIN) for k in range(4)].count(Split.VAL) == 1
    dialog.val_every.setValue(0)
    assert dialog.request().job.val_every == 0 and dialog.val_every.text() == "none"


def test_run_metrics_without_val_measure_train_and_say_so(window, monkeypatch):
    from isegui.core.entities import ImageStatus, RunStatus
    from isegui.gui.dialogs import run_metrics
    session = window.session
    run = session.store.add_run("r", {"model": "fast", "size": 256})
    session.store.update_run(run.id, status=RunStatus.FINISHED)
    session.store.set_status(session.store.images()[0].id, ImageStatus.LABELED)
    window.review.reload_runs() if hasattr(window.review, "reload_runs") else None
    opened = []

    class Recorded:
        def __init__(self, *args, **kwargs):
            opened.append(kwargs)

        def show(self):
            pass
    monkeypatch.setattr(run_metrics, "RunMetricsDialog", Recorded)
    monkeypatch.setattr(window.review.run, "currentData", lambda *a: run.id)
    window.review.show_metrics()
    assert opened[0]["split"] == "train" and "flatter" in opened[0]["warning"]


def test_a_failed_evaluation_is_said_in_words(window):
    from isegui.gui.dialogs.run_metrics import RunMetricsDialog
    dialog = RunMetricsDialog(window.session, 999, window)
    dialog.process.waitForFinished(60_000)
    dialog._done(dialog.process.exitCode(), None)
    text = dialog.summary.text()
    assert text.startswith("The evaluation failed: ") and "[" not in text, text
    assert not dialog.tabs.isVisibleTo(dialog)
    dialog.close()
