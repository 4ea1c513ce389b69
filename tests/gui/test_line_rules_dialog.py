"""Line rules set in the window from a run's review: the measured predictions beside the
table, limits proposed from reviewed images, the verdict of every predicted image as the
table changes, bad cells named, and the saved file is what `isegui watch` reads."""

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from shapely.geometry import Point, box

from isegui.core.entities import ImageStatus, RunStatus
from isegui.core.line_rules import load_rules
from isegui.core.project import Project

from .conftest import aimed_window, make_project


@pytest.fixture
def reviewed(qtbot, tmp_path):
    """Three images with run 1's predictions: two good parts (reviewed), one with a pill too
    big and a scratch."""
    folder = make_project(tmp_path / "p", images=3)
    with Project.open(folder, lock=False) as project:
        store = project.store
        pill, washer, _chip = (c.id for c in store.classes())
        scratch = store.add_class("scratch").id
        run = store.add_run("run-1", {"model": "fast", "size": 512})
        store.update_run(run.id, status=RunStatus.FINISHED, checkpoint="runs/0001/best.pt")
        images = store.images()
        for record, (size, extra) in zip(images, [(20, []), (22, []),
                                                  (40, [(scratch, box(5, 5, 60, 8), 0.85)])]):
            store.add_predictions(record.id, run.id, [
                (pill, box(10, 10, 10 + size, 30), 0.95), (pill, box(60, 10, 80, 30), 0.9),
                (washer, Point(120, 80).buffer(10), 0.8), (pill, box(0, 100, 5, 105), 0.3),
                *extra])
        for record in images[:2]:
            store.set_status(record.id, ImageStatus.REVIEWED)
    win = aimed_window(qtbot, folder)
    yield win
    win.close()
    win.session.close()


def _cell(dialog, name, header):
    from isegui.gui.dialogs.line_rules import COLUMNS
    row = [dialog.table.verticalHeaderItem(r).text()
           for r in range(dialog.table.rowCount())].index(name)
    col = [h for *_, h in COLUMNS].index(header)
    return dialog.table.item(row, col)


def test_rules_set_beside_the_measurements_say_which_images_the_line_would_reject(
        reviewed, qtbot, tmp_path):
    window = reviewed
    window.docks["review"].raise_()
    review = window.review
    review.run.setCurrentIndex(review.run.findData(1))
    QTest.mouseClick(review.rules_button, Qt.MouseButton.LeftButton)
    from isegui.gui.dialogs.line_rules import LineRulesDialog
    dialog = review.findChild(LineRulesDialog)
    qtbot.addWidget(dialog)
    # the 0.3-score speck is below the confidence: not counted, not measured
    text = dialog.measured.toPlainText()
    assert "3 images" in text and "pill: 2–2 per image" in text and "scratch: 0–1" in text
    assert "area 400–800 px²" in text  # the pills: 20x20 .. 40x20
    # every class starts as a defect (issue 28, finding 7: nothing was, so every frame read OK)
    assert dialog.summary.text().startswith("0 of 3 predicted images OK, 3 NG")
    for name in ("pill", "washer", "chip", "scratch"):  # these are parts to count and measure
        _cell(dialog, name, "Defect").setCheckState(Qt.CheckState.Unchecked)
    assert dialog.summary.text().startswith("3 of 3 predicted images OK")  # no limits yet

    # proposed from the reviewed images only: the big pill and the scratch fall outside
    dialog.reviewed_only.setChecked(True)
    dialog.margin.setValue(10)
    QTest.mouseClick(dialog.propose, Qt.MouseButton.LeftButton)
    assert _cell(dialog, "pill", "Count min").text() == "2"
    assert _cell(dialog, "pill", "Area max").text() == "485"  # 440 px² + 10 %, rounded out
    assert _cell(dialog, "scratch", "Count max").text() == "0"
    assert dialog.summary.text().startswith("2 of 3 predicted images OK, 1 NG")
    (reason,) = [dialog.failing.item(k).text() for k in range(dialog.failing.count())]
    assert "img_2.png: NG" in reason and "pill #1: area 800.0 px² > max 485.0 px²" in reason \
        and "scratch: count 1 > max 0" in reason

    # ticking scratch as a defect and clearing its count: the reason becomes the defect
    _cell(dialog, "scratch", "Count max").setText("")
    _cell(dialog, "scratch", "Defect").setCheckState(Qt.CheckState.Checked)
    reasons = dialog.failing.item(0).text()
    assert "scratch #3: defect" in reasons and "count 1" not in reasons

    # a bad cell is named, and nothing can be saved until it is fixed
    _cell(dialog, "washer", "Width max").setText("wide")
    assert "washer, Width max: 'wide' is not a number" in dialog.error.text()
    assert not dialog.save_button.isEnabled()
    _cell(dialog, "washer", "Width max").setText("-3")
    assert "washer.width.max" in dialog.error.text()
    _cell(dialog, "washer", "Width max").setText("")
    assert dialog.error.text() == "" and dialog.save_button.isEnabled()

    # saved: the file `isegui watch --rules` reads gives the same verdicts
    out = tmp_path / "rules.json"
    assert dialog.save(out)
    rules = load_rules(out)
    assert rules == dialog.rules and rules.defects == ("scratch",)
    assert json.loads(out.read_text())["classes"]["pill"]["area"]["max"] == 485
    # and opened again into a fresh dialog, the table shows it
    again = LineRulesDialog(window.session, 1, 0.5)
    qtbot.addWidget(again)
    assert again.load(out)
    assert _cell(again, "pill", "Area max").text() == "485"
    assert "Saved to" in dialog.summary.text()
    assert again.summary.text() == dialog.summary.text().split(" Saved to")[0]
    # clicking an NG image opens it
    item = again.failing.item(0)
    again.failing.itemClicked.emit(item)
    assert window.session.document.image_id == item.data(Qt.ItemDataRole.UserRole)


