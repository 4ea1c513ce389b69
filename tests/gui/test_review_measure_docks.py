"""The training, review and measure docks as a newcomer met them, on a labeled demo project
with runs and predictions written straight into the store (no model is needed to check the
window): the runs table, the active run, the predictions' table and highlight, accepting a
prediction that duplicates a label, side by side, calibrating and the CSV export."""

import csv
import os
import shutil
import stat

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox
from shapely import affinity
from shapely.geometry import box

from isegui.core.entities import RunStatus, Source


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    from isegui.core.demo import create_demo_project
    folder = tmp_path_factory.mktemp("demo") / "demo"
    create_demo_project(folder, n_images=3, width=320, height=240).close()
    return folder


def _open(qtbot, template, tmp_path, size=(1400, 900), runs=0):
    from isegui.core.project import Project
    from isegui.gui.app import open_window
    folder = tmp_path / "p"
    shutil.copytree(template, folder, ignore=shutil.ignore_patterns("*.lock"))
    with Project.open(folder, lock=False) as project:
        for k in range(1, runs + 1):
            run = project.store.add_run(f"run-{k}", {"model": "fast", "size": 512})
            project.store.update_run(run.id, status=RunStatus.FINISHED,
                                     metrics={"best": {"mask_map": k / 10, "box_map": k / 8,
                                                       "epoch": k}},
                                     checkpoint=f"runs/{run.id:04d}/best.pt")
        if runs:
            project.set_active_run(1)
    window = open_window(folder)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    return window


def _close(window):
    window.close()
    window.session.close()


def _visible_rows(table) -> int:
    viewport = table.viewport().rect()
    return sum(viewport.contains(table.visualRect(table.model().index(r, 0)))
               for r in range(table.rowCount()))


# ---------------------------------------------------------------------- training dock

def test_runs_table_shows_four_rows_and_its_columns_without_sideways_scrolling(
        qtbot, demo_template, tmp_path):
    window = _open(qtbot, demo_template, tmp_path, runs=6)
    window.docks["training"].raise_()
    panel = window.training
    tab_bar = panel.tabs.tabBar()  # it opens on Settings; the user clicks the runs' tab
    QTest.mouseClick(tab_bar, Qt.MouseButton.LeftButton, pos=tab_bar.tabRect(1).center())
    qtbot.waitUntil(lambda: panel.runs.isVisible())
    qtbot.wait(50)
    table = panel.runs
    assert _visible_rows(table) >= 4
    assert not table.horizontalScrollBar().isVisible()
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["Run", "Status", "Model", "Size", "Time", "Mask mAP", "Box mAP",
                       "Active"]
    assert table.item(0, 0).text() == "6" and "run-6" in table.item(0, 0).toolTip()
    _close(window)


def test_the_chosen_active_run_is_the_one_review_uses(qtbot, demo_template, tmp_path):
    window = _open(qtbot, demo_template, tmp_path, runs=2)
    panel, review = window.training, window.review
    window.docks["training"].raise_()
    assert review.run.currentData() == 1
    row = next(r for r in range(panel.runs.rowCount()) if panel.runs.item(r, 0).text() == "2")
    panel.runs.selectRow(row)
    QTest.mouseClick(panel.set_active_button, Qt.MouseButton.LeftButton)
    assert window.session.project.active_run_id == 2
    assert "Run 2 is now the active model" in panel.status.text()
    assert review.run.currentData() == 2 and window.review_canvas.run_id == 2
    # a run chosen in Review stays while the active run does not change
    review.run.setCurrentIndex(review.run.findData(1))
    panel.refresh_runs()
    panel.runsChanged.emit()
    assert review.run.currentData() == 1
    _close(window)


# ---------------------------------------------------------------------- review dock

