"""Training from the panel through a real process, cancel and resume; predictions in review
with the confidence slider, accept and undo; measurements to CSV."""

import csv
import re
import shutil

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from isegui.core.entities import RunStatus, Source
from isegui.ml.run_protocol import Done, Epoch, Note, Start, Step


def _open(qtbot, template, tmp_path):
    from isegui.gui.app import open_window
    folder = tmp_path / "p"
    shutil.copytree(template, folder, ignore=shutil.ignore_patterns("*.lock"))
    window = open_window(folder)
    qtbot.addWidget(window)
    window.resize(1300, 850)
    window.show()
    qtbot.waitExposed(window)
    return window


def _small_settings(panel, epochs=1):
    s = panel.settings
    s.size.setCurrentText("128")
    s.epochs.setValue(epochs)
    s.batch.setValue(2)
    s.device.setCurrentIndex(s.device.findData("cpu"))


@pytest.mark.slow
def test_training_from_the_panel_runs_a_real_process(qtbot, demo_template, tmp_path):
    window = _open(qtbot, demo_template, tmp_path)
    panel = window.training
    window.docks["training"].raise_()
    _small_settings(panel)
    events, shown = [], []  # each event, and what the panel said once it had it
    panel.process.event.connect(lambda e: (events.append(e), shown.append(panel.status.text())))
    QTest.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.process.running and not panel.start_button.isEnabled()
    # from the moment it is launched: what the process is doing, and for how long
    assert re.search(r"loading PyTorch… \d+ s$", panel.status.text())
    qtbot.waitUntil(lambda: not panel.process.running, timeout=240_000)
    kinds = [type(e) for e in events]
    assert {Start, Step, Epoch, Done} <= set(kinds)
    assert events[0] == Note(message="loading PyTorch…", phase=True)
    first_step = kinds.index(Step)
    for event, text in zip(events[:first_step], shown):
        assert re.search(r"\d+ s$", text)  # the seconds tick until the first step
        if isinstance(event, Note):
            assert event.message in text
    assert any("building the fast model" in t for t in shown[:first_step])
    assert panel.progress.text().startswith("done") or panel.progress.format() == "done"
    assert panel.curves.series["loss"][1]  # the loss curve has points
    (run,) = window.session.store.runs()
    assert run.status == RunStatus.FINISHED and panel.runs.item(0, 1).text() == "finished"
    assert f"Run {run.id} is now the active model (no run was active)" in panel.status.text()
    assert window.review.run.currentData() == run.id  # review uses it now
    # every drawn series is in a legend under its plot, in its own colour
    for plot in (panel.curves.losses, panel.curves.maps):
        drawn = [c for c in plot.plot.getPlotItem().listDataItems() if c.isVisible()]
        entries = plot.legend_entries()
        assert len(entries) == len(drawn) == len(plot.points) > 0
        assert len({color for _, color in entries}) == len(entries)
        for box in plot.boxes.values():
            assert box.isVisible() and box.geometry().top() >= plot.plot.geometry().bottom()
    assert len(panel.curves.losses.boxes) == 6  # the total and five parts
    assert (window.session.project.folder / "runs" / f"{run.id:04d}" / "events.jsonl").is_file()
    window.close()
    window.session.close()


@pytest.mark.slow
def test_cancel_keeps_a_checkpoint_and_resume_finishes(qtbot, demo_template, tmp_path,
                                                       dialogs):
    window = _open(qtbot, demo_template, tmp_path)
    panel = window.training
    _small_settings(panel, epochs=2)
    steps = []
    panel.process.event.connect(lambda e: isinstance(e, Step) and steps.append(e.step))
    panel.start()
    qtbot.waitUntil(lambda: bool(steps), timeout=240_000)
    QTest.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    # said at once, with the seconds it has been stopping
    assert re.search(r"Stopping at the end of this batch; the checkpoint is kept… \d+ s$",
                     panel.status.text())
    qtbot.waitUntil(lambda: not panel.process.running, timeout=60_000)
    (run,) = window.session.store.runs()
    assert run.status == RunStatus.CANCELLED
    assert (window.session.project.folder / "runs" / f"{run.id:04d}" / "last.pt").is_file()
    assert "cancelled" in panel.progress.format()
    assert "the checkpoint is kept: Resume continues it" in panel.status.text()
    before = list(panel.curves.series["loss"][0])
    assert before
    panel.curves.clear()
    panel.runs.clearSelection()
    panel.runs.selectRow(0)  # a run picked in the list shows its curves
    assert panel.curves.series["loss"][0] == before
    started = []
    panel.process.event.connect(lambda e: isinstance(e, Start) and started.append(
        panel.status.text()))
    assert panel.resume()
    assert panel.curves.series["loss"][0] == before  # the curves so far stay
    qtbot.waitUntil(lambda: not panel.process.running, timeout=240_000)
    # at the step it stopped at (on a busy machine the cancel may land after the first epoch)
    assert re.match(rf"Resumed run {run.id} at epoch [01] \(step {before[-1]}\)", started[0])
    assert f"weights: run {run.id}'s last checkpoint" in started[0]
    finished = window.session.store.run(run.id)
    assert finished.status == RunStatus.FINISHED
    assert len(finished.metrics["history"]) == 2  # its own 2 epochs, not the default budget
    assert len(window.session.store.runs()) == 1  # the same run, continued
    steps_drawn = panel.curves.series["loss"][0]
    assert steps_drawn[:len(before)] == before and len(steps_drawn) > len(before)
    assert panel.curves.series["mask_map"][0] == [1, 2]
    assert dialogs == []
    window.close()
    window.session.close()


