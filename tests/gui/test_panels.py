import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from shapely.geometry import box

from isegui.core.images import save_image


def instances(win):
    return win.session.document.instances()


def draw_rect(drive, a, b):
    drive.key(Qt.Key.Key_R)
    drive.drag([a, b])


def test_image_browser_next_previous_and_status(window, drive):
    first = window.session.document.image_id
    drive.key(Qt.Key.Key_D)
    second = window.session.document.image_id
    assert second != first
    drive.key(Qt.Key.Key_A)
    assert window.session.document.image_id == first
    draw_rect(drive, (10, 10), (50, 50))
    item = window.images.list.currentItem()
    assert "◔" in item.text() and " 1 " in item.text()  # in progress, one instance
    drive.shortcut("Ctrl+R")
    assert "✔" in window.images.list.currentItem().text()
    drive.shortcut("Ctrl+Z")  # marking is an edit like any other
    assert "◔" in window.images.list.currentItem().text()
    drive.shortcut("Ctrl+R")
    window.images.filter.setCurrentIndex(window.images.filter.findText("Only unlabeled"))
    assert window.images.list.count() == 1


def test_instance_panel_follows_and_drives_the_selection(window, drive):
    draw_rect(drive, (10, 10), (50, 50))
    draw_rect(drive, (60, 60), (90, 90))
    table, model = window.instances.table, window.instances.model
    assert model.rowCount() == 2
    table.selectRow(1)  # the lower one (topmost is listed first)
    assert window.session.document.selected == [instances(window)[0].id]
    drive.key(Qt.Key.Key_E)
    drive.click(75, 75)
    selected_rows = {i.row() for i in table.selectionModel().selectedRows()}
    assert selected_rows == {0}
    window.instances.toggle_hidden()
    assert window.scene.items_by_id[instances(window)[1].id].isVisible() is False
    assert "hidden" in model.data(model.index(0, 5))
    window.instances.toggle_hidden()
    window.instances.toggle_locked()
    drive.click(20, 20)
    drive.click(75, 75)  # locked: cannot be picked on the canvas
    assert window.session.document.selected != [instances(window)[1].id]
    assert "pill: 2" in window.instances.counts.text()


def test_z_order_up_and_down(window, drive):
    draw_rect(drive, (10, 10), (50, 50))
    draw_rect(drive, (30, 30), (70, 70))
    low, high = instances(window)
    drive.key(Qt.Key.Key_E)
    drive.click(15, 15)
    drive.shortcut("PgUp")
    assert [i.id for i in instances(window)] == [high.id, low.id]
    drive.shortcut("Ctrl+Z")
    assert [i.id for i in instances(window)] == [low.id, high.id]


def test_class_panel_add_rename_recolor_merge_delete_with_undo(window):
    panel, session = window.classes, window.session
    panel.add("screw")
    assert session.class_by_id(session.active_class_id).name == "screw"
    panel.rename("bolt")
    panel.recolor("#123456")
    bolt = session.class_by_id(session.active_class_id)
    assert (bolt.name, bolt.color) == ("bolt", "#123456")
    doc = session.document
    from isegui.gui.commands.instance_commands import AddInstanceCommand
    session.undo_stack.push(AddInstanceCommand(session, doc.image_id, bolt.id, box(0, 0, 9, 9)))
    washer = next(c for c in session.classes() if c.name == "washer")
    panel.merge(washer.id)
    assert [c.name for c in session.classes()] == ["pill", "washer", "chip"]
    assert instances(window)[0].class_id == washer.id
    session.undo_stack.undo()
    assert instances(window)[0].class_id == bolt.id
    session.set_active_class(bolt.id)
    panel.delete(delete_instances=True)
    assert instances(window) == []
    session.undo_stack.undo()
    assert instances(window)[0].class_id == bolt.id and session.class_by_id(bolt.id)
    assert "bolt" in panel.list.item(3).text() and "(1)" in panel.list.item(3).text()


def test_copy_paste_duplicate_join_subtract_split(window, drive):
    draw_rect(drive, (10, 10), (50, 50))
    drive.shortcut("Ctrl+D")  # duplicate: a copy 10 px down and right
    a, b = instances(window)
    from isegui.core.geometry import translate
    assert b.shape.equals(translate(a.shape, 10, 10)) and b.class_id == a.class_id
    drive.key(Qt.Key.Key_E)
    drive.click(12, 12)
    drive.click(58, 58, Qt.KeyboardModifier.ShiftModifier)
    drive.shortcut("Ctrl+Shift+J")  # subtract the second from the first
    first = window.session.document.instance(a.id).shape
    assert first.area == pytest.approx(40 * 40 - 30 * 30, rel=0.05)
    drive.shortcut("Ctrl+J")  # join them back into one
    (joined,) = instances(window)
    assert joined.shape.area == pytest.approx(40 * 40 * 2 - 30 * 30, rel=0.05)
    drive.key(Qt.Key.Key_X)
    window.options.set(brush_size=8)
    drive.drag([(0, 15), (70, 65)])  # erase a diagonal cut right through it
    drive.shortcut("Ctrl+K")
    assert len(instances(window)) >= 2
    drive.shortcut("Ctrl+C")
    drive.key(Qt.Key.Key_D)
    drive.shortcut("Ctrl+V")
    assert len(instances(window)) == 1  # the selected one, pasted on the next image