def test_a_broken_rules_file_is_named_and_the_table_kept(reviewed, qtbot, tmp_path):
    from isegui.gui.dialogs.line_rules import LineRulesDialog
    dialog = LineRulesDialog(reviewed.session, 1, 0.5)
    qtbot.addWidget(dialog)
    _cell(dialog, "pill", "Count max").setText("3")
    broken = tmp_path / "broken.json"
    broken.write_text('{"isegui_rules": 1, "classes": {"pill": {"count": {"max": "x"}}}}')
    assert not dialog.load(broken)
    assert "broken.json" in dialog.error.text() and "classes.pill.count.max" in dialog.error.text()
    assert _cell(dialog, "pill", "Count max").text() == "3"


def test_propose_limits_says_why_it_cannot_and_one_min_score_rules(reviewed, qtbot):
    """Issue 28, finding 7: Propose limits with nothing to propose from did nothing, silently;
    the two min-score controls read as rivals."""
    from isegui.gui.dialogs.line_rules import LineRulesDialog
    dialog = LineRulesDialog(reviewed.session, 1, 0.5)
    qtbot.addWidget(dialog)
    assert dialog.rules.defects == ("pill", "washer", "chip", "scratch")
    QTest.mouseClick(dialog.propose, Qt.MouseButton.LeftButton)  # all defects: no limits
    assert "every class is ticked as a defect" in dialog.note.text()
    _cell(dialog, "pill", "Defect").setCheckState(Qt.CheckState.Unchecked)
    for record in reviewed.session.store.images():
        reviewed.session.store.set_status(record.id, ImageStatus.LABELED)
    dialog.reviewed_only.setChecked(True)
    QTest.mouseClick(dialog.propose, Qt.MouseButton.LeftButton)
    assert "none is marked reviewed" in dialog.note.text()
    dialog.reviewed_only.setChecked(False)
    QTest.mouseClick(dialog.propose, Qt.MouseButton.LeftButton)
    assert "Limits proposed from 3 images" in dialog.note.text() and "for pill" in \
        dialog.note.text()
    own = _cell(dialog, "pill", "Own min score")
    assert "Empty: the min score for all classes (0.5)" in own.toolTip()
    own.setText("0.8")
    own = _cell(dialog, "pill", "Own min score")
    assert own.font().bold() and "Overrides the min score for all classes" in own.toolTip()
    assert dialog.rules.threshold("pill") == 0.8 and dialog.rules.threshold("washer") == 0.5
