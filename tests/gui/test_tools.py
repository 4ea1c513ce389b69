import pytest
from PySide6.QtCore import Qt
from shapely.geometry import Point, Polygon, box

from isegui.core.geometry import has_holes
from isegui.core.project import Project


def instances(win):
    return win.session.document.instances()


def near(a, b, tol=1.01):
    """Two shapes alike up to the pixel the mouse lands on."""
    return a.symmetric_difference(b).area <= tol * (a.length + b.length)


def test_polygon_drawn_with_clicks_and_closed_on_the_first_vertex(window, drive):
    drive.key(Qt.Key.Key_P)
    assert window.view.tool.name == "polygon"
    drive.polygon([(20, 20), (80, 20), (80, 60), (20, 60)])
    (inst,) = instances(window)
    assert near(inst.shape, box(20, 20, 80, 60))
    assert window.session.class_by_id(inst.class_id).name == "pill"
    with Project.open(window.session.project.folder, read_only=True) as again:
        assert len(again.store.instances(window.session.document.image_id)) == 1


def test_polygon_enter_backspace_escape(window, drive):
    drive.key(Qt.Key.Key_P)
    for p in [(20, 20), (80, 20), (80, 60), (150, 140)]:
        drive.click(*p)
    drive.key(Qt.Key.Key_Backspace)  # drop (150, 140)
    drive.key(Qt.Key.Key_Return)
    (inst,) = instances(window)
    assert inst.shape.area == pytest.approx(1200, rel=0.1)
    assert near(inst.shape, Polygon([(20, 20), (80, 20), (80, 60)]))  # Backspace took the 4th
    drive.click(100, 100)
    drive.click(120, 100)
    drive.key(Qt.Key.Key_Escape)
    assert window.view.tool.points == []  # the outline in progress is gone
    for p in [(5, 5), (45, 5), (45, 35)]:  # a fresh start, not more vertices of the cancelled
        drive.click(*p)
    drive.key(Qt.Key.Key_Return)
    _, second = instances(window)
    assert near(second.shape, Polygon([(5, 5), (45, 5), (45, 35)]))
    assert not second.shape.intersects(Polygon([(100, 99), (121, 99), (121, 101)]))


def test_rectangle_and_ellipse(window, drive):
    drive.key(Qt.Key.Key_R)
    drive.drag([(10, 10), (40, 30), (60, 50)])
    drive.key(Qt.Key.Key_C)
    drive.drag([(100, 40), (160, 100)])
    rect, ellipse = instances(window)
    assert near(rect.shape, box(10, 10, 60, 50))
    assert ellipse.shape.area == pytest.approx(3.1416 * 30 * 30, rel=0.05)


def test_hole_cut_in_the_selected_instance(window, drive):
    drive.key(Qt.Key.Key_R)
    drive.drag([(20, 20), (120, 120)])
    (inst,) = instances(window)
    assert window.session.document.selected == [inst.id]
    drive.key(Qt.Key.Key_H)
    drive.polygon([(50, 50), (90, 50), (90, 90), (50, 90)])
    (cut,) = instances(window)
    assert cut.id == inst.id and has_holes(cut.shape)
    assert cut.shape.area == pytest.approx(100 * 100 - 40 * 40, rel=0.05)
    drive.shortcut("Ctrl+Z")
    assert not has_holes(instances(window)[0].shape)


def test_brush_paints_a_new_instance_and_the_eraser_removes(window, drive):
    window.options.set(brush_size=10)
    drive.key(Qt.Key.Key_B)
    drive.drag([(30, 30), (60, 30), (90, 30)])
    (inst,) = instances(window)
    # a 60 px stroke, 10 px wide, with round ends
    assert inst.shape.area == pytest.approx(60 * 10 + 3.1416 * 25, rel=0.15)
    assert inst.shape.is_valid
    drive.key(Qt.Key.Key_X)
    drive.drag([(60, 20), (60, 40)])  # erase across the middle: two parts stay
    (erased,) = instances(window)
    assert erased.shape.geom_type == "MultiPolygon"
    drive.key(Qt.Key.Key_B)
    drive.drag([(60, 30), (61, 30)])  # paint the gap back on the selected instance
    assert instances(window)[0].shape.geom_type == "Polygon"


def test_vertex_drag_is_one_undo_step(window, drive):
    drive.key(Qt.Key.Key_R)
    drive.drag([(20, 20), (80, 60)])
    drive.key(Qt.Key.Key_E)
    drive.click(50, 40)
    steps = window.session.undo_stack.count()
    drive.drag([(80, 60), (90, 70), (100, 80), (110, 90)])
    (inst,) = instances(window)
    assert inst.shape.covers(Point(105, 85))
    assert window.session.undo_stack.count() == steps + 1
    drive.shortcut("Ctrl+Z")
    assert near(instances(window)[0].shape, box(20, 20, 80, 60))
    drive.shortcut("Ctrl+Shift+Z")
    assert instances(window)[0].shape.covers(Point(105, 85))


