"""The labeling window as a newcomer meets it in the first hour, each driven with real events:
class counts, a stable tool bar, class names on the canvas, the brush cursor and brush
outlines' handles, zoom at the cursor, confirming a class delete, a corrupt image's message,
the Help menu."""

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox, QToolBar, QToolButton

from isegui.core.geometry import rasterize
from isegui.core.images import save_image
from isegui.gui.tools.brush import paint_stroke


def instances(win):
    return win.session.document.instances()


def draw_rect(drive, a, b):
    drive.key(Qt.Key.Key_R)
    drive.drag([a, b])


def class_row(win, name):
    texts = [win.classes.list.item(i).text() for i in range(win.classes.list.count())]
    return next(t for t in texts if f" {name} " in t)


# ---------------------------------------------------------------------- 1. class counts

def test_class_counts_follow_a_change_of_class(window, drive):
    draw_rect(drive, (20, 20), (60, 60))
    assert "(1)" in class_row(window, "pill") and "(0)" in class_row(window, "washer")
    drive.key(Qt.Key.Key_2)  # washer is the active class
    drive.shortcut("Ctrl+G")  # the selection gets it
    assert "(0)" in class_row(window, "pill") and "(1)" in class_row(window, "washer")
    drive.shortcut("Ctrl+Z")
    assert "(1)" in class_row(window, "pill") and "(0)" in class_row(window, "washer")


# ---------------------------------------------------------------------- 2. tool bar

def _toolbar_state(win):
    state = {}
    for bar in win.findChildren(QToolBar):
        for name in ("undo", "redo"):
            button = bar.widgetForAction(win.actions_by_name[name])
            if button is not None:
                state[name] = (button.text(), button.width())
    return state


def _overflowing(win):
    return [bar.windowTitle() for bar in win.findChildren(QToolBar)
            if any(b.isVisible() for b in bar.findChildren(QToolButton, "qt_toolbar_ext_button"))]


def test_undo_redo_buttons_keep_their_text_and_the_toolbar_fits_at_1400_px(window, drive):
    window.resize(1400, 900)
    QApplication.processEvents()
    before = _toolbar_state(window)
    assert before["undo"][0] == "Undo" and before["redo"][0] == "Redo"
    assert _overflowing(window) == []
    drive.key(Qt.Key.Key_P)
    drive.polygon([(20, 20), (80, 20), (80, 70), (20, 70)])
    draw_rect(drive, (100, 30), (150, 90))
    drive.shortcut("Ctrl+Z")  # something to redo, too
    QApplication.processEvents()
    assert _toolbar_state(window) == before
    assert _overflowing(window) == []
    undo, redo = window.actions_by_name["undo"], window.actions_by_name["redo"]
    assert "Draw polygon" in undo.toolTip() and "Ctrl+Z" in undo.toolTip()
    assert "Draw rectangle" in redo.toolTip() and "Draw rectangle" in redo.statusTip()
    assert undo.text() != "Undo"  # the Edit menu keeps the full text


# ---------------------------------------------------------------------- 3. class names, fill

def test_class_names_drawn_at_a_constant_size_and_hidden_with_the_instance(window, drive):
    draw_rect(drive, (40, 40), (120, 100))
    (inst,) = instances(window)
    layer = window.scene.class_names
    window.view.viewport().repaint()
    (drawn,) = layer.drawn
    assert drawn.text == f"pill {inst.id}"
    top_left = window.view.mapFromScene(QPointF(40, 40))
    assert abs(drawn.rect.left() - top_left.x()) <= 2 and drawn.rect.bottom() <= top_left.y() + 2
    size = drawn.rect.size()
    window.view.zoom_by(2.0)
    window.view.viewport().repaint()
    assert layer.drawn[0].rect.size() == size  # screen pixels, whatever the zoom
    # readable on any image: a dark plate behind the text
    shot = window.view.viewport().grab().toImage()
    corner = shot.pixelColor(layer.drawn[0].rect.topLeft() + QPoint(1, 1))
    assert corner.lightness() < 80
    window.session.document.set_hidden(inst.id, True)
    window.view.viewport().repaint()
    assert layer.drawn == []
    window.session.document.set_hidden(inst.id, False)
    drive.key(Qt.Key.Key_N)  # "Show class names" off
    window.view.viewport().repaint()
    assert layer.drawn == [] and not window.actions_by_name["class-names"].isChecked()
    drive.key(Qt.Key.Key_N)
    window.view.viewport().repaint()
    assert len(layer.drawn) == 1
    drive.key(Qt.Key.Key_L)  # "Show labels" off: the instances go, and their names
    window.view.viewport().repaint()
    assert layer.drawn == []


