"""The assisted labeling tools in the window, driven with real mouse events: box -> mask and
click -> instance (GrabCut here: the project has no trained run), the edge-following outline
and the magic wand. Each result is one undo step with a new instance id."""

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from isegui.core.entities import Source
from isegui.core.geometry import rasterize
from isegui.core.images import save_image
from isegui.core.mask_window import MaskWindow
from tests.gui.conftest import Driver, aimed_window, make_project

W, H = 200, 150


def _scene():
    """A bright disc and a bright square on a dark, noisy background, and their masks."""
    rng = np.random.default_rng(1)
    image = rng.integers(20, 40, (H, W, 3), np.uint8)
    disc = np.zeros((H, W), np.uint8)
    cv2.circle(disc, (60, 75), 28, 1, -1)
    square = np.zeros((H, W), np.uint8)
    square[40:100, 120:180] = 1
    image[disc > 0] = (200, 180, 60)
    image[square > 0] = (60, 170, 220)
    return image, disc > 0, square > 0


@pytest.fixture
def scene_window(qtbot, tmp_path):
    folder = make_project(tmp_path / "p", images=1, size=(W, H))
    image, disc, square = _scene()
    save_image(folder / "images/img_0.png", image)
    win = aimed_window(qtbot, folder)
    yield win, Driver(win), disc, square
    win.close()
    win.session.close()


def _masks(win):
    return {i.id: rasterize(i.shape, H, W) for i in win.session.document.instances()}


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def _press(drive, x, y, button, modifier=Qt.KeyboardModifier.NoModifier):
    QTest.mouseClick(drive.viewport, button, modifier, drive.at(x, y))


def test_box_to_mask_outlines_the_object_in_the_box_as_one_undo_step(scene_window):
    win, drive, disc, square = scene_window
    drive.key(Qt.Key.Key_M)
    assert win.view.tool.name == "box-mask"
    drive.drag([(28, 43), (60, 70), (93, 108)])
    drive.drag([(115, 35), (150, 60), (185, 105)])
    masks = _masks(win)
    assert len(masks) == 2  # two ids
    first, second = sorted(masks)
    assert _iou(masks[first], disc) > 0.9 and _iou(masks[second], square) > 0.9
    assert win.session.undo_stack.count() == 2
    drive.shortcut("Ctrl+Z")
    assert list(_masks(win)) == [first]


def test_click_shows_a_candidate_that_enter_adds_and_esc_drops(scene_window):
    win, drive, disc, square = scene_window
    drive.key(Qt.Key.Key_I)
    tool = win.view.tool
    drive.click(60, 75)
    assert tool.preview is not None and tool.outlining.current is not None
    assert _masks(win) == {}  # only a candidate until Enter
    drive.key(Qt.Key.Key_Escape)
    assert tool.preview is None and _masks(win) == {}

    drive.click(150, 70)
    candidate = tool.outlining.current
    drive.key(Qt.Key.Key_Return)
    (mask,) = _masks(win).values()
    assert _iou(mask, square) > 0.9
    (inst,) = win.session.document.instances()
    assert inst.source == Source.MANUAL  # GrabCut's: no model involved
    assert candidate is not None and win.session.undo_stack.count() == 1


def test_a_negative_click_takes_a_part_out_of_the_candidate(scene_window):
    win, drive, disc, square = scene_window
    drive.key(Qt.Key.Key_I)
    tool = win.view.tool
    drive.click(60, 75)
    assert tool.outlining.current.covers((40, 75))
    _press(drive, 40, 75, Qt.MouseButton.RightButton)  # that part is background
    assert [positive for _, positive in tool.outlining.clicks] == [True, False]
    assert not tool.outlining.current.covers((40, 75))
    assert tool.outlining.current.covers((60, 75))
    drive.key(Qt.Key.Key_Backspace)  # the last click taken back
    assert len(tool.outlining.clicks) == 1 and tool.outlining.current.covers((40, 75))
    drive.key(Qt.Key.Key_Return)
    assert len(_masks(win)) == 1


def test_edge_outline_follows_the_square_between_four_anchors(scene_window):
    win, drive, disc, square = scene_window
    drive.key(Qt.Key.Key_T)
    assert win.view.tool.name == "scissors"
    # anchors a little off the corners: the path between them snaps to the edges
    for x, y in [(121, 41), (178, 42), (178, 98), (122, 98)]:
        drive.click(x, y)
        drive.hover(x + 3, y + 3)
    drive.click(121, 41)  # on the first anchor: closed
    (mask,) = _masks(win).values()
    assert _iou(mask, square) > 0.9
    assert win.session.undo_stack.count() == 1