@pytest.mark.slow
def test_a_failed_run_shows_the_reason_and_the_window_stays(qtbot, demo_template, tmp_path,
                                                            dialogs):
    window = _open(qtbot, demo_template, tmp_path)
    store = window.session.store
    for record in store.images():  # nothing labeled: training must refuse, clearly
        store.replace_instances(record.id, [])
    _small_settings(window.training)
    window.training.start()
    qtbot.waitUntil(lambda: not window.training.process.running, timeout=240_000)
    (kind, text), = dialogs
    assert kind == "warning" and "no labeled instances" in text and "Label some images" in text
    assert window.isVisible()
    window.close()
    window.session.close()


@pytest.mark.slow
def test_review_predict_slider_accept_undo_and_measure_csv(qtbot, trained_template, tmp_path,
                                                          monkeypatch):
    import isegui.gui.workers.predict_worker as predict_worker
    monkeypatch.setattr(predict_worker, "STORE_ABOVE", 0.0)  # a model one epoch old is unsure
    window = _open(qtbot, trained_template, tmp_path)
    review, controller, session = window.review, window.review_canvas, window.session
    assert review.start([session.document.image_id])
    qtbot.waitUntil(lambda: review.worker is None, timeout=120_000)
    assert review.start([session.document.image_id])  # again: the model is kept, not reread
    qtbot.waitUntil(lambda: review.worker is None, timeout=120_000)
    assert review.loaded_model.loads == 1
    predictions = controller.predictions()
    assert predictions, "the predictor stored predictions for the image"
    review.slider.setValue(0)
    visible_low = sum(i.isVisible() for i in controller.main_layer.items.values())
    review.slider.setValue(100)
    visible_high = sum(i.isVisible() for i in controller.main_layer.items.values())
    assert visible_low == len(predictions) and visible_high < visible_low
    review.slider.setValue(0)
    review.by_verdict.setChecked(True)
    assert "right" in review.counts.text() and review.table.rowCount() == len(predictions)

    review.table.selectRow(0)
    chosen = review._selected_ids()[0]
    before = len(session.document.instances())
    QTest.mouseClick(review.accept, Qt.MouseButton.LeftButton)
    accepted = [i for i in session.document.instances()
                if i.source == Source.ACCEPTED_PREDICTION]
    assert len(session.document.instances()) == before + 1 and len(accepted) == 1
    assert chosen not in [p.id for p in controller.predictions()]
    session.undo_stack.undo()
    assert len(session.document.instances()) == before
    assert chosen in [p.id for p in controller.predictions()]

    review.mode.setCurrentIndex(review.mode.findData("side by side"))
    assert window.side_view.isVisible()
    assert sum(i.isVisible() for i in controller.side_layer.items.values()) > 0

    # calibrate with a drawn line of 50 px said to be 10 mm, then export
    monkeypatch.setattr("isegui.gui.panels.measure.QInputDialog.getDouble",
                        lambda *a, **k: (10.0, True))
    window.set_tool("calibrate")
    viewport = window.view.viewport()
    a = window.view.mapFromScene(QPointF(10, 10))
    b = window.view.mapFromScene(QPointF(60, 10))
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(viewport, b)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    mm = session.project.mm_per_px
    assert mm == pytest.approx(10 / 50, rel=0.05)
    path = window.measure.export(all_images=False, path=str(tmp_path / "m.csv"))
    rows = list(csv.DictReader(open(path)))
    labels = [i for i in session.document.instances() if not i.crowd]
    assert len(rows) == len(labels) and "area_mm2" in rows[0]
    assert all(float(r["mm_per_px"]) == mm for r in rows)  # the scale the mm came from
    assert float(rows[0]["area_mm2"]) == pytest.approx(float(rows[0]["area_px"]) * mm * mm,
                                                       rel=1e-3)
    session.undo_stack.undo()  # the calibration was an edit too
    assert session.project.mm_per_px is None

    from isegui.gui.dialogs.run_metrics import RunMetricsDialog
    review.slider.setValue(30)
    QTest.mouseClick(review.metrics_button, Qt.MouseButton.LeftButton)
    dialog = review.findChild(RunMetricsDialog)
    assert "confidence ≥ 0.30" in dialog.windowTitle()  # the slider's, not a fixed 0.5
    assert dialog.process.arguments()[-3:] == ["--threshold", "0.3", "--json"]
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=120_000)
    assert "at the Review confidence ≥ 0.30" in dialog.summary.text()
    assert dialog.per_class.rowCount() == 3 and dialog.confusion.rowCount() == 4
    # each class's matched IoU: a number where some were found at the confidence, else "-"
    fits = [dialog.per_class.item(row, 3).text() for row in range(3)]
    assert dialog.per_class.horizontalHeaderItem(3).text() == "Matched IoU"
    assert all(f == "-" or 0.5 <= float(f) <= 1.0 for f in fits)
    assert set(dialog.result["mask_pr_curve"]["precision"]) == {"pill", "washer", "chip"}
    assert len(dialog.pr.getPlotItem().listDataItems()) == 3  # a PR curve per class

    window.images.filter.setCurrentIndex(window.images.filter.findText("Split: val"))
    assert review.start(window.images.listed_ids())  # the listed images only
    qtbot.waitUntil(lambda: review.worker is None, timeout=120_000)
    val = {r.id for r in session.images() if r.split.value == "val"}
    assert session.store.images_with_predictions(review.run.currentData()) == val | {
        session.document.image_id}
    window.close()
    window.session.close()