def test_default_fill_lets_a_white_object_look_white(window, drive):
    project = window.session.project
    record = window.session.store.images()[1]
    save_image(project.image_path(record.path), np.full((150, 200, 3), 250, np.uint8))
    window.session.open_image(record.id)
    window.view.resetTransform()
    window.view.centerOn(QPointF(100, 75))
    assert window.opacity_slider.value() == round(window.scene.opacity * 100)
    assert 0.1 <= window.scene.opacity <= 0.2
    draw_rect(drive, (40, 40), (120, 100))
    drive.key(Qt.Key.Key_Escape)
    window.session.document.set_selection([])
    shot = window.view.viewport().grab().toImage()
    inside = shot.pixelColor(drive.at(80, 70))
    assert min(inside.red(), inside.green(), inside.blue()) > 190  # still white, tinted
    edge = shot.pixelColor(drive.at(80, 40))
    assert max(abs(edge.red() - inside.red()), abs(edge.green() - inside.green()),
               abs(edge.blue() - inside.blue())) > 60  # a clear outline


# ---------------------------------------------------------------------- 4. brush

def test_brush_cursor_shows_the_size_and_hides_when_the_mouse_leaves(window, drive):
    window.options.set(brush_size=20)
    drive.key(Qt.Key.Key_B)
    drive.hover(48, 58)  # a move to where the mouse already is would be no event
    drive.hover(50, 60)
    cursor = window.tools["brush"].cursor_item
    assert cursor.isVisible()
    rect = cursor.mapRectToScene(cursor.rect())
    assert rect.width() == pytest.approx(20) and rect.center().x() == pytest.approx(50, abs=1)
    assert rect.center().y() == pytest.approx(60, abs=1)
    drive.key(Qt.Key.Key_BracketRight)
    rect = cursor.mapRectToScene(cursor.rect())
    assert rect.width() == pytest.approx(window.options.brush_size) and rect.width() > 20
    QApplication.sendEvent(window.view.viewport(), QEvent(QEvent.Type.Leave))
    assert not cursor.isVisible()
    drive.hover(70, 60)
    assert cursor.isVisible()
    drive.key(Qt.Key.Key_X)  # the eraser has its own
    drive.hover(71, 60)
    assert not cursor.isVisible() and window.tools["eraser"].cursor_item.isVisible()
    drive.key(Qt.Key.Key_E)
    assert not window.tools["eraser"].cursor_item.isVisible()


def test_a_brush_dot_gets_few_handles_and_keeps_its_exact_mask(window, drive):
    window.options.set(brush_size=60)
    drive.key(Qt.Key.Key_B)
    drive.click(100, 75)
    (inst,) = instances(window)
    painted = np.zeros((150, 200), np.uint8)
    where = window.view.mapToScene(drive.at(100, 75))  # where the click landed
    paint_stroke(painted, [(where.x(), where.y())], 60, (0, 0))
    assert (rasterize(inst.shape, 150, 200) == painted.astype(bool)).all()
    drive.key(Qt.Key.Key_E)
    drive.click(100, 75)
    item = window.scene.instance_item(inst.id)
    assert item.show_vertices and 8 <= len(item.vertices) < 40
    assert len(inst.shape.exterior.coords) > 80  # the stored outline is the pixel trace
    # a handle drags: the outline between its neighbours follows, the rest stays exact
    x, y = min(item.vertices, key=lambda v: v[1])  # the top handle
    drive.drag([(x, y), (x, y - 6), (x, y - 12)])
    (edited,) = instances(window)
    assert edited.shape.covers(_point(x, y - 11))
    far = _disc_half(edited.shape, 100, 75, below=True)
    assert far.symmetric_difference(_disc_half(inst.shape, 100, 75, below=True)).area < 1e-6
    drive.shortcut("Ctrl+Z")
    assert instances(window)[0].shape.equals(inst.shape)


def _point(x, y):
    from shapely.geometry import Point
    return Point(x, y)


def _disc_half(shape, cx, cy, below):
    from shapely.geometry import box
    return shape.intersection(box(0, cy, 200, 150) if below else box(0, 0, 200, cy))


# ---------------------------------------------------------------------- 5. wheel zoom

def _wheel(view, pos: QPoint, steps: int):
    event = QWheelEvent(QPointF(pos), QPointF(view.viewport().mapToGlobal(pos)), QPoint(0, 0),
                        QPoint(0, 120 * steps), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)


@pytest.mark.parametrize("start_scale", [1.0, 3.0, 8.0])
def test_wheel_zoom_keeps_the_point_under_the_cursor(window, drive, start_scale):
    view = window.view
    view.zoom_by(start_scale)
    view.centerOn(QPointF(100, 75))
    viewport = view.viewport().rect()
    checked = 0
    for fx, fy, steps in ((0.2, 0.3, 1), (0.8, 0.7, 1), (0.3, 0.8, -1), (0.7, 0.2, 2),
                          (0.5, 0.5, -2)):
        pos = QPoint(int(viewport.width() * fx), int(viewport.height() * fy))
        QTest.mouseMove(view.viewport(), pos)
        before = view.mapToScene(pos)
        scale = view.scale_factor
        _wheel(view, pos, steps)
        assert view.scale_factor == pytest.approx(scale * 1.25 ** steps)
        after = view.mapToScene(pos)
        for bar, a, b in ((view.horizontalScrollBar(), after.x(), before.x()),
                          (view.verticalScrollBar(), after.y(), before.y())):
            if bar.minimum() < bar.value() < bar.maximum():  # not held by the scene's edge
                assert abs(a - b) <= 1, (fx, fy, steps, before, after)
                checked += 1
    assert checked >= 4


