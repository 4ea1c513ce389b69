"""Issue 28, findings 1 and 2: an image is "labeled" when its person says so, not when its
first object is drawn or accepted (a half-done frame would train as complete, its missing
objects taught as background); Review judges predictions only on labeled images, and an
accepted prediction is a label that counts as right."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from shapely.geometry import box

from isegui.core.entities import ImageStatus, RunStatus


def test_the_first_object_drawn_leaves_the_image_in_progress(window, drive):
    image_id = window.session.document.image_id
    drive.key(Qt.Key.Key_R)
    drive.drag([(10, 10), (40, 30), (60, 50)])
    assert len(window.session.document.instances()) == 1
    assert window.session.store.image(image_id).status == ImageStatus.UNLABELED
    item = window.images.list.currentItem()
    assert item.text().startswith("◔") and "in progress" in item.toolTip()
    drive.shortcut("Ctrl+Shift+L")  # the person says every object is drawn
    assert window.session.store.image(image_id).status == ImageStatus.LABELED
    assert window.images.list.currentItem().text().startswith("●")


def test_training_advice_names_the_images_in_progress(window, drive, tmp_path):
    from isegui.ml.train.preflight import advise, read_facts
    drive.key(Qt.Key.Key_R)
    drive.drag([(10, 10), (60, 50)])
    facts = read_facts(window.session.project.folder, check_files=False)
    advice = advise(facts, model="fast", size=256, start=None)
    (left_out,) = [a for a in advice if a.title == "images in progress left out"]
    assert left_out.files == (window.session.document.record.path,)
    assert facts.instances == 0  # not trained on


@pytest.fixture
def review_window(qtbot, tmp_path):
    """The test window with a finished run and three predictions of it on the image on
    screen: two pills where they are, one where there is nothing."""
    from tests.gui.conftest import aimed_window, make_project
    from isegui.core.project import Project
    folder = make_project(tmp_path / "p")
    with Project.open(folder, lock=False) as project:
        run = project.store.add_run("run-1", {"model": "fast", "size": 256})
        project.store.update_run(run.id, status=RunStatus.FINISHED, metrics={},
                                 checkpoint="runs/0001/best.pt")
        project.set_active_run(run.id)
    win = aimed_window(qtbot, folder)
    session = win.session
    pill = session.classes()[0].id
    session.store.add_predictions(session.document.image_id, 1, [
        (pill, box(10, 10, 50, 40), 0.9), (pill, box(100, 60, 140, 100), 0.8),
        (pill, box(150, 110, 190, 140), 0.7)])
    session.predictions_edited(session.document.image_id)
    win.docks["review"].raise_()
    yield win
    win.close()
    win.session.close()


def test_an_accepted_prediction_is_a_right_label_and_in_progress_is_not_judged(review_window):
    from tests.gui.conftest import Driver
    win, review = review_window, review_window.review
    drive = Driver(win)
    review.table.selectRow(0)  # the 0.9 pill
    QTest.mouseClick(review.accept, Qt.MouseButton.LeftButton)
    assert len(win.session.document.instances()) == 1
    assert "not marked labeled" in review.counts.text()  # in progress: no verdicts
    assert not win.review_canvas.main_layer.missed
    drive.key(Qt.Key.Key_R)
    drive.drag([(100, 60), (140, 100)])  # the second pill, drawn by hand
    drive.shortcut("Ctrl+Shift+L")
    QTest.qWait(200)  # the review's debounce
    text = review.counts.text()
    assert "2 predictions at confidence" in text
    assert "2 right, 1 wrong" in text and "0 labels missed" in text, text
    assert not win.review_canvas.main_layer.missed  # the accepted label is not drawn missed