def test_insert_and_delete_vertices_and_move(window, drive):
    drive.key(Qt.Key.Key_R)
    drive.drag([(20, 20), (80, 60)])
    drive.key(Qt.Key.Key_E)
    drive.click(50, 40)
    n = len(instances(window)[0].shape.exterior.coords)
    drive.double_click(50, 20)  # on the top edge
    assert len(instances(window)[0].shape.exterior.coords) == n + 1
    drive.drag([(50, 20), (50, 5)])  # pull the new vertex up
    assert instances(window)[0].shape.covers(Point(50, 8))
    drive.hover(50, 5)
    drive.key(Qt.Key.Key_Delete)
    assert len(instances(window)[0].shape.exterior.coords) == n
    drive.drag([(40, 40), (70, 70)])  # grab inside: the whole instance moves
    assert near(instances(window)[0].shape, box(50, 50, 110, 90))


def test_snap_to_a_neighbour_shares_the_border(window, drive):
    drive.key(Qt.Key.Key_R)
    drive.drag([(20, 20), (80, 80)])
    window.options.set(snap=True)
    drive.key(Qt.Key.Key_P)
    drive.polygon([(82, 22), (140, 20), (140, 80), (81, 78)])  # near the right edge
    a, b = instances(window)
    shared = a.shape.intersection(b.shape)
    assert shared.area == 0 and shared.length >= 50  # they touch along the edge


def test_clip_to_others_gives_a_new_instance_only_free_area(window, drive):
    drive.key(Qt.Key.Key_R)
    drive.drag([(20, 20), (80, 80)])
    window.options.set(clip=True)
    drive.drag([(60, 40), (120, 100)])
    a, b = instances(window)
    assert a.shape.intersection(b.shape).area == pytest.approx(0, abs=1e-6)
    assert b.shape.area == pytest.approx(60 * 60 - 20 * 40, rel=0.05)


def test_class_change_delete_and_undo(window, drive):
    drive.key(Qt.Key.Key_R)
    drive.drag([(20, 20), (80, 80)])
    (inst,) = instances(window)
    drive.key(Qt.Key.Key_2)  # washer becomes the active class
    drive.shortcut("Ctrl+G")
    assert window.session.class_by_id(instances(window)[0].class_id).name == "washer"
    drive.key(Qt.Key.Key_E)
    drive.click(50, 50)
    drive.key(Qt.Key.Key_Delete)
    assert instances(window) == []
    drive.shortcut("Ctrl+Z")
    (back,) = instances(window)
    assert back.id == inst.id  # the same instance, its id not reused by anything else
    drive.shortcut("Ctrl+Z")
    assert window.session.class_by_id(instances(window)[0].class_id).name == "pill"


def test_reopening_the_project_shows_exactly_what_was_drawn(window, drive, qtbot):
    drive.key(Qt.Key.Key_R)
    drive.drag([(20, 20), (80, 80)])
    drive.key(Qt.Key.Key_H)
    drive.polygon([(40, 40), (60, 40), (60, 60), (40, 60)])
    drive.key(Qt.Key.Key_C)
    drive.drag([(100, 30), (150, 90)])
    drawn = {i.id: i.shape for i in instances(window)}
    folder = window.session.project.folder
    image_id = window.session.document.image_id
    window.close()
    window.session.close()
    from isegui.gui.app import open_window
    again = open_window(folder)
    qtbot.addWidget(again)
    assert again.session.document.image_id == image_id  # the last image comes back
    shown = {k: item.instance.shape for k, item in again.scene.items_by_id.items()}
    assert shown.keys() == drawn.keys()
    assert all(shown[k].equals_exact(drawn[k], 1e-9) for k in drawn)
    again.close()
    again.session.close()


def test_arrow_nudges_merge_into_one_undo_step(window, drive):
    drive.key(Qt.Key.Key_R)
    drive.drag([(20, 20), (60, 60)])
    drive.key(Qt.Key.Key_E)
    drive.click(40, 40)
    steps = window.session.undo_stack.count()
    for _ in range(3):
        drive.key(Qt.Key.Key_Right)
    drive.key(Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert near(instances(window)[0].shape, box(23, 30, 63, 70))
    assert window.session.undo_stack.count() == steps + 1  # merged (mergeWith)
    drive.shortcut("Ctrl+Z")
    assert near(instances(window)[0].shape, box(20, 20, 60, 60))