def test_magic_wand_makes_adds_and_cuts(scene_window):
    win, drive, disc, square = scene_window
    drive.key(Qt.Key.Key_W)
    drive.click(60, 75)
    masks = _masks(win)
    (only,) = masks
    assert _iou(masks[only], disc) > 0.95
    drive.click(150, 70, Qt.KeyboardModifier.ControlModifier)  # Ctrl: the square joins it
    assert _iou(_masks(win)[only], disc | square) > 0.95
    drive.click(150, 70, Qt.KeyboardModifier.ShiftModifier)  # and is cut again
    assert _iou(_masks(win)[only], disc) > 0.95
    assert win.session.undo_stack.count() == 3 and list(_masks(win)) == [only]
    tolerance = win.options.wand_tolerance
    drive.key(Qt.Key.Key_BracketRight)
    assert win.options.wand_tolerance > tolerance


def test_the_wand_on_a_region_apart_from_the_selection_makes_a_new_instance(scene_window):
    """Issue 28, finding 9: a click on a pit grew the selected scratch, of another class,
    across the frame. Apart from the selection, the region is an object of its own, of the
    active class; Esc then clears the selection."""
    win, drive, disc, square = scene_window
    drive.key(Qt.Key.Key_W)
    drive.click(60, 75)
    (first,) = _masks(win)
    win.session.active_class_id = win.session.classes()[1].id
    drive.click(150, 70)  # the disc is still selected; the square does not touch it
    masks = _masks(win)
    assert len(masks) == 2 and _iou(masks[first], disc) > 0.95
    (second,) = set(masks) - {first}
    assert _iou(masks[second], square) > 0.95
    assert win.session.document.instance(second).class_id == win.session.classes()[1].id
    assert win.session.document.selected
    drive.key(Qt.Key.Key_Escape)
    assert win.session.document.selected == []


def test_changing_image_ends_a_tool_in_progress(qtbot, tmp_path):
    """An edge-outline anchor (or a polygon's first points) drew its wire across the next
    frame."""
    win = aimed_window(qtbot, make_project(tmp_path / "two", images=2, size=(W, H)))
    drive = Driver(win)
    drive.key(Qt.Key.Key_P)  # polygon
    drive.click(20, 20)
    drive.click(60, 20)
    tool = win.view.tool
    assert tool.points
    drive.key(Qt.Key.Key_D)  # next image
    assert not tool.points
    win.close()
    win.session.close()


def test_propagate_refits_the_previous_images_instances_keeping_track_ids(qtbot, tmp_path):
    from shapely.geometry import Point

    from isegui.core.project import Project
    from isegui.gui.app import open_window
    folder = make_project(tmp_path / "seq", images=2, size=(W, H))
    moved = np.zeros((H, W), np.uint8)
    for k, (cx, cy) in enumerate([(60, 75), (68, 79)]):  # the disc moves between frames
        image, _, _ = _scene()
        image[:, :100] = image[0, 0]  # the left half: background, then the disc
        cv2.circle(image, (cx, cy), 28, (200, 180, 60), -1)
        save_image(folder / f"images/img_{k}.png", image)
    cv2.circle(moved, (68, 79), 28, 1, -1)
    with Project.open(folder) as project:
        first = project.store.images()[0]
        project.store.add_instance(first.id, project.store.classes()[0].id,
                                   Point(60, 75).buffer(28), track_id=7)
    win = open_window(folder)
    qtbot.addWidget(win)
    win.show()
    win.images.step(+1)
    win.actions_by_name["propagate"].trigger()
    (inst,) = win.session.document.instances()
    assert inst.track_id == 7
    assert _iou(rasterize(inst.shape, H, W), moved > 0) > 0.9  # re-fitted, not copied
    assert _iou(rasterize(Point(60, 75).buffer(28), H, W), moved > 0) < 0.85
    assert win.session.undo_stack.count() == 1

    # with a click model, it answers: from the old outline and a click deep inside it
    asked = []

    def click_model(image, clicks, candidate):
        asked.append((clicks, candidate))
        return MaskWindow.trimmed(moved > 0)

    win.session.undo_stack.undo()
    win.assist.click_model = lambda: click_model
    win.actions_by_name["propagate"].trigger()
    (inst,) = win.session.document.instances()
    ((((x, y), positive),), candidate) = asked[0]
    assert positive and abs(x - 60) <= 2 and abs(y - 75) <= 2
    assert _iou(candidate.on((0, 0, W, H)), rasterize(Point(60, 75).buffer(28), H, W)) > 0.99
    assert _iou(rasterize(inst.shape, H, W), moved > 0) > 0.97
    win.close()
    win.session.close()