def _predictions(window, shapes_scores):
    """Predictions of run 1 for the image on screen, as the predict worker stores them."""
    session = window.session
    doc = session.document
    pill = session.classes()[0].id
    session.store.add_predictions(doc.image_id, 1, [(pill, s, score)
                                                    for s, score in shapes_scores])
    session.predictions_edited(doc.image_id)
    return window.review_canvas.predictions()


def test_the_predictions_table_lists_what_the_summary_counts(qtbot, demo_template, tmp_path):
    window = _open(qtbot, demo_template, tmp_path, size=(1280, 720), runs=1)
    window.docks["review"].raise_()
    review = window.review
    scores = [0.2 + 0.8 * k / 100 for k in range(100)]
    _predictions(window, [(box(2 * k, 2 * k, 2 * k + 12, 2 * k + 9), s)
                          for k, s in enumerate(scores)])
    review.slider.setFocus()
    for _ in range(27):  # 0.50 down to 0.23 with the keyboard
        QTest.keyClick(review.slider, Qt.Key.Key_Left)
    assert review.slider_label.text() == "0.23"
    expected = sum(s >= 0.23 for s in scores)
    assert review.counts.text().startswith(f"{expected} predictions at confidence ≥ 0.23")
    assert review.table.rowCount() == expected
    assert _visible_rows(review.table) >= 5  # the table has the room
    assert not review.worst.isVisible()  # no empty list under it until one is asked for
    _close(window)


def test_a_selected_prediction_stands_out_and_comes_into_view(qtbot, demo_template, tmp_path):
    window = _open(qtbot, demo_template, tmp_path, runs=1)
    window.docks["review"].raise_()
    review, view = window.review, window.view
    _predictions(window, [(box(5, 5, 25, 25), 0.9), (box(280, 200, 310, 230), 0.8)])
    view.zoom_by(6.0)
    view.centerOn(QPointF(15, 15))  # the second prediction is far out of view
    far = window.review_canvas.main_layer.items[review.table.item(1, 0).data(
        Qt.ItemDataRole.UserRole)]
    assert not _shown(view).contains(far.sceneBoundingRect())
    rect = review.table.visualRect(review.table.model().index(1, 1))
    QTest.mouseClick(review.table.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, rect.center())
    assert far.highlight and far.opacity() == 1.0
    others = [i for i in window.review_canvas.main_layer.items.values() if i is not far]
    assert all(not i.highlight and i.opacity() < 0.5 for i in others)  # dimmed
    assert _shown(view).contains(far.sceneBoundingRect())
    review.table.clearSelection()
    assert all(i.opacity() == 1.0 and not i.highlight
               for i in window.review_canvas.main_layer.items.values())
    _close(window)


def _shown(view):
    return view.mapToScene(view.viewport().rect()).boundingRect()


def _answer(qtbot, text):
    """Click the button `text` of the question that is about to open."""
    asked = []

    def click():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        asked.append(box.text())
        next(b for b in box.buttons() if b.text() == text).click()
    QTimer.singleShot(0, click)
    return asked


@pytest.mark.parametrize("answer", ["Replace the label's shape", "Add anyway", "Skip"])
def test_accepting_a_prediction_of_a_labeled_object_asks_first(qtbot, demo_template, tmp_path,
                                                                answer):
    window = _open(qtbot, demo_template, tmp_path, runs=1)
    window.docks["review"].raise_()
    session, review = window.session, window.review
    doc = session.document
    label = doc.instances()[0]
    moved = affinity.translate(label.shape, 1, 0)  # the same object, IoU well above 0.5
    (prediction,) = _predictions(window, [(moved, 0.9)])
    before = {i.id: i.shape for i in doc.instances()}
    review.table.selectRow(0)
    asked = _answer(qtbot, answer)
    QTest.mouseClick(review.accept, Qt.MouseButton.LeftButton)
    assert asked and "already labeled" in asked[0]
    after = {i.id: i for i in doc.instances()}
    left = [p.id for p in window.review_canvas.predictions()]
    if answer == "Replace the label's shape":
        assert set(after) == set(before) and after[label.id].shape.equals(moved)
        assert after[label.id].class_id == label.class_id and left == []
    elif answer == "Add anyway":
        (new,) = set(after) - set(before)
        assert after[new].source == Source.ACCEPTED_PREDICTION and left == []
    else:
        assert set(after) == set(before) and left == [prediction.id]
        assert "skipped 1" in review.counts.text()
    if answer != "Skip":
        assert session.undo_stack.count() == 1
        session.undo_stack.undo()  # one step puts the label and the prediction back
        assert {i.id: i.shape for i in doc.instances()} == before
        assert [p.id for p in window.review_canvas.predictions()] == [prediction.id]
    _close(window)