@pytest.mark.slow
def test_predictions_are_stored_under_the_run_that_made_them(qtbot, trained_template,
                                                              tmp_path, monkeypatch):
    """The run travels with the predicting job: choosing another run while it works (the combo
    is disabled then; here it is changed from code, as a queued signal could) changes nothing."""
    import isegui.gui.workers.predict_worker as predict_worker
    from isegui.ml.runs import run_folder
    monkeypatch.setattr(predict_worker, "STORE_ABOVE", 0.0)
    window = _open(qtbot, trained_template, tmp_path)
    review, session = window.review, window.session
    store = session.store
    first = store.runs()[-1]
    second = store.add_run("copy", first.config)  # a second run with the same model
    shutil.copytree(run_folder(session.project.folder, first.id),
                    run_folder(session.project.folder, second.id))
    store.update_run(second.id, status=RunStatus.FINISHED, checkpoint=first.checkpoint)
    review.refresh_runs()
    review.run.setCurrentIndex(review.run.findData(first.id))
    images = [r.id for r in store.images()]
    assert review.start(images)
    assert not review.run.isEnabled()
    review.run.setCurrentIndex(review.run.findData(second.id))
    qtbot.waitUntil(lambda: review.worker is None, timeout=120_000)
    assert review.run.isEnabled()
    assert store.images_with_predictions(first.id) == set(images)
    assert store.images_with_predictions(second.id) == set()
    window.close()
    window.session.close()


def test_a_late_cancel_timer_leaves_a_newer_process_alone(qtbot):
    import sys
    from PySide6.QtCore import QProcess
    from isegui.gui.workers.train_process import TrainProcess
    proc = TrainProcess()
    old = QProcess()
    proc.process = QProcess()
    proc.process.start(sys.executable, ["-c", "import time; time.sleep(20)"])
    assert proc.process.waitForStarted(10_000)
    proc._terminate(old)  # the timer of a cancel given to an earlier process
    qtbot.wait(300)
    assert proc.running
    proc.process.kill()
    proc.process.waitForFinished(10_000)