@pytest.mark.slow
def test_the_image_list_ranks_unlabeled_images_by_the_active_runs_doubt(qtbot, tmp_path):
    from isegui.cli import main
    from isegui.core.demo import create_demo_project
    from isegui.core.entities import ImageStatus
    from isegui.core.project import Project
    from isegui.gui.app import open_window
    folder = tmp_path / "demo"
    create_demo_project(folder, n_images=6, width=160, height=128).close()
    assert main(["train", str(folder), "--size", "128", "--epochs", "1", "--batch", "2",
                 "--max-steps", "2", "--device", "cpu", "--workers", "0"]) == 0
    with Project.open(folder) as project:
        unlabeled = project.store.images()[:3]
        for record in unlabeled:
            project.store.set_status(record.id, ImageStatus.UNLABELED)
    win = open_window(folder)
    qtbot.addWidget(win)
    win.show()
    panel = win.images
    panel.filter.setCurrentIndex(panel.filter_index(("suggest", None)))
    assert panel.suggester is not None and "Asking run 1" in panel.note.text()
    qtbot.waitUntil(lambda: panel.suggester is None, timeout=60_000)
    listed = panel.listed_ids()
    assert sorted(listed) == sorted(r.id for r in unlabeled)  # only the unlabeled ones
    values = [panel._uncertainty[i] for i in listed]
    assert values == sorted(values, reverse=True) and all(0 <= v <= 2 for v in values)
    assert all("unsure" in panel.list.item(k).text() for k in range(panel.list.count()))
    assert "Least sure first" in panel.note.text()
    win.close()
    win.session.close()



def test_the_image_filter_stays_when_the_classes_change(scene_window):
    win, drive, disc, square = scene_window
    panel = win.images
    only_unlabeled = panel.filter_index(("state", "unlabeled"))
    panel.filter.setCurrentIndex(only_unlabeled)
    win.session.add_class("scratch")
    assert panel.filter.currentIndex() == only_unlabeled


def test_the_click_tool_asks_the_projects_click_model_and_reads_it_again_when_retrained(
        scene_window, qtbot):
    from isegui.ml.click.model_file import ClickModelInfo, click_model_path, save_click_model
    from isegui.ml.click.net import ClickNet
    win, drive, disc, square = scene_window
    path = click_model_path(win.session.project.folder)
    save_click_model(path, ClickNet(), ClickModelInfo(first_side=80.0))
    drive.key(Qt.Key.Key_I)  # picking the tool starts reading it, off the window's thread
    assist = win.view.tool.ctx.assist
    qtbot.waitUntil(lambda: assist.click_model() is not None, timeout=20000)
    assert assist.click_model().__self__.info.first_side == 80.0
    drive.click(60, 75)
    session = win.view.tool.outlining
    assert session.click_model.__self__.info.first_side == 80.0
    drive.key(Qt.Key.Key_Escape)
    save_click_model(path, ClickNet(), ClickModelInfo(first_side=50.0))  # trained again
    import os
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert assist.click_model() is None  # the new one is being read
    qtbot.waitUntil(lambda: assist.click_model() is not None, timeout=20000)
    assert assist.click_model().__self__.info.first_side == 50.0


def test_each_instance_added_with_a_tool_is_logged_and_the_measure_panel_says_the_cost(
        scene_window):
    from isegui.core.labeling_log import read_entries
    win, drive, disc, square = scene_window
    drive.key(Qt.Key.Key_I)
    drive.click(60, 75)
    _press(drive, 40, 75, Qt.MouseButton.RightButton)
    drive.key(Qt.Key.Key_Return)
    drive.key(Qt.Key.Key_P)
    for x, y in ((125, 45), (175, 45), (175, 95), (125, 95)):
        drive.click(x, y)
    drive.key(Qt.Key.Key_Return)
    click, polygon = read_entries(win.session.project.folder)
    assert (click.tool, click.clicks, polygon.tool, polygon.clicks) == \
        ("click", 2, "polygon", 4)
    assert [p for _, _, p in click.points] == [True, False]
    assert click.image_id == polygon.image_id == win.session.document.image_id
    win.docks["measure"].raise_()
    win.docks["measure"].show()
    text = win.measure.effort.text()
    assert "click 2.0 clicks" in text and "polygon 4.0 clicks" in text