def test_accept_all_above_the_confidence_skips_labeled_objects(qtbot, demo_template, tmp_path,
                                                               dialogs):
    window = _open(qtbot, demo_template, tmp_path, runs=1)
    window.docks["review"].raise_()
    doc = window.session.document
    labels = doc.instances()
    _predictions(window, [(labels[0].shape, 0.9), (labels[1].shape, 0.8),
                          (box(300, 220, 318, 238), 0.7)])
    n = len(labels)
    QTest.mouseClick(window.review.accept_all, Qt.MouseButton.LeftButton)
    assert len(doc.instances()) == n + 1  # only the new object
    assert "skipped 2 that match objects already labeled" in window.review.counts.text()
    assert len(window.review_canvas.predictions()) == 2 and dialogs == []
    _close(window)


def test_side_by_side_shows_the_same_region_in_step(qtbot, demo_template, tmp_path):
    window = _open(qtbot, demo_template, tmp_path, runs=1)
    window.docks["review"].raise_()
    review, view, side = window.review, window.view, window.side_view
    review.mode.setCurrentIndex(review.mode.findData("side by side"))
    qtbot.waitUntil(side.isVisible)
    qtbot.wait(50)
    QTest.keyClick(view, Qt.Key.Key_F)  # fit
    qtbot.wait(20)

    def centres_agree():
        # the main view's centre is at the side view's centre, to a screen pixel (a splitter
        # of odd width leaves one view a pixel wider)
        centre = view.mapToScene(view.viewport().rect().center())
        here, there = side.mapFromScene(centre), side.viewport().rect().center()
        return abs(here.x() - there.x()) <= 1 and abs(here.y() - there.y()) <= 1

    image = window.scene.image_item.sceneBoundingRect()
    assert abs(view.width() - side.width()) <= 2  # the same size, halves of the splitter
    assert centres_agree() and side.transform() == view.transform()
    for v in (view, side):
        assert _shown(v).adjusted(-1, -1, 1, 1).contains(image)  # both show the whole image
    view.zoom_by(3.0, QPointF(QPoint(40, 30)))
    assert centres_agree() and side.transform() == view.transform()
    view.horizontalScrollBar().setValue(view.horizontalScrollBar().value() + 50)
    assert centres_agree()
    for image in window.session.images()[:2]:  # the picture beside is the image on screen
        window.session.open_image(image.id)
        picture = side.image_item.pixmap()
        assert not picture.isNull()
        assert picture.cacheKey() == window.scene.image_item.pixmap().cacheKey()
    _close(window)


# ---------------------------------------------------------------------- measure dock

def test_calibrate_says_what_to_do_at_once_and_esc_cancels(qtbot, demo_template, tmp_path):
    from isegui.gui.tools.measure import INSTRUCTION
    window = _open(qtbot, demo_template, tmp_path)
    window.docks["measure"].raise_()
    panel = window.measure
    QTest.mouseClick(panel.calibrate, Qt.MouseButton.LeftButton)
    assert window.view.tool.name == "calibrate"
    assert panel.hint.isVisible() and "Draw a line over something of known length" in \
        panel.hint.text() and "Esc cancels" in panel.hint.text()
    assert window.statusBar().currentMessage() == INSTRUCTION
    QTest.keyClick(window.view, Qt.Key.Key_Escape)
    assert window.view.tool.name == "edit" and not panel.hint.isVisible()
    assert window.session.project.mm_per_px is None
    _close(window)


