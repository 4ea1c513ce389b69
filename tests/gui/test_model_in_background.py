"""Issue 28, findings 3 and 4: the active run's model is read off the window's thread (the first
model-assisted click froze the window 9-13 s), and the assisted tools say which engine they use,
with a switch: model, colour (GrabCut), or auto (the model only where it is sure). The model
here is a fake whose reading blocks until the test lets it go: what the window does meanwhile
is seen with real mouse and key events, without timing anything."""

import threading

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox

from isegui.core.entities import Source
from isegui.core.geometry import rasterize
from isegui.core.images import save_image
from isegui.gui.tools.assist_context import LabelAssist
from isegui.ml.infer.detection import Detection
from tests.gui.conftest import Driver, aimed_window, make_project

W, H = 200, 150
DISC = ((60, 75), 28)


def _disc_mask():
    mask = np.zeros((H, W), np.uint8)
    cv2.circle(mask, *DISC, 1, -1)
    return mask > 0


def _detection(mask, score=0.9, mask_score=0.9):
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    return Detection(1, "pill", score, (float(x0), float(y0), float(x1), float(y1)),
                     mask[y0:y1, x0:x1].copy(), (int(x0), int(y0)), mask_score)


class FakeModel:
    """What the tools ask of a run's model: its classes, its detections of an image, its mask
    for a box (set by the test)."""
    classes = ["pill", "washer", "chip"]

    def __init__(self):
        self.box_answer = _detection(_disc_mask())
        self.looked_at = 0

    def predict(self, images):
        self.looked_at += 1
        return [[_detection(_disc_mask())]]


class FakeSegmenter:
    def __init__(self, predictor):
        self.predictor = predictor

    def segment(self, image, box, class_index=None):
        return self.predictor.box_answer


class HeldLoader:
    """Reads the 'model' only when the test lets it (`release`); never longer than 20 s, so
    code that waits for it on the window's thread fails the test instead of hanging it."""

    def __init__(self):
        self.go = threading.Event()
        self.model = FakeModel()
        self.calls = 0

    def __call__(self, checkpoint, device, threshold):
        self.calls += 1
        self.go.wait(20)
        return self.model


@pytest.fixture
def held(monkeypatch, tmp_path):
    """A window on a project whose active run's model reads only when the test says."""
    import isegui.ml.model.box_segmenter as box_segmenter
    import isegui.ml.model.loaded_model as loaded_model
    loader = HeldLoader()
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"a checkpoint")
    monkeypatch.setattr(loaded_model, "_read_checkpoint", loader)
    monkeypatch.setattr(LabelAssist, "checkpoint", lambda self: checkpoint)
    monkeypatch.setattr(LabelAssist, "_run_name", lambda self: "run fake")
    monkeypatch.setattr(box_segmenter, "BoxSegmenter", FakeSegmenter)
    folder = make_project(tmp_path / "p", images=2, size=(W, H))
    image = np.random.default_rng(1).integers(20, 40, (H, W, 3), np.uint8)
    image[_disc_mask()] = (200, 180, 60)
    save_image(folder / "images/img_0.png", image)
    save_image(folder / "images/img_1.png", image)
    return folder, loader


@pytest.fixture
def window(qtbot, held):
    """A window on the held project (opening it starts reading the model), its driver and
    the loader; the loader let go and the window closed after the test."""
    folder, loader = held
    win = aimed_window(qtbot, folder)
    yield win, Driver(win), loader
    loader.go.set()
    win.close()
    win.session.close()


def _engine(win, key):
    combo = win.findChild(QComboBox, "assist-engine")
    combo.setCurrentIndex(combo.findData(key))
    assert win.options.engine == key


def _cursor_is_busy():
    cursor = QApplication.overrideCursor()
    return cursor is not None and cursor.shape() == Qt.CursorShape.BusyCursor