def test_copy_labels_from_the_previous_image_keeps_track_ids(window, drive):
    draw_rect(drive, (10, 10), (50, 50))
    first = window.session.document.image_id
    drive.key(Qt.Key.Key_D)
    drive.shortcut("Ctrl+Shift+V")
    (copied,) = instances(window)
    (source,) = window.session.store.instances(first)
    assert copied.track_id is not None and copied.track_id == source.track_id
    assert copied.shape.equals(source.shape)
    window.session.undo_stack.undo()  # one step: the copies go, the source loses its track
    assert instances(window) == []
    assert window.session.store.instances(first)[0].track_id is None

def test_an_image_that_cannot_load_shows_a_message_and_the_app_goes_on(window, drive, tmp_path):
    project = window.session.project
    record = window.session.store.images()[1]
    project.image_path(record.path).write_bytes(b"\x89PNG broken")
    window.session.open_image(record.id)
    assert "Cannot show this image" in window.scene.message
    assert "img_1.png" in window.scene.message
    draw_rect(drive, (10, 10), (40, 40))  # labels still work on the grey area
    assert len(instances(window)) == 1
    drive.key(Qt.Key.Key_A)
    assert window.scene.message is None


def test_16_bit_tiff_shows_in_the_label_frame_with_its_values(window, drive, tmp_path):
    pixels = (np.arange(150 * 200).reshape(150, 200) * 2).astype(np.uint16)
    path = window.session.project.folder / "images" / "deep.tif"
    save_image(path, pixels)
    record = window.session.store.add_image("images/deep.tif", 200, 150)
    window.session.open_image(record.id)
    assert not window.scene.image_item.pixmap().isNull()
    assert window.scene.image_item.pixmap().width() == 200
    drive.hover(10.5, 20.5)
    assert f"value {int(pixels[20, 10])}" in window.position.text()


def test_consistency_panel_lists_findings_and_selects_on_click(window, drive):
    draw_rect(drive, (10, 10), (50, 50))
    draw_rect(drive, (12, 12), (50, 50))  # the same object twice
    window.consistency.check_image()
    texts = [window.consistency.list.item(i).text()
             for i in range(window.consistency.list.count())]
    assert any("share" in t for t in texts)
    row = next(i for i, t in enumerate(texts) if "share" in t)
    item = window.consistency.list.item(row)
    window.consistency._go(item)
    assert len(window.session.document.selected) == 2


def test_zoom_to_cursor_and_fit(window, drive):
    before = window.view.mapToScene(drive.at(100, 75))
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent
    pos = drive.at(100, 75)
    event = QWheelEvent(QPointF(pos), QPointF(window.view.mapToGlobal(pos)), QPoint(0, 0),
                        QPoint(0, 240), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    start = window.view.scale_factor
    window.view.wheelEvent(event)
    assert window.view.scale_factor == pytest.approx(start * 1.5625)
    after = window.view.mapToScene(pos)
    assert abs(after.x() - before.x()) < 1 and abs(after.y() - before.y()) < 1
    drive.key(Qt.Key.Key_F)
    assert window.view.scale_factor > 1.5  # a 200 px image fills the canvas


def test_middle_button_and_space_drag_pan(window, drive):
    bar = window.view.horizontalScrollBar()
    window.view.zoom_by(4.0)
    start = bar.value()
    viewport = window.view.viewport()
    a, b = drive.at(100, 75), drive.at(80, 75)
    QTest.mousePress(viewport, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(viewport, b)
    QTest.mouseRelease(viewport, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, b)
    assert bar.value() > start  # dragged left: the view moved right
    QTest.keyPress(window.view, Qt.Key.Key_Space)
    drive.drag([(80, 75), (100, 75)])
    QTest.keyRelease(window.view, Qt.Key.Key_Space)
    assert abs(bar.value() - start) <= 2 and instances(window) == []  # panned, drew nothing


def test_exif_rotated_jpeg_shows_in_the_frame_of_its_labels(window):
    from PIL import Image
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 120 wide, 80 high; shown 80 wide, 120 high
    stored = np.zeros((80, 120, 3), np.uint8)
    stored[:10, :10] = 255
    path = window.session.project.folder / "images" / "rotated.jpg"
    Image.fromarray(stored).save(path, exif=exif.tobytes())
    record = window.session.store.add_image("images/rotated.jpg", 80, 120)
    window.session.open_image(record.id)
    pixmap = window.scene.image_item.pixmap()
    assert (pixmap.width(), pixmap.height()) == (80, 120)
    corner = pixmap.toImage().pixelColor(75, 3)  # the white corner turned to the top right
    assert corner.red() > 200


KILL_SCRIPT = """
import os, signal, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication
from shapely.geometry import box
app = QApplication([])
from isegui.gui.app import open_window
from isegui.gui.commands.instance_commands import AddInstanceCommand
window = open_window(sys.argv[1])
session = window.session
for k in range(3):
    session.undo_stack.push(AddInstanceCommand(session, session.document.image_id, 1,
                                               box(10 * k, 0, 10 * k + 8, 8)))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killing_the_app_keeps_every_committed_edit(tmp_path):
    import subprocess
    import sys
    from isegui.core.project import Project
    from tests.gui.conftest import make_project
    folder = make_project(tmp_path / "p")
    done = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(folder)], timeout=120)
    assert done.returncode == -9
    with Project.open(folder) as project:  # and the lock died with the process
        first = project.store.images()[0]
        assert len(project.store.instances(first.id)) == 3