def test_the_csv_holds_its_scale_and_has_the_usual_permissions(qtbot, demo_template, tmp_path,
                                                               monkeypatch):
    from isegui.core.fileio import current_umask
    from isegui.gui.commands.instance_commands import SetCalibrationCommand
    window = _open(qtbot, demo_template, tmp_path)
    window.session.undo_stack.push(SetCalibrationCommand(window.session, 0.05))
    old = os.umask(0o022)
    try:
        assert current_umask() == 0o022
        path = window.measure.export(all_images=True, path=str(tmp_path / "all.csv"))
    finally:
        os.umask(old)
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    assert rows and all(r["mm_per_px"] == "0.05" for r in rows)
    if os.name != "nt":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    _close(window)


def test_predictions_on_an_image_no_one_labeled_are_not_called_wrong(qtbot, demo_template,
                                                                   tmp_path):
    from isegui.core.entities import ImageStatus
    window = _open(qtbot, demo_template, tmp_path, runs=1)
    window.docks["review"].raise_()
    review, session = window.review, window.session
    image = session.document.image_id
    session.store.replace_instances(image, [])
    session.set_status(image, ImageStatus.UNLABELED)
    session.open_image(image)
    QTest.mouseClick(review.by_verdict, Qt.MouseButton.LeftButton)  # colour by verdict
    _predictions(window, [(box(10, 10, 40, 30), 0.9), (box(60, 10, 90, 30), 0.8)])
    assert "not marked labeled" in review.counts.text()
    assert "wrong" not in review.counts.text()
    assert [review.table.item(r, 2).text() for r in range(2)] == ["—", "—"]
    layer = window.review_canvas.layer
    assert not layer.missed and all(item.color.name() != "#e53935"  # no red "wrong"
                                    for item in layer.items.values())
    # accepting one makes it a label, the image still in progress: nothing judged yet
    review.table.selectRow(0)
    QTest.mouseClick(review.accept, Qt.MouseButton.LeftButton)
    assert "not marked labeled" in review.counts.text()
    assert review.table.item(0, 2).text() == "—"
    # marked labeled: the image has truth now, and the other is judged by it
    window.actions_by_name["mark-labeled"].trigger()
    qtbot.waitUntil(lambda: "not marked labeled" not in review.counts.text())
    assert review.table.item(0, 2).text() != "—"
    _close(window)


# ---------------------------------------------------------------------- tiles

def test_the_runs_table_says_a_run_worked_on_tiles(qtbot, demo_template, tmp_path):
    from isegui.core.project import Project
    from isegui.core.working_scale import TILES, WorkingScale
    window = _open(qtbot, demo_template, tmp_path, runs=1)
    working = WorkingScale(TILES, 512, 0.5, "why")
    with Project.open(window.session.project.folder, lock=False) as project:
        run = project.store.add_run("tiled", {"model": "fast", "size": 512,
                                              "working_scale": working.as_dict()})
        project.store.update_run(run.id, status=RunStatus.FINISHED)
    panel = window.training
    panel.refresh_runs()
    window.docks["training"].raise_()
    tab_bar = panel.tabs.tabBar()
    QTest.mouseClick(tab_bar, Qt.MouseButton.LeftButton, pos=tab_bar.tabRect(1).center())
    qtbot.waitUntil(lambda: panel.runs.isVisible())
    qtbot.wait(50)
    table = panel.runs
    assert table.item(0, 3).text() == "512 tiles"  # the newest run first
    assert "tiles of 512 px at scale 0.5 (1024 x 1024 frame px each)" in \
        table.item(0, 0).toolTip()
    assert table.item(1, 3).text() == "512"  # a run from before tiles: whole images
    assert not table.horizontalScrollBar().isVisible()
    _close(window)