def test_the_window_takes_input_while_the_model_loads_and_the_box_waits_for_it(qtbot, window):
    win, drive, loader = window  # opening the window started reading the model
    qtbot.waitUntil(lambda: loader.calls == 1)
    assert "loading run fake" in win.model_status.text()
    _engine(win, "model")
    drive.key(Qt.Key.Key_M)
    drive.drag([(28, 43), (60, 70), (93, 108)])  # a box round the disc: it must wait
    assert win.session.document.instances() == []
    assert win.assist.waiting and _cursor_is_busy()
    # the window goes on meanwhile: a key it handles itself (zoom in) takes effect
    before = win.view.transform().m11()
    drive.shortcut("+")  # zoom in, handled while the model is still being read
    assert win.view.transform().m11() > before
    assert win.assist.model() is None and win.assist.waiting  # still loading
    loader.go.set()
    qtbot.waitUntil(lambda: not win.assist.waiting)
    (inst,) = win.session.document.instances()
    assert inst.source == Source.ACCEPTED_PREDICTION  # the model's mask, not GrabCut's
    assert "run fake ready" in win.model_status.text()
    assert QApplication.overrideCursor() is None


def test_esc_drops_the_box_that_waits_for_the_model(qtbot, window):
    win, drive, loader = window
    _engine(win, "model")
    drive.key(Qt.Key.Key_M)
    drive.drag([(28, 43), (60, 70), (93, 108)])
    assert win.assist.waiting
    drive.key(Qt.Key.Key_Escape)
    assert not win.assist.waiting and QApplication.overrideCursor() is None
    loader.go.set()
    qtbot.waitUntil(lambda: win.assist.model() is not None)
    qtbot.wait(50)
    assert win.session.document.instances() == []  # dropped, not run later


def test_auto_uses_grabcut_while_the_model_loads_and_says_so(qtbot, window):
    win, drive, loader = window
    messages = []
    win.ctx.message.connect(messages.append)
    assert win.options.engine == "auto"  # the default
    drive.key(Qt.Key.Key_M)
    drive.drag([(28, 43), (60, 70), (93, 108)])
    (inst,) = win.session.document.instances()
    assert inst.source == Source.MANUAL  # GrabCut's, at once
    assert "GrabCut: the model is still loading" in messages[-1]


def test_auto_takes_the_model_only_above_the_bar_and_colour_never(qtbot, window):
    win, drive, loader = window
    loader.go.set()
    messages = []
    win.ctx.message.connect(messages.append)
    qtbot.waitUntil(lambda: win.assist.model() is not None)
    speck = np.zeros((H, W), bool)
    speck[70:77, 55:62] = True  # the weak run's 45-px² speck in a box round the disc
    loader.model.box_answer = _detection(speck)
    drive.key(Qt.Key.Key_M)
    drive.drag([(28, 43), (60, 70), (93, 108)])
    (auto,) = win.session.document.instances()
    assert auto.source == Source.MANUAL and "spans" in messages[-1]
    disc = _disc_mask()
    assert (rasterize(auto.shape, H, W) & disc).sum() / disc.sum() > 0.8  # GrabCut's disc

    _engine(win, "model")  # the user asked for the model: its speck it is
    drive.drag([(28, 43), (60, 70), (93, 108)])
    model_made = [i for i in win.session.document.instances() if i.id != auto.id]
    assert model_made[0].source == Source.ACCEPTED_PREDICTION
    assert rasterize(model_made[0].shape, H, W).sum() < 80

    loader.model.box_answer = _detection(disc, mask_score=0.3)  # an unsure mask
    _engine(win, "auto")
    drive.drag([(28, 43), (60, 70), (93, 108)])
    assert "unsure" in messages[-1]
    _engine(win, "colour")
    loader.model.box_answer = _detection(disc)
    drive.drag([(28, 43), (60, 70), (93, 108)])
    assert "GrabCut (colour)" in messages[-1]


def test_the_click_tool_waits_for_the_models_detections_of_the_image(qtbot, window):
    win, drive, loader = window
    _engine(win, "model")
    drive.key(Qt.Key.Key_I)
    drive.click(60, 75)
    assert win.assist.waiting and win.view.tool.outlining is None
    loader.go.set()
    qtbot.waitUntil(lambda: win.view.tool.outlining is not None)
    assert loader.model.looked_at == 1  # the image was looked at off the window's thread
    assert win.view.tool.outlining.class_index == 1  # the model's detection, not GrabCut
    drive.key(Qt.Key.Key_Return)
    (inst,) = win.session.document.instances()
    assert inst.source == Source.ACCEPTED_PREDICTION
    drive.key(Qt.Key.Key_D)  # the next image: its detections are made anew
    drive.click(60, 75)
    qtbot.waitUntil(lambda: win.view.tool.outlining is not None)
    assert loader.model.looked_at == 2
