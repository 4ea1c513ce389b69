"""Issue 28, finding 6: exporting the model for the line needed the command line (the packaged
window has no console). File > Export model for the line…: the run, its training size, the
project's saved rules and calibration, written in a thread, and what went into the file said."""

import json
import shutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

pytest.importorskip("onnxruntime")


@pytest.fixture
def trained_window(qtbot, trained_template, tmp_path):
    from isegui.core.project import Project
    from isegui.gui.app import open_window
    folder = tmp_path / "p"
    shutil.copytree(trained_template, folder, ignore=shutil.ignore_patterns("*.lock"))
    with Project.open(folder) as project:
        project.set_calibration(0.05)
    (folder / "rules.json").write_text(json.dumps(
        {"isegui_rules": 1, "units": "mm", "defects": ["chip"],
         "classes": {"pill": {"count": {"min": 1, "max": 6}}}}))
    win = open_window(folder)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win, folder
    win.close()
    win.session.close()


def _menu_action(win, menu_title, text):
    for menu_action in win.menuBar().actions():
        if menu_action.text().replace("&", "") == menu_title:
            return next(a for a in menu_action.menu().actions() if a.text() == text)
    raise AssertionError(f"no {menu_title} menu")


@pytest.mark.slow
def test_file_menu_exports_the_model_with_the_rules_and_calibration(qtbot, trained_window):
    from isegui.ml.infer.onnx_model import OnnxPredictor
    win, folder = trained_window
    _menu_action(win, "File", "Export model for the line…").trigger()
    from isegui.gui.dialogs.export_model import ExportModelDialog
    dialog = win.findChild(ExportModelDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.input_size.value() == 128  # the run's training size
    assert dialog.rules.currentData() == str(folder / "rules.json")  # the project's saved rules
    assert dialog.calibration.isChecked() and "0.05 mm" in dialog.calibration.text()
    assert dialog.out.text().startswith(str(folder / "exports"))
    QTest.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.busy.isVisible() and not dialog.export_button.isEnabled()  # in a thread
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=120_000)
    said = dialog.said.text()
    assert dialog.written is not None, said
    assert "pill" in said and "defects (any one is NG): chip" in said
    assert "0.05 mm per pixel" in said and "128 x 128 px" in said
    model = OnnxPredictor(dialog.written["path"])
    assert model.mm_per_px == pytest.approx(0.05)
    assert model.rules["defects"] == ["chip"]
    dialog.close()


def test_the_export_says_why_it_cannot_start(qtbot, trained_window):
    win, folder = trained_window
    (folder / "rules.json").write_text('{"isegui_rules": 1, "units": "mm", "defects": 3}')
    win.actions_by_name["export-model"].trigger()
    from isegui.gui.dialogs.export_model import ExportModelDialog
    dialog = win.findChild(ExportModelDialog)
    dialog.out.setText(str(folder / "model.txt"))
    QTest.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert "ending in .onnx" in dialog.said.text()
    dialog.out.setText(str(folder / "model.onnx"))
    QTest.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert "rules.json" in dialog.said.text() and "defects" in dialog.said.text()
    assert dialog.worker is None and not (folder / "model.onnx").exists()
    dialog.close()


def test_a_project_without_runs_says_to_train_first(qtbot, demo_template, tmp_path):
    from isegui.gui.app import open_window
    from isegui.gui.dialogs.export_model import ExportModelDialog
    folder = tmp_path / "d"
    shutil.copytree(demo_template, folder, ignore=shutil.ignore_patterns("*.lock"))
    win = open_window(folder)
    qtbot.addWidget(win)
    win.actions_by_name["export-model"].trigger()
    dialog = win.findChild(ExportModelDialog)
    assert "No finished training run" in dialog.said.text()
    assert not dialog.export_button.isEnabled()
    dialog.close()
    win.close()
    win.session.close()