# ---------------------------------------------------------------------- 6. class delete

@pytest.fixture
def message_boxes(monkeypatch):
    """Every QMessageBox shown with exec(): its text is recorded and the button whose text
    starts with `answer[0]` is clicked."""
    seen, answer = [], ["Cancel"]

    def fake_exec(box):
        seen.append((box.text(), box.informativeText(), [b.text() for b in box.buttons()]))
        button = next(b for b in box.buttons() if b.text().replace("&", "").startswith(answer[0]))
        button.click()
        return 0
    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    return seen, answer


def test_deleting_a_class_with_instances_asks_first_naming_the_count(window, drive,
                                                                     message_boxes):
    seen, answer = message_boxes
    draw_rect(drive, (10, 10), (40, 40))
    draw_rect(drive, (50, 10), (90, 40))
    first = window.session.document.image_id
    drive.key(Qt.Key.Key_D)  # the next image
    draw_rect(drive, (10, 10), (40, 40))
    pill = window.session.class_by_id(window.session.active_class_id)
    assert pill.name == "pill"
    button = window.classes.buttons["delete"]
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    (text, _, buttons), = seen
    assert "pill has 3 instances in 2 images" in text
    assert len(buttons) == 3
    assert window.session.class_by_id(pill.id) is not None  # cancelled: nothing changed
    answer[0] = "Delete the 3"
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.session.class_by_id(pill.id) is None
    assert window.session.store.instances(first) == [] and instances(window) == []
    window.session.undo_stack.undo()
    answer[0] = "Keep"
    window.session.set_active_class(pill.id)
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.session.class_by_id(pill.id) is None
    assert [i.class_id for i in instances(window)] == [None]


def test_merge_button_asks_for_the_target(window, drive, monkeypatch):
    from PySide6.QtWidgets import QInputDialog
    asked = []
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: asked.append(a) or
                        ("chip", True))
    draw_rect(drive, (10, 10), (40, 40))
    QTest.mouseClick(window.classes.buttons["merge"], Qt.MouseButton.LeftButton)
    assert asked, "the Merge button must ask into which class"
    assert [c.name for c in window.session.classes()] == ["washer", "chip"]
    assert window.session.class_by_id(instances(window)[0].class_id).name == "chip"


# ---------------------------------------------------------------------- 7. corrupt image

def test_a_corrupt_images_message_fits_inside_the_image(window, tmp_path):
    session = window.session
    deep = session.project.folder / "images" / ("a_long_folder_name_" * 6) / "sub"
    deep.mkdir(parents=True)
    (deep / "broken_image_with_a_long_name.png").write_bytes(b"\x89PNG broken")
    record = session.store.add_image(
        str((deep / "broken_image_with_a_long_name.png").relative_to(session.project.folder)),
        200, 150)
    session.open_image(record.id)
    assert "Cannot show this image" in window.scene.message
    item = window.scene._message
    image = QRectF(0, 0, 200, 150)
    assert image.contains(item.sceneBoundingRect()), item.sceneBoundingRect()
    assert item.sceneBoundingRect().width() > 100  # not shrunk to nothing


# ---------------------------------------------------------------------- 9. Help menu

def _click_help_item(win, text):
    """Open the Help menu and click the item, as a user would."""
    menu = next(a.menu() for a in win.menuBar().actions() if a.text().replace("&", "") == "Help")
    menu.popup(win.mapToGlobal(QPoint(100, 20)))
    QTest.qWaitForWindowExposed(menu)
    item = next(a for a in menu.actions() if a.text().replace("&", "").startswith(text))
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     menu.actionGeometry(item).center())
    assert not menu.isVisible()


def test_help_getting_started_and_keyboard_reference(window):
    from isegui.gui.dialogs.help import GettingStartedDialog, KeyboardReferenceDialog
    _click_help_item(window, "Getting started")
    guide = window.findChild(GettingStartedDialog)
    assert guide is not None and guide.isVisible()
    text = guide.text()
    for words in ("New project", "Add images", "Training", "Review", "P polygon",
                  "Mark as labeled (Ctrl+Shift+L)"):
        assert words in text
    _click_help_item(window, "Keyboard reference")
    keys = window.findChild(KeyboardReferenceDialog)
    assert keys is not None and keys.isVisible()
    rows = keys.rows()
    assert ("Polygon", "P") in [(name, key) for name, key, _ in rows]
    assert any(name.startswith("Undo") and "Ctrl+Z" in key for name, key, _ in rows)
    assert any("Show class names" == name and key == "N" for name, key, _ in rows)
    assert ("Pick the active class", "1-9") in [(name, key) for name, key, _ in rows]