def test_the_failure_text_names_memory_when_the_process_is_killed():
    from PySide6.QtCore import QProcess
    from isegui.gui.workers.train_process import TrainProcess
    proc = TrainProcess()
    proc._stderr = b"Traceback...\nRuntimeError: CUDA out of memory. Tried to allocate"
    text = proc._diagnosis(1, QProcess.ExitStatus.NormalExit)
    assert "out of memory" in text and "smaller batch size" in text
    proc._stderr = b""
    assert "smaller batch size" in proc._diagnosis(-9, QProcess.ExitStatus.CrashExit)
    proc._error = "training ran out of memory. Use a smaller --batch or --size."
    assert proc._diagnosis(1, QProcess.ExitStatus.NormalExit).startswith("training ran out")


def test_augmentation_preview_shows_transformed_masks(qtbot, demo_template, tmp_path):
    """One red object in the middle of the image: in each preview its tint covers about its area
    (scaled as drawn), where the object is, differently from draw to draw, and the image's own
    colours stay around it."""
    from shapely.geometry import box

    from isegui.gui.dialogs.augment_preview import SIZE, AugmentPreviewDialog
    window = _open(qtbot, demo_template, tmp_path)
    session = window.session
    doc = session.document
    doc.remove([i.id for i in doc.instances()])
    red = session.classes()[0]
    session.set_class_field(red.id, "color", "#ff0000")
    w, h = doc.record.width, doc.record.height
    obj = box(w * 0.35, h * 0.4, w * 0.65, h * 0.6)  # in the middle: no draw moves it out
    doc.create(red.id, obj)
    dialog = AugmentPreviewDialog(doc, session.classes(), "rotate,flip,scale", window)
    assert len(dialog.images) == 6
    drawn = set()
    for rgb in dialog.images:
        scale = rgb.shape[1] / w  # the dataset's size: the long side at most SIZE
        assert max(rgb.shape[:2]) <= SIZE
        r, g = rgb[..., 0].astype(int), rgb[..., 1].astype(int)
        tinted = (r - g) > 80
        area = tinted.sum() / (obj.area * scale ** 2)
        assert 0.5 < area < 1.6  # the object, as scaled (0.8-1.2) and rotated
        rows, cols = np.nonzero(tinted)  # where the object was: about the middle still
        assert abs(rows.mean() / rgb.shape[0] - 0.5) < 0.15
        assert abs(cols.mean() / rgb.shape[1] - 0.5) < 0.15
        assert (r[~tinted] - g[~tinted]).max() < 80  # no tint away from the object
        drawn.add(tinted.tobytes())
    assert len(drawn) >= 5  # turned, flipped and scaled differently from draw to draw
    window.close()
    window.session.close()


def test_the_click_model_trains_in_its_own_process_and_the_click_tool_reads_it(
        qtbot, demo_template, tmp_path):
    window = _open(qtbot, demo_template, tmp_path)
    box = window.training.click_model
    assert "none yet" in box.status.text()
    with qtbot.waitSignal(box.trained, timeout=180_000):
        assert box.start(max_steps=2)
        assert box.running and box.button.text() == "Stop click model"
        assert not box.start()  # one at a time
    assert box.status.text().startswith("Click model: trained (2 steps); on ")
    assert "held-out instances" in box.status.text()
    assert box.button.text() == "Train click model"
    from isegui.core.project import CLICK_MODEL_FILE
    assert (window.session.project.folder / CLICK_MODEL_FILE).is_file()
    from isegui.ml.click.model_file import click_model_path, load_click_model
    _, info = load_click_model(click_model_path(window.session.project.folder))
    said = []
    window.assist.modelStatus.connect(said.append)
    window.assist.click_model()  # starts reading it
    if info.holdout["better_than_grabcut"]:
        qtbot.waitUntil(lambda: window.assist.click_model() is not None, timeout=30_000)
        assert window.assist.click_model().__self__.info.steps == 2  # the click tool's now
    else:  # measured worse than GrabCut on its held-out instances: said, and not used
        qtbot.waitUntil(lambda: any("Click model not used" in s for s in said), timeout=30_000)
        assert window.assist.click_model() is None
        assert "keeps to GrabCut" in box.status.text()
    window.close()
    window.session.close()


def test_the_click_model_learns_again_after_enough_new_instances(qtbot, demo_template,
                                                                 tmp_path, monkeypatch):
    from isegui.gui.panels.click_model_box import RETRAIN_AFTER
    window = _open(qtbot, demo_template, tmp_path)
    box = window.training.click_model
    started = []
    monkeypatch.setattr(box, "start", lambda max_steps=None: started.append(True))
    for _ in range(RETRAIN_AFTER - 1):
        window.session.labelingLogged.emit()
    assert not started
    window.session.labelingLogged.emit()
    assert started == [True]
    window.close()
    window.session.close()
